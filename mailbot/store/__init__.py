"""What mailbot remembers: the only package that speaks SQL."""

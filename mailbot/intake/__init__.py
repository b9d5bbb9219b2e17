"""The intake: one mail through the checks to a verdict, and the cycle around it."""

"""A campaign as data: its rules, which mail is its, its units, their dossiers and reminders."""

"""`python -m mailbot` runs the same command line as the `mailbot` console script."""

from mailbot.cli.main import app

app()

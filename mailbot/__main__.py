"""`python -m mailbot` runs the same command line as the `mailbot` console script."""

from mailbot.cli.main import app

if __name__ == "__main__":  # not when a helper process (intake.parseahead) imports it
    app()

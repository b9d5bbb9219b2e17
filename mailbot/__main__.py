"""`python -m mailbot` runs the same command line as the `mailbot` console script."""

from mailbot.cli.main import app

if __name__ == "__main__":  # not when imported (a multiprocessing child, a tool)
    app()

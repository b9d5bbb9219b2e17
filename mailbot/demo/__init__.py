"""The demo and its builders (also the tests'): sample forms, mail, a mail server."""

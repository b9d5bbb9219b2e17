"""Entry points: the command line, the service and its schedule."""

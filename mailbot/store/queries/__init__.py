"""Every statement mailbot runs, grouped by who asks: the intake, the exports, the dashboard.

The functions take a `Session` (see `store.handles`) and return rows or plain values; they are the
only place outside the models and migrations where SQL is written.
"""

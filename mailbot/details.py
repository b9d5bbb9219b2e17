"""The state directory's log file, `mailbot.log` (0600): the details behind one-line messages.

An expected outcome (a mail quarantined) is ONE line in the log the operator watches; the
traceback a developer needs goes here, appended with the time, readable by the owner only (it
quotes applicants' mail). Writing it never fails the caller: the one line has been logged anyway.
"""

from __future__ import annotations

import os
import traceback
from pathlib import Path

from mailbot.timefmt import show, utcnow

LOG_FILE = "mailbot.log"


def keep(state_dir: Path, summary: str, error: BaseException | None = None) -> str:
    """Append `summary` and the traceback of `error` to state/mailbot.log; returns its path."""
    path = state_dir / LOG_FILE
    text = f"{show(utcnow())} {summary}\n"
    if error is not None:
        text += "".join(traceback.format_exception(error))
    try:
        handle = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.fchmod(handle, 0o600)  # made by an older version, or restored, more open
            os.write(handle, text.encode("utf-8", "replace"))
        finally:
            os.close(handle)
    except OSError:
        pass  # a full disk says so elsewhere; the one line is already in the log
    return str(path)

"""Write a file so that no reader ever sees half of it: a temporary file beside it, renamed over.

Used for what the office downloads or prints from disk (the official form, the PDF bundle); a
disk that is full or read-only is one StateError naming the path, never a traceback.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from mailbot.errors import StateError


def write_bytes(path: Path, content: bytes) -> Path:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=path.suffix,
                                             dir=path.parent)
    except OSError as exc:
        raise StateError(f"无法写入 {path}：{exc.strerror or exc}") from exc
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(content)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except OSError as exc:
        Path(temporary).unlink(missing_ok=True)
        raise StateError(f"无法写入 {path}：{exc.strerror or exc}") from exc
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path

"""What a test needs from the machine, and the one rule for when it is missing.

`make test` installs every Debian package the suite uses (as root). Where that could not happen
a test skips with the reason shown — but under CI (`CI=true`) it fails: CI must never pass by
silently skipping the tests that matter most.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest

MISSING_SOFFICE = ("LibreOffice is not installed: run `make test` as root, which installs "
                   "libreoffice-writer-nogui and libreoffice-calc-nogui "
                   "(scripts/install-test-deps.sh)")


def unavailable(reason: str) -> NoReturn:
    """Skip the test for `reason` — or, under CI, fail it."""
    if os.environ.get("CI", "").lower() in ("true", "1", "yes"):
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)

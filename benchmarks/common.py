"""What the benchmarks share: the test servers, the environment of a `mailbot` child process,
peak memory as the kernel counts it, and a plain table."""

from __future__ import annotations

import inspect
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # tests/servers.py: the private Dovecot and SMTP relay

if TYPE_CHECKING:
    from servers import Dovecot, SmtpRelay

OFFICE = "office@bench.example"

def peak_rss_mb() -> float:
    """Peak resident memory of this process, in MB (MiB), as the kernel counts it.

    VmHWM, not getrusage's ru_maxrss: Linux carries ru_maxrss over an exec, so a child started
    by a big parent reports the parent's memory as its own (the first backfill figures, 251 MB
    for a poll that peaks near 110 MB, were the benchmark's own mails in its parent)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# For a child started with `python -c`: defines peak_rss_mb() there too.
PEAK_RSS_SNIPPET = inspect.getsource(peak_rss_mb)


def mailbot_env(dovecot: Dovecot, relay: SmtpRelay | None, state: Path | str,
                **extra: str) -> dict[str, str]:
    """The environment of a `mailbot` child process pointed at the test servers; no MAILBOT_*
    of the caller's own leaks in. Without a relay, replies have nowhere to go and stay queued."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILBOT_")}
    env.update({
        "MAILBOT_IMAP_HOST": dovecot.host, "MAILBOT_IMAP_PORT": str(dovecot.imap_port),
        "MAILBOT_IMAP_USER": OFFICE, "MAILBOT_IMAP_PASSWORD": dovecot.password,
        "MAILBOT_IMAP_SECURITY": "none", "MAILBOT_FROM": OFFICE, "MAILBOT_STATE_DIR": str(state),
        "MAILBOT_SMTP_HOST": dovecot.host, "MAILBOT_SMTP_SECURITY": "none",
        # Port 9 (discard) is closed on loopback: connection refused at once.
        "MAILBOT_SMTP_PORT": str(relay.port) if relay is not None else "9",
    })
    env.update(extra)
    return env


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Columns padded to their widest cell (East Asian wide characters count two)."""
    def width(text: str) -> int:
        import unicodedata
        return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)

    cells = [[str(c) for c in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(width(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(c + " " * (w - width(c)) for c, w in zip(row, widths, strict=True))
             .rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def __getattr__(name: str) -> Any:
    # The test servers are imported by the benchmarks that start them only: a child measuring
    # its own memory (workbook_export) should not carry aiosmtpd and the rest.
    if name in ("Dovecot", "SmtpRelay"):
        import servers
        return getattr(servers, name)
    raise AttributeError(name)


__all__ = ["OFFICE", "PEAK_RSS_SNIPPET", "ROOT", "Dovecot", "SmtpRelay", "mailbot_env",
           "peak_rss_mb", "table"]

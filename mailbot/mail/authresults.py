"""What the receiving server says about a mail's sender: `Authentication-Results` (RFC 8601).

Pure functions. `parse` reads one header value: the authserv-id, an optional version, then
`; method[/version]=result [reason=…] [ptype.property=value …]` clauses, with comments in
parentheses (nested, escaped) anywhere, quoted strings, and folded lines. Microsoft 365 omits
the authserv-id; a first clause that reads as a result is taken as one.

`verdict` picks the header that counts — the one carrying our own `authserv_id`, or, when that is
not configured, the topmost one (the last server to add one is ours) — and says whether the mail
failed sender authentication: `dmarc=fail`, or `spf=fail` without any `dkim=pass`. Any header
below ours was written by someone else, the sender included, and decides nothing.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

_METHOD = re.compile(r"\s*([A-Za-z0-9][A-Za-z0-9_.\-]*)\s*(?:/\s*\d+\s*)?=\s*([A-Za-z0-9_\-]+)")
_PROPERTY = re.compile(r'\s*([A-Za-z0-9_.\-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^\s";]+)')


@dataclass(frozen=True)
class Result:
    method: str  # lower-case: spf, dkim, dmarc, arc…
    result: str  # lower-case: pass, fail, softfail, none…
    properties: tuple[tuple[str, str], ...] = ()  # (lower-case name, value), reason included


@dataclass(frozen=True)
class AuthResults:
    authserv_id: str  # lower-case; "" when the header names none
    results: tuple[Result, ...] = field(default_factory=tuple)

    def results_of(self, method: str) -> list[str]:
        return [r.result for r in self.results if r.method == method]


@dataclass(frozen=True)
class Verdict:
    failed: bool
    authserv_id: str
    summary: str  # "dmarc=fail, spf=fail, dkim=none": what the office is shown


def parse(value: str) -> AuthResults:
    """One header value, unfolded or not. Never raises: what cannot be read is left out."""
    text = _strip_comments(re.sub(r"\r?\n(?=[ \t])", "", value))
    clauses = _split(text)
    head = clauses[0] if clauses else ""
    authserv_id, rest = "", clauses[1:]
    if _METHOD.match(head) and not _looks_like_id(head):
        rest = clauses  # Microsoft 365: no authserv-id, the first clause is a result
    else:
        words = head.split()
        authserv_id = _unquote(words[0]).lower() if words else ""
    results = tuple(found for clause in rest if (found := _result(clause)) is not None)
    return AuthResults(authserv_id, results)


def verdict(values: Sequence[str], authserv_id: str = "") -> Verdict | None:
    """The verdict of the header that counts among `values` (topmost first), or None when no
    header counts (none at all, or none from our own server when `authserv_id` is set)."""
    parsed = [parse(v) for v in values]
    wanted = authserv_id.strip().lower()
    chosen = next((p for p in parsed if p.authserv_id == wanted), None) if wanted else (
        parsed[0] if parsed else None)
    if chosen is None:
        return None
    dmarc, spf, dkim = (chosen.results_of(m) for m in ("dmarc", "spf", "dkim"))
    failed = "fail" in dmarc or ("fail" in spf and "pass" not in dkim)
    summary = ", ".join(f"{r.method}={r.result}" for r in chosen.results
                        if r.method in ("dmarc", "spf", "dkim")) or "无结果"
    return Verdict(failed, chosen.authserv_id, summary)


def _looks_like_id(head: str) -> bool:
    """`mx.example.com 1` or `mx.example.com` versus `spf=pass smtp.mailfrom=…`."""
    first = head.split()[0] if head.split() else ""
    return "=" not in first


def _result(clause: str) -> Result | None:
    found = _METHOD.match(clause)
    if found is None:
        return None  # `none`, or something unreadable
    properties = tuple((name.lower(), _unquote(value))
                       for name, value in _PROPERTY.findall(clause[found.end():]))
    return Result(found.group(1).lower(), found.group(2).lower(), properties)


def _strip_comments(text: str) -> str:
    """Comments (nested, with backslash escapes) become one space; quoted strings are kept."""
    out: list[str] = []
    depth, quoted, escaped = 0, False, False
    for char in text:
        if escaped:
            escaped = False
            if depth == 0:
                out.append(char)
            continue
        if char == "\\" and (quoted or depth):
            escaped = True
            if depth == 0:
                out.append(char)
        elif depth == 0 and char == '"':
            quoted = not quoted
            out.append(char)
        elif not quoted and char == "(":
            depth += 1
        elif not quoted and char == ")" and depth:
            depth -= 1
            if depth == 0:
                out.append(" ")
        elif depth == 0:
            out.append(char)
    return "".join(out)


def _split(text: str) -> list[str]:
    """Split at `;` outside quoted strings."""
    clauses: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for char in text:
        if escaped:
            escaped = False
        elif char == "\\" and quoted:
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == ";" and not quoted:
            clauses.append("".join(current).strip())
            current = []
            continue
        current.append(char)
    clauses.append("".join(current).strip())
    return clauses


def _unquote(value: str) -> str:
    if len(value) >= 2 and value.startswith('"') and value.endswith('"'):
        return re.sub(r"\\(.)", r"\1", value[1:-1])
    return value

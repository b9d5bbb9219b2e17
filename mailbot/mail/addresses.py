"""One mailbox, however its address is spelled: what the reply limits count and replies go to.

`"victim"@x.test`, `"v\\ictim"@x.test`, `VICTIM@X.TEST` and `victim@x.test.` are one mailbox. The
normal form, decided once here:

* the local part is unquoted and unescaped, NFC-normalised and **lower-cased**. RFC 5321 lets a
  server treat `Victim` and `victim` as two mailboxes, but no mail system our units use does, and
  counting them apart would hand an attacker a fresh hourly allowance per spelling. mailbot has
  always answered the lower-cased address, so replies keep going where they went;
* the domain is IDNA-encoded (`例子.中国` → `xn--fsqu00a.xn--fiqs8s`, full-width dots
  included), lower-case, without a trailing dot: what DNS and the SMTP envelope need;
* the address is written back quoted only where the local part needs it (`"john doe"@x.test`).

A non-ASCII local part (`测试@example.test`, RFC 6531) stays as it is: it can only be sent to a
server that offers SMTPUTF8 (`Mailbox.needs_smtputf8`).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~\-\u0080-\U0010ffff]"
_DOT_ATOM = re.compile(rf"{_ATEXT}+(?:\.{_ATEXT}+)*")
_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_\-]{0,61}[a-z0-9_])?")
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]")
MAX_LOCAL = 64  # RFC 5321 4.5.3.1.1 (octets; we count characters, which is never stricter)
MAX_ADDRESS = 254


@dataclass(frozen=True)
class Mailbox:
    local: str  # unquoted, unescaped, lower-case
    domain: str  # ASCII (IDNA), lower-case, or a [domain literal]

    @property
    def address(self) -> str:
        """The address to write: in the envelope, in `To:`, and what the limits count."""
        local = self.local if _DOT_ATOM.fullmatch(self.local) else _quote(self.local)
        return f"{local}@{self.domain}"

    @property
    def needs_smtputf8(self) -> bool:
        return not self.local.isascii()

    def __str__(self) -> str:
        return self.address


def normalise(address: str) -> Mailbox | None:
    """The one mailbox `address` names (a bare address, `<…>` allowed), or None if it names
    none that mail could be sent to."""
    text = address.strip()
    if text.startswith("<") and text.endswith(">"):
        text = text[1:-1].strip()
    if not text or _CONTROL.search(text):
        return None
    split = _split(text)
    if split is None:
        return None
    local, domain = split
    local = unicodedata.normalize("NFC", local).lower()
    ascii_domain = _domain(domain)
    if not local or len(local) > MAX_LOCAL or ascii_domain is None:
        return None
    mailbox = Mailbox(local, ascii_domain)
    return mailbox if len(mailbox.address.encode("utf-8")) <= MAX_ADDRESS else None


def key(address: str) -> str:
    """What the limits count: the normal form, or the text lower-cased if it is no mailbox."""
    mailbox = normalise(address)
    return mailbox.address if mailbox is not None else address.strip().lower()


def _split(text: str) -> tuple[str, str] | None:
    """(local part unquoted and unescaped, domain) at the `@` outside quotes."""
    local: list[str] = []
    quoted = escaped = False
    for position, char in enumerate(text):
        if escaped:
            local.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == "@" and not quoted:
            return "".join(local), text[position + 1:]
        else:
            local.append(char)
    return None


def _domain(domain: str) -> str | None:
    domain = domain.strip()
    if domain.startswith("[") and domain.endswith("]"):
        return domain.lower() if re.fullmatch(r"\[[A-Za-z0-9.:\-]+\]", domain) else None
    # Full-width and ideographic dots are dots (the IDNA codec would take them too).
    domain = re.sub("[\u3002\uff0e\uff61]", ".", domain).rstrip(".")
    if not domain or ".." in domain or "@" in domain or '"' in domain:
        return None
    try:
        encoded = domain.encode("idna").decode("ascii").lower()
    except UnicodeError:  # an empty or over-long label, a character IDNA forbids
        return None
    if not all(_LABEL.fullmatch(label) for label in encoded.split(".")):
        return None
    return encoded


def _quote(local: str) -> str:
    return '"' + local.replace("\\", "\\\\").replace('"', '\\"') + '"'

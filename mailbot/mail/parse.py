"""The parsed mail: headers decoded, body text, attachments with their real formats.

`parse_message` reads raw RFC 5322 bytes with the stdlib parser under ``policy.compat32``:
it is the policy that never raises on bad headers and keeps raw 8-bit bytes recoverable
(as surrogate escapes), which the Chinese charset rules in `mailbot.mail.filenames` need. The
modern policies "repair" headers and turn undecodable bytes into U+FFFD before we see them.

Nothing in here raises on bad mail: what cannot be decoded is decoded as far as it goes and
written down in `defects` for the office.
"""

from __future__ import annotations

import binascii
import email
import hashlib
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.generator import BytesGenerator
from email.message import Message
from email.policy import compat32
from email.utils import getaddresses, parsedate_to_datetime
from urllib.parse import unquote

from mailbot.errors import MailbotError
from mailbot.findings import Finding
from mailbot.mail.automatic import automatic_reason, reply_suppressed
from mailbot.mail.charsets import decode_bytes
from mailbot.mail.containers import open_containers
from mailbot.mail.filenames import (
    attachment_filename,
    codec_for,
    decode_8bit,
    decode_header_text,
    raw_header,
)
from mailbot.mail.htmltext import html_to_text
from mailbot.mail.mimetree import Leaf, declared_charsets, note_defects, role, walk
from mailbot.mail.safemail import ENCRYPTED, first_message_id, made_safe
from mailbot.mail.sniff import detect_format

# Byte sets for our base64 decoder, used with bytes.translate: one pass in C over what may be
# tens of megabytes, where a regular expression took several and a copy each time.
_BASE64_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_BASE64_TEXT = _BASE64_ALPHABET + b"= \t\n\r\f\v"  # what a base64 body may hold
_NOT_BASE64_OR_PAD = bytes(b for b in range(256) if b not in _BASE64_ALPHABET + b"=")
_CRLF = compat32.clone(linesep="\r\n", max_line_length=0)  # as it came: no refolding


@dataclass(frozen=True)
class Attachment:
    filename: str  # exactly as the sender named it, decoded ("" if unnamed)
    content_type: str  # declared, lowercased, e.g. "application/octet-stream"
    data: bytes
    format: str  # sniff.detect_format(data, filename)
    source: str = ""  # inside a container: "材料.zip/计算机学院/附件1.docx"; else ""


@dataclass(frozen=True)
class ParsedMessage:
    message_id: str  # with angle brackets; "<sha256-of-raw@mailbot.invalid>" when missing
    subject: str
    from_addr: str  # bare address, lowercased ("" if none)
    from_name: str
    reply_to: str  # bare address to answer: Reply-To if present else from_addr
    date_header: datetime | None  # informational only: lateness uses INTERNALDATE
    in_reply_to: str | None
    references: tuple[str, ...]
    body_text: str
    attachments: tuple[Attachment, ...]
    automatic: str | None
    defects: tuple[str, ...]
    findings: tuple[Finding, ...] = ()  # containers that could not be opened (rar, zip bomb…)
    unprocessable: str | None = None  # why the mail must go to a person (隔离), in Chinese
    no_reply: str | None = None  # a person's mail that asks not to be auto-answered: why


# Why a mail without any sender address cannot be processed on its own (the office may still
# assign it to a unit: mailbot.intake.assignment).
NO_SENDER = "找不到发件人地址：无法确定申报单位，也无法回复"


class BrokenMail(MailbotError):
    """A mail that cannot be processed; `str()` is the reason, in Chinese, for the office."""


def parse_message(raw: bytes, own_addresses: Iterable[str] = ()) -> ParsedMessage:
    """Parse raw mail bytes. Never raises: problems end up in `ParsedMessage.defects`.

    Every text field of the result is safe (`mailbot.mail.safemail.made_safe`): valid Unicode,
    header values on one line and bounded, Message-IDs printable ASCII."""
    own = tuple(own_addresses)
    try:
        return made_safe(_parse(raw, own))
    except Exception as exc:
        return made_safe(ParsedMessage(
            message_id=_fallback_id(raw), subject="", from_addr="", from_name="", reply_to="",
            date_header=None, in_reply_to=None, references=(), body_text="", attachments=(),
            automatic=None, defects=(f"邮件无法解析：{type(exc).__name__}: {exc}",),
            unprocessable=f"邮件结构无法解析（{type(exc).__name__}: {exc}）",
        ))


def _parse(raw: bytes, own: tuple[str, ...]) -> ParsedMessage:
    msg = email.message_from_bytes(raw, policy=compat32)
    defects: list[str] = []
    leaves: list[Leaf] = []
    walk(msg, leaves, defects, depth=0, nested=False)
    declared = declared_charsets(leaves)

    attachments, bodies, findings = _contents(leaves, defects, declared)

    subject_raw = raw_header(msg, "Subject") or ""
    from_raw = raw_header(msg, "From") or ""
    for label, value in (("主题", subject_raw), ("发件人", from_raw)):
        if re.search("[\udc80-\udcff]", value):
            defects.append(f"{label}含未编码的 8 位字节，已按邮件声明的字符集或 UTF-8/GB18030 解码")
    from_name, from_addr = _first_address(from_raw, declared)
    _, reply_addr = _first_address(raw_header(msg, "Reply-To") or "", declared)
    message_id = first_message_id(raw_header(msg, "Message-ID"))
    if message_id is None:
        defects.append("缺少 Message-ID，已按邮件内容生成")
        message_id = _fallback_id(raw)
    automatic = automatic_reason(msg, own)
    unprocessable = None
    if not from_addr and not reply_addr:
        unprocessable = NO_SENDER

    return ParsedMessage(
        message_id=message_id,
        subject=decode_header_text(subject_raw, declared).strip(),
        from_addr=from_addr,
        from_name=from_name,
        reply_to=reply_addr or from_addr,
        date_header=_date(raw_header(msg, "Date")),
        in_reply_to=first_message_id(raw_header(msg, "In-Reply-To")),
        references=tuple(re.findall(r"<[^<>\s]+>", raw_header(msg, "References") or "")),
        body_text=_body_text(bodies),
        attachments=tuple(attachments),
        automatic=automatic,
        defects=tuple(dict.fromkeys(defects)),  # one line per distinct problem, in order
        findings=tuple(findings),
        unprocessable=unprocessable,
        no_reply=None if automatic else reply_suppressed(msg),
    )


def _contents(leaves: list[Leaf], defects: list[str], declared: list[str],
              ) -> tuple[list[Attachment], list[tuple[Leaf, str]], list[Finding]]:
    """The attachments (containers opened), the body texts and the findings of the leaves."""
    # Body texts first: the HTML bodies say which inline images are only decoration.
    texts = {
        id(leaf): _text_of(leaf, defects, declared)
        for leaf in leaves
        if leaf.as_text or (role(leaf.part, set()) == "body" and not leaf.whole)
    }
    html_cids = {
        unquote(cid).lower()
        for leaf in leaves
        if leaf.part.get_content_type() == "text/html" and id(leaf) in texts
        for cid in re.findall(r"cid:([^\"'\s>)]+)", texts[id(leaf)], re.IGNORECASE)
    }

    attachments: list[Attachment] = []
    bodies: list[tuple[Leaf, str]] = []
    encrypted: list[Finding] = []
    for leaf in leaves:
        kind = "body" if leaf.as_text else role(leaf.part, html_cids)
        if leaf.encrypted:
            encrypted = [ENCRYPTED]
        elif leaf.whole:
            attachments.append(_attachment(leaf.part, defects, declared, whole=True))
        elif kind == "attachment":
            attachments.append(_attachment(leaf.part, defects, declared))
        elif kind == "body":
            bodies.append((leaf, texts.get(id(leaf), "")))
    attachments, findings = open_containers(attachments)
    return attachments, bodies, [*encrypted, *findings]


def _payload(part: Message, where: str, defects: list[str]) -> bytes:
    cte = (raw_header(part, "Content-Transfer-Encoding") or "").strip().lower()
    if cte == "base64":
        # Our own decoder: the stdlib returns the *encoded* text when the length is wrong.
        encoded = part.get_payload()
        if not isinstance(encoded, str):
            return b""
        data = encoded.encode("ascii", errors="ignore")
        if data.translate(None, _BASE64_TEXT):  # anything left is not base64
            defects.append(f"{where}：base64 编码含非法字符，已跳过")
        data = data.translate(None, _NOT_BASE64_OR_PAD)
        if len(data) % 4:
            defects.append(f"{where}：base64 编码长度不正确，数据可能被截断")
        data = data.replace(b"=", b"")  # padding is recomputed below
        if len(data) % 4 == 1:
            data = data[:-1]
        return binascii.a2b_base64(data + b"=" * (-len(data) % 4))
    if cte not in ("", "7bit", "8bit", "binary", "quoted-printable") and "uu" not in cte:
        defects.append(f"{where}：未知的传输编码 {cte}，按原样读取")
    known = len(part.defects)  # those were reported by _walk already
    decoded = part.get_payload(decode=True)
    note_defects(part.defects[known:], where, defects)
    return decoded if isinstance(decoded, bytes) else b""


def _attachment(part: Message, defects: list[str], declared: list[str],
                whole: bool = False) -> Attachment:
    name = attachment_filename(part, declared)
    where = f"附件“{name or '未命名'}”"
    data = _message_bytes(part) if whole else _payload(part, where, defects)
    return Attachment(name, part.get_content_type(), data, detect_format(data, name))


def _message_bytes(part: Message) -> bytes:
    """An attached mail's bytes as it arrived (compat32 regenerates an untouched message
    byte for byte, raw 8-bit bytes included)."""
    out = io.BytesIO()
    for inner in part.get_payload():
        if isinstance(inner, Message):
            BytesGenerator(out, mangle_from_=False, policy=_CRLF).flatten(inner)
    return out.getvalue()


def _text_of(leaf: Leaf, defects: list[str], declared: list[str]) -> str:
    ctype = leaf.part.get_content_type()
    data = _payload(leaf.part, f"{ctype} 正文", defects)
    label = leaf.part.get_content_charset()
    codec = codec_for(label)
    if label and codec is None:
        defects.append(f"{ctype} 正文：字符集 {label} 无法识别，已按 UTF-8/GB18030 猜测解码")
    elif codec and not _decodes(data, codec):
        defects.append(f"{ctype} 正文：内容不是声明的 {label} 编码，已按 UTF-8/GB18030 猜测解码")
    return decode_bytes(data, codec, declared).replace("\r\n", "\n").replace("\r", "\n")


def _decodes(data: bytes, codec: str) -> bool:
    try:
        data.decode(codec)
    except UnicodeDecodeError:
        return False
    return True


def _body_text(bodies: list[tuple[Leaf, str]]) -> str:
    """Plain text parts (Apple Mail splits the body around attachments: join them), else HTML.

    Forwarded messages' bodies are used only when the mail itself has no text.
    """
    for nested in (False, True):
        chosen = [(leaf, text) for leaf, text in bodies if leaf.nested == nested]
        plain = [text for leaf, text in chosen if leaf.part.get_content_type() != "text/html"]
        if any(t.strip() for t in plain):
            return "\n".join(t.strip("\n") for t in plain if t.strip()).strip()
        html = [
            html_to_text(text)
            for leaf, text in chosen
            if leaf.part.get_content_type() == "text/html"
        ]
        if any(t.strip() for t in html):
            return "\n".join(t for t in html if t.strip()).strip()
    return ""


def _first_address(value: str, declared: list[str]) -> tuple[str, str]:
    """(decoded display name, bare lowercased address) of the first address in a header."""
    if not value.strip():
        return "", ""
    for name, addr in getaddresses([decode_8bit(value, declared)]):
        if "@" in addr:
            return decode_header_text(name, declared).strip(), addr.strip().lower()
    found = re.search(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+", value)
    return "", found.group(0).lower() if found else ""


def _fallback_id(raw: bytes) -> str:
    return f"<{hashlib.sha256(raw).hexdigest()}@mailbot.invalid>"


def _date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(decode_header_text(value).strip())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    # "-0000" means "zone unknown" (RFC 5322 §3.3); UTC is the honest reading.
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)

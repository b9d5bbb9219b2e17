"""The parsed mail: headers decoded, body text, attachments with their real formats.

`parse_message` reads raw RFC 5322 bytes with the stdlib parser under ``policy.compat32``:
it is the policy that never raises on bad headers and keeps raw 8-bit bytes recoverable
(as surrogate escapes), which the Chinese charset rules in `mailbot.filenames` need. The
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

from mailbot.automatic import automatic_reason, reply_suppressed
from mailbot.charsets import decode_bytes
from mailbot.containers import open_containers
from mailbot.errors import MailbotError
from mailbot.filenames import (
    attachment_filename,
    codec_for,
    decode_8bit,
    decode_header_text,
    raw_header,
)
from mailbot.findings import Finding
from mailbot.htmltext import html_to_text
from mailbot.safemail import ENCRYPTED, first_message_id, made_safe
from mailbot.sniff import detect_format

_CRLF = compat32.clone(linesep="\r\n", max_line_length=0)  # as it came: no refolding
MAX_DEPTH = 12  # forwarded-in-forwarded mail nests a few levels; hostile mail nests thousands

# The stdlib's defect classes, said so that the office understands them.
_DEFECTS = {
    "StartBoundaryNotFoundDefect": "找不到声明的分界线（boundary），结构可能已损坏",
    "CloseBoundaryNotFoundDefect": "缺少结束分界线，邮件可能被截断",
    "FirstHeaderLineIsContinuationDefect": "第一行头字段是续行",
    "MisplacedEnvelopeHeaderDefect": "头字段中夹有信封行（From ）",
    "MissingHeaderBodySeparatorDefect": "头字段与正文之间缺少空行",
    "MalformedHeaderDefect": "头字段格式错误",
    "MultipartInvariantViolationDefect": "声明为 multipart，内容却不是多部分结构",
    "InvalidMultipartContentTransferEncodingDefect": "multipart 部分声明了无效的传输编码",
    "NoBoundaryInMultipartDefect": "multipart 缺少 boundary 参数",
    "InvalidBase64PaddingDefect": "base64 编码填充不正确",
    "InvalidBase64CharactersDefect": "base64 编码含非法字符",
    "InvalidBase64LengthDefect": "base64 编码长度不正确，数据可能被截断",
}
# Byte sets for our base64 decoder, used with bytes.translate: one pass in C over what may be
# tens of megabytes, where a regular expression took several and a copy each time.
_BASE64_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_BASE64_TEXT = _BASE64_ALPHABET + b"= \t\n\r\f\v"  # what a base64 body may hold
_NOT_BASE64_OR_PAD = bytes(b for b in range(256) if b not in _BASE64_ALPHABET + b"=")
# Parts that belong to the mail's machinery, not to the sender's files.
_SIGNATURE_TYPES = frozenset(
    ("application/pkcs7-signature", "application/x-pkcs7-signature", "application/pgp-signature",
     "application/pgp-encrypted")  # PGP/MIME's "Version: 1" control part of an encrypted mail
)
_MESSAGE_TYPES = ("message/rfc822", "message/global")


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


class BrokenMail(MailbotError):
    """A mail that cannot be processed; `str()` is the reason, in Chinese, for the office."""


@dataclass
class _Leaf:
    part: Message
    nested: bool  # inside a forwarded message/rfc822
    as_text: bool = False  # a "multipart" we could not split: read it as text
    whole: bool = False  # an attached mail holding no files: the attachment is the mail itself
    encrypted: bool = False  # PGP/MIME or S/MIME encrypted content: nothing inside is readable


def parse_message(raw: bytes, own_addresses: Iterable[str] = ()) -> ParsedMessage:
    """Parse raw mail bytes. Never raises: problems end up in `ParsedMessage.defects`.

    Every text field of the result is safe (`mailbot.safemail.made_safe`): valid Unicode,
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
    leaves: list[_Leaf] = []
    _walk(msg, leaves, defects, depth=0, nested=False)
    declared = _declared_charsets(leaves)

    # Body texts first: the HTML bodies say which inline images are only decoration.
    texts = {
        id(leaf): _text_of(leaf, defects, declared)
        for leaf in leaves
        if leaf.as_text or (_role(leaf.part, set()) == "body" and not leaf.whole)
    }
    html_cids = {
        unquote(cid).lower()
        for leaf in leaves
        if leaf.part.get_content_type() == "text/html" and id(leaf) in texts
        for cid in re.findall(r"cid:([^\"'\s>)]+)", texts[id(leaf)], re.IGNORECASE)
    }

    attachments: list[Attachment] = []
    bodies: list[tuple[_Leaf, str]] = []
    encrypted: list[Finding] = []
    for leaf in leaves:
        role = "body" if leaf.as_text else _role(leaf.part, html_cids)
        if leaf.encrypted:
            encrypted = [ENCRYPTED]
        elif leaf.whole:
            attachments.append(_attachment(leaf.part, defects, declared, whole=True))
        elif role == "attachment":
            attachments.append(_attachment(leaf.part, defects, declared))
        elif role == "body":
            bodies.append((leaf, texts.get(id(leaf), "")))
    attachments, findings = open_containers(attachments)
    findings[:0] = encrypted

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
        unprocessable = "找不到发件人地址：无法确定申报单位，也无法回复"

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


def _walk(part: Message, out: list[_Leaf], defects: list[str], depth: int, nested: bool) -> None:
    ctype = part.get_content_type()
    _note(part.defects, "邮件头" if depth == 0 else f"{ctype} 部分", defects)
    if depth > MAX_DEPTH:
        defects.append("MIME 嵌套过深，更深的部分未解析")
        return
    if _is_encrypted(part, ctype):
        out.append(_Leaf(part, nested, encrypted=True))
        return
    if part.is_multipart():
        inner = nested or ctype in _MESSAGE_TYPES
        first = len(out)
        for sub in part.get_payload():
            if isinstance(sub, Message):
                _walk(sub, out, defects, depth + 1, inner)
        if (ctype in _MESSAGE_TYPES and attachment_filename(part)
                and not any(leaf.whole or leaf.encrypted or _role(leaf.part, set()) == "attachment"
                            for leaf in out[first:])):
            # A mail attached under a file's name ("Contract 25 04 2020.docx") that holds no
            # files: what arrived is that mail, and the reply names it as such.
            del out[first:]
            out.append(_Leaf(part, nested, whole=True))
        return
    if part.get_content_maintype() == "multipart":
        salvaged = _salvage(part)
        if salvaged is not None:
            defects.append(f"{ctype} 的分界线与声明不符，已按正文中实际的分界线解析")
            for sub in salvaged.get_payload():
                if isinstance(sub, Message):
                    _walk(sub, out, defects, depth + 1, nested)
            return
        out.append(_Leaf(part, nested, as_text=True))
        return
    out.append(_Leaf(part, nested))


def _is_encrypted(part: Message, ctype: str) -> bool:
    if ctype == "multipart/encrypted":
        return True
    if ctype in ("application/pkcs7-mime", "application/x-pkcs7-mime"):
        kind = str(part.get_param("smime-type") or "").lower()
        name = attachment_filename(part).lower()
        return kind in ("enveloped-data", "authenveloped-data") or (not kind
                                                                  and name == "smime.p7m")
    return False


def _declared_charsets(leaves: list[_Leaf]) -> list[str]:
    """The trusted codecs the mail's parts declare, most used first: the best guess for
    header text and file names written as raw 8-bit bytes without any label."""
    found = [codec_for(leaf.part.get_content_charset()) for leaf in leaves]
    counts = {codec: found.count(codec) for codec in found if codec}
    return sorted(counts, key=lambda codec: -counts[codec])


def _salvage(part: Message) -> Message | None:
    """Re-split a multipart whose declared boundary is wrong or missing, using the real one."""
    body = part.get_payload(decode=True)
    if not isinstance(body, bytes):
        return None
    found = re.search(rb"^--([!#-~]{1,70}?)[ \t]*\r?$", body, re.MULTILINE)
    if not found or found.group(1).endswith(b"--"):
        return None
    head = b'Content-Type: %s; boundary="%s"\r\n\r\n' % (
        part.get_content_type().encode("ascii", "replace"),
        found.group(1),
    )
    again = email.message_from_bytes(head + body, policy=compat32)
    return again if again.is_multipart() else None


def _note(found: Iterable[object], where: str, defects: list[str]) -> None:
    for defect in found:
        name = type(defect).__name__
        defects.append(f"{where}：{_DEFECTS.get(name, name)}")


def _role(part: Message, html_cids: set[str]) -> str:
    """What a leaf part is: "attachment", "body" or "skip" (machinery and decoration)."""
    ctype = part.get_content_type()
    disposition = (raw_header(part, "Content-Disposition") or "").split(";", 1)[0]
    disposition = disposition.strip().lower()
    cid = (raw_header(part, "Content-ID") or "").strip().strip("<>").lower()
    # Signature logos and pasted pictures: shown inside the HTML, not files the sender attached.
    if ctype.startswith("image/") and disposition != "attachment" and cid and cid in html_cids:
        return "skip"
    if ctype in _SIGNATURE_TYPES:
        return "skip"
    if attachment_filename(part) or disposition == "attachment":
        return "attachment"
    if ctype in ("text/plain", "text/html"):
        return "body"
    if ctype.startswith(("text/", "message/", "multipart/")):
        return "skip"  # text/rfc822-headers, message/delivery-status and the like
    return "attachment"


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
    _note(part.defects[known:], where, defects)
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


def _text_of(leaf: _Leaf, defects: list[str], declared: list[str]) -> str:
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


def _body_text(bodies: list[tuple[_Leaf, str]]) -> str:
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

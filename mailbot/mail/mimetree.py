"""The tree of a mail's MIME parts, flattened into the leaves that matter.

`walk` goes down a parsed mail (compat32) and returns its leaves in order: bodies, attached
files, an attached mail that holds no files (taken whole, under the name it was attached with),
encrypted content (nothing inside is readable). `role` says what a leaf is. Damaged structure
(a wrong boundary, nesting thousands deep) is repaired or cut off, and written down as a defect
for the office.
"""

from __future__ import annotations

import email
import re
from collections.abc import Iterable
from dataclasses import dataclass
from email.message import Message
from email.policy import compat32

from mailbot.mail.filenames import attachment_filename, codec_for, raw_header

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
# Parts that belong to the mail's machinery, not to the sender's files.
_SIGNATURE_TYPES = frozenset(
    ("application/pkcs7-signature", "application/x-pkcs7-signature", "application/pgp-signature",
     "application/pgp-encrypted")  # PGP/MIME's "Version: 1" control part of an encrypted mail
)
_MESSAGE_TYPES = ("message/rfc822", "message/global")


@dataclass
class Leaf:
    part: Message
    nested: bool  # inside a forwarded message/rfc822
    as_text: bool = False  # a "multipart" we could not split: read it as text
    whole: bool = False  # an attached mail holding no files: the attachment is the mail itself
    encrypted: bool = False  # PGP/MIME or S/MIME encrypted content: nothing inside is readable


def walk(part: Message, out: list[Leaf], defects: list[str], depth: int, nested: bool) -> None:
    ctype = part.get_content_type()
    note_defects(part.defects, "邮件头" if depth == 0 else f"{ctype} 部分", defects)
    if depth > MAX_DEPTH:
        defects.append("MIME 嵌套过深，更深的部分未解析")
        return
    if _is_encrypted(part, ctype):
        out.append(Leaf(part, nested, encrypted=True))
        return
    if part.is_multipart():
        inner = nested or ctype in _MESSAGE_TYPES
        first = len(out)
        for sub in part.get_payload():
            if isinstance(sub, Message):
                walk(sub, out, defects, depth + 1, inner)
        if (ctype in _MESSAGE_TYPES and _named_like_a_file(attachment_filename(part))
                and not any(leaf.whole or leaf.encrypted or role(leaf.part, set()) == "attachment"
                            for leaf in out[first:])):
            # A mail attached under a file's name ("Contract 25 04 2020.docx") that holds no
            # files: what arrived is that mail, and the reply names it as such.
            del out[first:]
            out.append(Leaf(part, nested, whole=True))
        return
    if part.get_content_maintype() == "multipart":
        salvaged = _salvage(part)
        if salvaged is not None:
            defects.append(f"{ctype} 的分界线与声明不符，已按正文中实际的分界线解析")
            for sub in salvaged.get_payload():
                if isinstance(sub, Message):
                    walk(sub, out, defects, depth + 1, nested)
            return
        out.append(Leaf(part, nested, as_text=True))
        return
    out.append(Leaf(part, nested))


def _named_like_a_file(name: str) -> bool:
    """A name with an extension that is not a mail's own (.eml, .msg): "合同.docx"."""
    stem, dot, ext = name.rpartition(".")
    return bool(stem and dot and ext) and ext.lower() not in ("eml", "msg", "mht", "mhtml")


def _is_encrypted(part: Message, ctype: str) -> bool:
    if ctype == "multipart/encrypted":
        return True
    if ctype in ("application/pkcs7-mime", "application/x-pkcs7-mime"):
        kind = str(part.get_param("smime-type") or "").lower()
        name = attachment_filename(part).lower()
        return kind in ("enveloped-data", "authenveloped-data") or (not kind
                                                                  and name == "smime.p7m")
    return False


def declared_charsets(leaves: list[Leaf]) -> list[str]:
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


def note_defects(found: Iterable[object], where: str, defects: list[str]) -> None:
    for defect in found:
        name = type(defect).__name__
        defects.append(f"{where}：{_DEFECTS.get(name, name)}")


def role(part: Message, html_cids: set[str]) -> str:
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

"""Realistic raw mails, byte for byte in the header styles of the clients applicants use.

The demo sends these to its loopback server and the tests parse them, so the quirks below are
the ones `mailbot.mail.filenames` must survive. Headers are written by hand: the stdlib generator
would re-encode them into its own (correct, and therefore unrealistic) style.

Style quirks, as observed in real mail:

* outlook — Outlook on Chinese Windows: RFC 2047 words *inside* quoted ``name=``/``filename=``
  (forbidden by RFC 2047 §5, done anyway), labelled ``gb2312`` even when the bytes hold GBK-only
  characters such as 镕 喆 堃; long names become several words folded inside the quotes;
  gb2312 base64 bodies; ``Thread-Index``, ``X-Mailer: Microsoft Outlook 16.0``.
* foxmail — like Outlook with an upper-case ``GB2312`` label (``GBK`` when gb2312 cannot hold
  the name) and every attachment declared ``application/octet-stream``.
* qq — QQ Mail web: ``=?gb18030?B?`` words, an ``X-QQ-mid`` header, a ``tencent_`` Message-ID.
* netease — 163/126 (Coremail): ``=?UTF-8?B?`` words, ``X-Mailer: Coremail Webmail …``.
* apple — Apple Mail: RFC 2231 ``filename*=utf-8''…`` (continuations ``filename*0*=`` for long
  names, cut anywhere, even inside a character), ``name=`` as an RFC 2047 word, attachments
  often ``inline``, quoted-printable body, tab-folded parameters.
* gmail — ``name="=?UTF-8?B?…?="`` and ``filename="=?UTF-8?B?…?="``, ``X-Attachment-Id``.
* thunderbird — RFC 2047 ``name=``, RFC 2231 ``filename*=UTF-8''…`` with continuations when
  long (plain ``filename*0=``/``filename*1=`` for long ASCII names), 8bit flowed body.
* mutt — ``filename*=utf-8''…`` only (no ``name=``), continuations ``filename*0*=`` folded with a
  tab when long, lower-case ``=?utf-8?B?`` words, an 8bit body marked ``Content-Disposition:
  inline``, a 16-character random Message-ID, ``User-Agent: Mutt/2.2.7``.
* rfc2231 — what a standards-following library (Python's own) writes: ``filename*=utf-8''…``.
* raw-gbk / raw-utf8 — old clients, scanners and scripts: raw 8-bit bytes in the headers.
"""

from __future__ import annotations

import base64
import html
import quopri
import secrets
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta, timezone
from email.utils import format_datetime
from typing import Literal, get_args

ClientStyle = Literal[
    "rfc2231", "outlook", "foxmail", "qq", "netease", "apple", "gmail", "thunderbird", "mutt",
    "raw-gbk", "raw-utf8",
]
STYLES: tuple[ClientStyle, ...] = get_args(ClientStyle)
CST = timezone(timedelta(hours=8), "CST")
CRLF = b"\r\n"

_OOXML = "application/vnd.openxmlformats-officedocument."
_MIME_TYPES = {
    "docx": _OOXML + "wordprocessingml.document", "xlsx": _OOXML + "spreadsheetml.sheet",
    "pptx": _OOXML + "presentationml.presentation", "doc": "application/msword",
    "xls": "application/vnd.ms-excel", "wps": "application/kswps", "et": "application/kset",
    "pdf": "application/pdf", "zip": "application/x-zip-compressed",
    "7z": "application/x-7z-compressed", "txt": "text/plain", "png": "image/png",
    "jpg": "image/jpeg", "jpeg": "image/jpeg",
}  # anything else (rar included, as Windows has no type for it) goes as octet-stream
# (body charset label, python codec, body transfer encoding, HTML alternative?)
_BODY = {
    "rfc2231": ("utf-8", "utf-8", "base64", False),
    "outlook": ("gb2312", "gb18030", "base64", True),
    "foxmail": ("GB2312", "gb18030", "base64", True),
    "qq": ("gb18030", "gb18030", "base64", True),
    "netease": ("UTF-8", "utf-8", "base64", True),
    "apple": ("utf-8", "utf-8", "quoted-printable", False),
    "gmail": ("UTF-8", "utf-8", "base64", True),
    "thunderbird": ("UTF-8", "utf-8", "8bit", False),
    "mutt": ("utf-8", "utf-8", "8bit", False),
    "raw-gbk": ("gbk", "gb18030", "8bit", False),
    "raw-utf8": ("utf-8", "utf-8", "8bit", False),
}


def _b64_lines(data: bytes) -> bytes:
    encoded = base64.b64encode(data)
    return CRLF.join(encoded[i : i + 76] for i in range(0, len(encoded), 76))


def _words(text: str, label: str, codec: str, limit: int = 75) -> list[str]:
    """`text` as B-encoded words of at most `limit` characters, split between characters."""
    words: list[str] = []
    chunk = ""
    overhead = len(f"=?{label}?B??=")
    for ch in text:
        trial = chunk + ch
        if chunk and overhead + 4 * -(-len(trial.encode(codec)) // 3) > limit:
            words.append(chunk)
            trial = ch
        chunk = trial
    if chunk or not words:
        words.append(chunk)
    return [f"=?{label}?B?{base64.b64encode(w.encode(codec)).decode()}?=" for w in words]


def _word_style(style: ClientStyle, text: str) -> tuple[str, str]:
    """The (label, codec) a client uses for RFC 2047 words."""
    if style == "outlook":
        return "gb2312", "gb18030"  # GBK bytes behind the gb2312 label, whatever they hold
    if style == "foxmail":  # GB2312 while it can hold the text, GBK beyond
        return ("GB2312" if _encodes(text, "gb2312") else "GBK"), "gb18030"
    if style == "qq":
        return "gb18030", "gb18030"
    if style in ("apple", "rfc2231", "mutt"):
        return "utf-8", "utf-8"
    return "UTF-8", "utf-8"


def _encodes(text: str, codec: str) -> bool:
    try:
        text.encode(codec)
    except UnicodeEncodeError:
        return False
    return True


def _quote(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _is_plain(text: str) -> bool:
    return text.isascii() and all(ch >= " " for ch in text)


def _encoded_text(style: ClientStyle, text: str, fold: str = "\r\n ") -> bytes:
    """Header text (Subject, display name) in the style's encoding."""
    if _is_plain(text):
        return text.encode()
    if style == "raw-gbk":
        return text.encode("gb18030")
    if style == "raw-utf8":
        return text.encode()
    label, codec = _word_style(style, text)
    return fold.join(_words(text, label, codec)).encode()


def _display(style: ClientStyle, name: str, addr: str) -> bytes:
    if not name:
        return addr.encode()
    if _is_plain(name):
        return f'"{_quote(name)}" <{addr}>'.encode()
    text = _encoded_text(style, name)
    if style in ("apple", "gmail", "thunderbird", "rfc2231", "mutt"):
        return text + b" <" + addr.encode() + b">"
    # Chinese clients put quotes around encoded words (RFC 2047 §5 forbids it; all decode it).
    return b'"' + text + b'" <' + addr.encode() + b">"


def _rfc2231_params(key: str, name: str, label: str, per_line: int = 40) -> list[str]:
    """`key*=utf-8''…`, or numbered continuations when long, cut every `per_line` characters."""
    safe = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!#$&+-.^_`|~")
    if _is_plain(name):
        if len(name) <= per_line:
            return [f'{key}="{_quote(name)}"']
        pieces = [name[i : i + per_line] for i in range(0, len(name), per_line)]
        return [f'{key}*{n}="{_quote(p)}"' for n, p in enumerate(pieces)]
    triplets = [chr(b) if chr(b) in safe else f"%{b:02X}" for b in name.encode("utf-8")]
    value = "".join(triplets)
    if len(value) <= per_line:
        return [f"{key}*={label}''{value}"]
    pieces, current = [], ""
    for triplet in triplets:  # a cut never splits "%XX", but may split a UTF-8 character
        if len(current) + len(triplet) > per_line:
            pieces.append(current)
            current = ""
        current += triplet
    pieces.append(current)
    first = f"{label}''"  # only the first segment names the charset (RFC 2231 §4.1)
    return [f"{key}*{n}*={first if n == 0 else ''}{p}" for n, p in enumerate(pieces)]


def _quoted_words(style: ClientStyle, key: str, name: str) -> bytes:
    """``key="…"`` holding RFC 2047 words (folded inside the quotes) or raw 8-bit bytes."""
    if _is_plain(name):
        return f'{key}="{_quote(name)}"'.encode()
    if style == "raw-gbk":
        return key.encode() + b'="' + _quote(name).encode("gb18030") + b'"'
    if style == "raw-utf8":
        return key.encode() + b'="' + _quote(name).encode() + b'"'
    label, codec = _word_style(style, name)
    return f'{key}="' .encode() + "\r\n\t".join(_words(name, label, codec)).encode() + b'"'


def _attachment_part(style: ClientStyle, name: str, data: bytes, mtime: datetime) -> bytes:
    ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    ctype = _MIME_TYPES.get(ext, "application/octet-stream")
    if style == "foxmail":
        ctype = "application/octet-stream"
    lines: list[bytes]
    if style == "apple":
        disposition = ";\r\n\t".join(["inline", *_rfc2231_params("filename", name, "utf-8")])
        lines = [
            b"Content-Disposition: " + disposition.encode(),
            f"Content-Type: {ctype};\r\n\tx-unix-mode=0644;\r\n\t".encode()
            + _quoted_words(style, "name", name),
            b"Content-Transfer-Encoding: base64",
        ]
    elif style in ("thunderbird", "rfc2231", "mutt"):
        label = "UTF-8" if style == "thunderbird" else "utf-8"
        fold = ";\r\n\t" if style == "mutt" else ";\r\n "
        disposition = fold.join(["attachment", *_rfc2231_params("filename", name, label)])
        head = f"Content-Type: {ctype}".encode()
        if style == "thunderbird":
            head += b";\r\n " + _quoted_words(style, "name", name)
        lines = [head, b"Content-Disposition: " + disposition.encode(),
                 b"Content-Transfer-Encoding: base64"]
    elif style == "qq":
        lines = [
            f'Content-Type: {ctype}; charset="gb18030"; '.encode()
            + _quoted_words(style, "name", name),
            b"Content-Disposition: attachment; " + _quoted_words(style, "filename", name),
            b"Content-Transfer-Encoding: base64",
        ]
    else:  # outlook, foxmail, netease, gmail, raw-*: quoted name= and filename=
        lines = [f"Content-Type: {ctype};\r\n\t".encode() + _quoted_words(style, "name", name)]
        if style == "outlook":
            lines.append(b"Content-Description: " + _encoded_text(style, name, "\r\n\t"))
        stamp = format_datetime(mtime.astimezone(UTC), usegmt=True)
        extra = (
            f'; size={len(data)};\r\n\tcreation-date="{stamp}";\r\n\tmodification-date="{stamp}"'
            if style == "outlook" else ""
        )
        lines.append(b"Content-Disposition: attachment;\r\n\t"
                     + _quoted_words(style, "filename", name) + extra.encode())
        lines.append(b"Content-Transfer-Encoding: base64")
        if style == "gmail":
            attachment_id = "f_" + secrets.token_hex(5)
            lines += [f"Content-ID: <{attachment_id}>".encode(),
                      f"X-Attachment-Id: {attachment_id}".encode()]
    return CRLF.join(lines) + CRLF + CRLF + _b64_lines(data)


def _text_part(subtype: str, text: str, style: ClientStyle) -> bytes:
    label, codec, cte, _ = _BODY[style]
    data = text.replace("\r\n", "\n").replace("\n", "\r\n").encode(codec)
    if cte == "base64":
        payload = _b64_lines(data)
    elif cte == "quoted-printable":
        payload = quopri.encodestring(data).replace(b"\r\n", b"\n").replace(b"\n", CRLF)
    else:
        payload = data
    flowed = "; format=flowed" if style == "thunderbird" and subtype == "plain" else ""
    quote = '"' if style in ("outlook", "foxmail", "qq", "gmail") else ""
    inline = "Content-Disposition: inline\r\n" if style == "mutt" else ""
    head = (
        f"Content-Type: text/{subtype}; charset={quote}{label}{quote}{flowed}\r\n{inline}"
        f"Content-Transfer-Encoding: {cte}\r\n\r\n"
    )
    return head.encode() + payload


def multipart(subtype: str, boundary: str, parts: Sequence[bytes], extra: str = "") -> bytes:
    body = b"".join(b"--" + boundary.encode() + CRLF + part + CRLF for part in parts)
    return (
        f'Content-Type: multipart/{subtype};{extra}\r\n\tboundary="{boundary}"\r\n\r\n'.encode()
        + (b"This is a multi-part message in MIME format." + CRLF + CRLF)
        + body + b"--" + boundary.encode() + b"--" + CRLF
    )


def _boundary(style: ClientStyle, level: int) -> str:
    token = secrets.token_hex(8).upper()
    return {
        "outlook": f"----=_NextPart_00{level}_0{level}1C_01D8D4A1.{token[:8]}",
        "foxmail": f"----=_00{level}_NextPart{token}_=----",
        "qq": f"----=_NextPart_{token[:8]}_{token[8:]}_{level}",
        "netease": f"----=_Part_{level}_{int(token[:6], 16)}.{token[6:]}",
        "apple": f"Apple-Mail=_{str(uuid.uuid4()).upper()}",
        "gmail": f"000000000000{token[:12].lower()}",
        "thunderbird": f"------------{token}{level}",
        "mutt": secrets.token_urlsafe(12).replace("-", "x").replace("_", "Z"),
    }.get(style, f"===============_{token}_{level}==")


def _message_id(style: ClientStyle, sender: str) -> str:
    domain = sender.rsplit("@", 1)[-1] or "example.invalid"
    token = secrets.token_hex(8)
    return {
        "outlook": f"<000001d8{token[:4]}${token[4:12]}${token[:8]}$@{domain}>",
        "foxmail": f"<2022{int(token, 16) % 10**14:014d}{secrets.randbelow(10**4)}@{domain}>",
        "qq": f"<tencent_{token.upper()}{secrets.token_hex(8).upper()}@qq.com>",
        "netease": f"<{token[:8]}.{token[8:12]}.{token[12:]}.Coremail.{sender}>",
        "apple": f"<{str(uuid.uuid4()).upper()}@{domain}>",
        "gmail": f"<CA+{secrets.token_urlsafe(30)}@mail.gmail.com>",
        "thunderbird": f"<{uuid.uuid4()}@{domain}>",
        "mutt": f"<{secrets.token_urlsafe(12).replace('-', 'x').replace('_', 'Z')}@{domain}>",
    }.get(style, f"<{token}.{secrets.token_hex(4)}@{domain}>")


_MAILER = {
    "outlook": b"X-Mailer: Microsoft Outlook 16.0",
    "foxmail": b"X-Mailer: Foxmail 7.2.23.121[cn]",
    "netease": b"X-Mailer: Coremail Webmail Server Version XT5.0.13 build 20220113(9d6ad7d2)"
    b" Copyright (c) 2002-2022 www.mailtech.cn 163com",
    "apple": b"X-Mailer: Apple Mail (2.3731.500.231)",
    "thunderbird": b"User-Agent: Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:102.0)"
    b" Gecko/20100101 Thunderbird/102.3.0",
    "mutt": b"User-Agent: Mutt/2.2.7 (2022-08-07)",
}


def build_mail(
    *,
    sender: str,
    to: str,
    subject: str,
    body: str = "",
    attachments: Sequence[tuple[str, bytes]] = (),
    style: ClientStyle = "rfc2231",
    sender_name: str = "",
    date: datetime | None = None,
    message_id: str | None = None,
    extra_headers: Mapping[str, str] | None = None,
    signature_logo: bool = False,
    extra_parts: Sequence[bytes] = (),
) -> bytes:
    """A raw mail as `style`'s client writes it. `signature_logo` adds an inline image the
    HTML body shows by Content-ID, as Outlook signatures do (it is not an attachment).
    `extra_parts` are whole MIME parts (headers and body) added after the attachments."""
    when = date or datetime.now(CST)
    if when.tzinfo is None:
        when = when.replace(tzinfo=CST)
    headers = _headers(style, sender, sender_name, to, subject, when, message_id,
                       extra_headers or {}, has_attachments=bool(attachments))
    content = _body(style, body, signature_logo)
    if attachments or extra_parts:
        parts = [content] + [_attachment_part(style, n, d, when) for n, d in attachments]
        content = multipart("mixed", _boundary(style, 0), [*parts, *extra_parts])
    return CRLF.join(headers) + CRLF + content


def _headers(style: ClientStyle, sender: str, sender_name: str, to: str, subject: str,
             when: datetime, message_id: str | None, extra_headers: Mapping[str, str], *,
             has_attachments: bool) -> list[bytes]:
    """The header lines in the order and with the marks `style`'s client writes them."""
    headers = [
        b"From: " + _display(style, sender_name, sender),
        f"To: {to}".encode(),
        b"Subject: " + _encoded_text(style, subject),
        f"Date: {format_datetime(when)}".encode(),
        f"Message-ID: {message_id or _message_id(style, sender)}".encode(),
    ]
    if style == "apple":
        headers.append(b"Mime-Version: 1.0 (Mac OS X Mail 16.0 \\(3731.500.231\\))")
    else:
        headers.append(b"MIME-Version: 1.0")
    if style == "outlook":
        headers += [b"Thread-Index: Adj" + base64.b64encode(secrets.token_bytes(18)),
                    b"Content-Language: zh-cn",
                    b"X-MS-Has-Attach: " + (b"yes" if has_attachments else b"")]
    if style in _MAILER:
        headers.append(_MAILER[style])
    if style == "qq":
        headers.append(f"X-QQ-mid: xmsezb3-{int(when.timestamp())}t{secrets.token_hex(8)}".encode())
    for key, value in extra_headers.items():
        # ASCII goes verbatim (the caller may fold it); other text as the client encodes it.
        encoded = value.encode() if value.isascii() else _encoded_text(style, value)
        headers.append(f"{key}: ".encode() + encoded)
    return headers


def _body(style: ClientStyle, body: str, signature_logo: bool) -> bytes:
    """The text of the mail: plain, or plain and HTML as the client pairs them."""
    with_html = _BODY[style][3]
    plain = _text_part("plain", body, style)
    html_body = "".join(f"<p>{html.escape(line) or '&nbsp;'}</p>" for line in body.split("\n"))
    content = plain
    if signature_logo:
        logo_id = f"image001.png@01D8D4A1.{secrets.token_hex(4).upper()}"
        page = f'<html><body>{html_body}<img src="cid:{logo_id}"></body></html>'
        html_part = _text_part("html", page, style)
        logo = (
            b'Content-Type: image/png; name="image001.png"\r\n'
            b'Content-Disposition: inline; filename="image001.png"\r\n'
            + f"Content-ID: <{logo_id}>\r\n".encode()
            + b"Content-Transfer-Encoding: base64\r\n\r\n"
            + _b64_lines(b"\x89PNG\r\n\x1a\n" + b"\x00" * 32)
        )
        # Outlook's nesting: related( alternative(plain, html), logo ).
        alternative = multipart("alternative", _boundary(style, 2), [plain, html_part])
        content = multipart(
            "related", _boundary(style, 1), [alternative, logo], ' type="multipart/alternative";'
        )
    elif with_html:
        html_part = _text_part("html", f"<html><body>{html_body}</body></html>", style)
        content = multipart("alternative", _boundary(style, 1), [plain, html_part])
    return content


def message_part(style: ClientStyle, original: bytes, filename: str) -> bytes:
    """A forwarded mail as a message/rfc822 part, named the way `style` names attachments."""
    return (b"Content-Type: message/rfc822;\r\n\t" + _quoted_words(style, "name", filename)
            + b"\r\nContent-Disposition: attachment;\r\n\t"
            + _quoted_words(style, "filename", filename)
            + b"\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" + original.rstrip(b"\r\n"))

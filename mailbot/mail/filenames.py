"""Decode attachment file names and header text exactly as Chinese mail clients wrote them.

We read the *raw* header values (``Message.raw_items()``) and decode them ourselves instead of
trusting a library: imap-tools and the stdlib's own decoders honour the declared charset
literally, so Outlook's ``=?gb2312?B?...?=`` holding GBK-only characters (镕, 喆, 堃) loses them,
and raw 8-bit headers are turned into replacement characters.

Which charsets are trusted and how unlabelled or damaged bytes are decoded is said once, in
`mailbot.mail.charsets` (GB labels as GB18030; the charset the mail's other parts declare first; the
decoding that needs the fewest repairs). What is particular to headers:

* adjacent encoded words of one charset are decoded together, because clients split a
  multi-byte character across two words (legal for neither RFC 2047 nor us, but common).

Messages parsed with ``email.policy.compat32`` keep raw 8-bit bytes as surrogate escapes
(\\udc80-\\udcff); ``_surrogate_bytes`` turns them back into the bytes the sender wrote.
"""

from __future__ import annotations

import base64
import binascii
import re
import unicodedata
from collections.abc import Sequence
from email.header import Header, decode_header
from email.message import Message
from urllib.parse import unquote_to_bytes

from mailbot.mail.charsets import codec_for, decode_bytes
from mailbot.mail.safetext import file_name

__all__ = ["attachment_filename", "clean_filename", "codec_for", "decode_8bit", "decode_bytes",
           "decode_header_text", "raw_header", "raw_header_values"]

_ENCODED_WORD = re.compile(r"=\?([^?\s*]+)(?:\*[^?\s]*)?\?([bBqQ])\?([^?]*?)\?=")
_FOLD = re.compile(r"\r?\n(?=[ \t])")
_SURROGATE = re.compile("[\udc80-\udcff]")


def _surrogate_bytes(text: str) -> bytes:
    """The bytes behind a header string that may hold surrogate-escaped raw 8-bit bytes."""
    try:
        return text.encode("utf-8", errors="surrogateescape")
    except UnicodeEncodeError:  # a lone surrogate that was no raw byte: not from the wire
        return text.encode("utf-8", errors="replace")


def decode_8bit(text: str, declared: Sequence[str] = ()) -> str:
    """Header text with its raw 8-bit bytes (surrogate escapes) decoded, all else untouched.

    Use it before address parsing: a GBK trail byte can be 0x5C, which an address parser
    would take for a backslash escape inside a quoted display name. `declared`: the codecs
    the mail's other parts declare, the best guess for bytes without a label.
    """
    if not _SURROGATE.search(text):
        return text
    return decode_bytes(_surrogate_bytes(text), None, declared)


def _word_bytes(encoding: str, payload: str) -> bytes:
    raw = _surrogate_bytes(payload)
    if encoding in "bB":
        raw = re.sub(rb"[^A-Za-z0-9+/]", b"", raw)
        if len(raw) % 4 == 1:  # a truncated word: the last sextet carries no whole byte
            raw = raw[:-1]
        try:
            return base64.b64decode(raw + b"=" * (-len(raw) % 4))
        except (binascii.Error, ValueError):
            return b""
    return binascii.a2b_qp(raw, header=True)


def decode_header_text(value: str | bytes | Header | None, declared: Sequence[str] = ()) -> str:
    """Decode a Subject, display name or parameter value into text.

    Encoded words anywhere (even inside quotes or glued to other text, as Outlook and Foxmail
    write them) are decoded; whitespace between adjacent encoded words is dropped (RFC 2047);
    adjacent words of one charset are joined as bytes before decoding.
    """
    if value is None:
        return ""
    if isinstance(value, Header):
        # compat32 hands back a Header for values with raw 8-bit bytes: take its chunks back.
        chunks = decode_header(value)
        return "".join(
            decode_bytes(b, codec_for(str(cs)) if cs else None, declared)
            if isinstance(b, bytes) else b
            for b, cs in chunks
        )
    if isinstance(value, bytes):
        value = value.decode("ascii", errors="surrogateescape")
    text = _FOLD.sub("", value).replace("\r", "").replace("\n", "")

    out: list[str] = []
    pending: bytearray = bytearray()  # bytes of consecutive encoded words with one charset
    pending_codec: str | None = None
    pending_label = ""
    pos = 0

    def flush() -> None:
        nonlocal pending, pending_label
        if pending_label:
            out.append(decode_bytes(bytes(pending), pending_codec, declared))
        pending, pending_label = bytearray(), ""

    for match in _ENCODED_WORD.finditer(text):
        between = text[pos : match.start()]
        if between and not (pending_label and between.isspace()):
            flush()
            out.append(decode_8bit(between, declared))
        codec = codec_for(match.group(1))
        label = codec or match.group(1).lower()
        if pending_label and label != pending_label:
            flush()
        pending_label, pending_codec = label, codec
        pending += _word_bytes(match.group(2), match.group(3))
        pos = match.end()
    flush()
    out.append(decode_8bit(text[pos:], declared))
    return "".join(out)


def raw_header_values(msg: Message, name: str) -> list[str]:
    """All values of header `name` exactly as received (unfolded, raw bytes as surrogates)."""
    wanted = name.lower()
    return [_FOLD.sub("", str(v)) for k, v in msg.raw_items() if k.lower() == wanted]


def raw_header(msg: Message, name: str) -> str | None:
    """The first value of header `name` as received, or None."""
    values = raw_header_values(msg, name)
    return values[0] if values else None


def _split_params(value: str) -> list[tuple[str, str, bool]]:
    """`; key=value` pairs of a structured header, as (lowercased key, value, was quoted).

    Deliberately lenient: unquoted values run to the next `;` (spaces and all), and inside
    quotes a backslash escapes only `"` or `\\`. That keeps unescaped Windows paths
    (``"C:\\Users\\附件1.docx"``) and raw GBK bytes whose trail byte is 0x5C intact.
    """
    params: list[tuple[str, str, bool]] = []
    n = len(value)
    # Skip the main value ("attachment", "application/pdf"); some broken clients omit it.
    i = 0 if "=" in value.split(";", 1)[0] else value.find(";")
    if i < 0:
        return params
    while i < n:
        while i < n and value[i] in "; \t":
            i += 1
        eq = value.find("=", i)
        semi = value.find(";", i)
        if eq < 0 or (0 <= semi < eq):
            i = n if semi < 0 else semi  # a bare word without "=": skip it
            continue
        key = value[i:eq].strip().lower()
        i = eq + 1
        while i < n and value[i] in " \t":
            i += 1
        if i < n and value[i] == '"':
            chars: list[str] = []
            i += 1
            while i < n and value[i] != '"':
                if value[i] == "\\" and i + 1 < n and value[i + 1] in '"\\':
                    i += 1
                chars.append(value[i])
                i += 1
            params.append((key, "".join(chars), True))
            i += 1  # past the closing quote (or the end of an unterminated string)
            semi = value.find(";", i)
            i = n if semi < 0 else semi
        else:
            semi = value.find(";", i)
            end = n if semi < 0 else semi
            params.append((key, value[i:end].strip(), False))
            i = end
    return params


def _rfc2231(params: list[tuple[str, str, bool]], base: str,
             declared: Sequence[str]) -> str | None:
    """`base*=` or the continuations `base*0*=`, `base*1=`, … joined and decoded; else None."""
    single = [v for k, v, _ in params if k == base + "*"]
    if single:
        codec, text = _charset_prefix(single[0])
        return decode_bytes(unquote_to_bytes(_surrogate_bytes(text)), codec, declared)
    parts: dict[int, tuple[str, bool]] = {}
    for key, val, _ in params:
        m = re.fullmatch(re.escape(base) + r"\*(\d+)(\*?)", key)
        if m and int(m.group(1)) not in parts:
            parts[int(m.group(1))] = (val, bool(m.group(2)))
    if not parts:
        return None
    # Segments are joined as bytes before decoding: a character may be split between them.
    data, codec, first = bytearray(), None, min(parts)
    for index in sorted(parts):
        val, extended = parts[index]
        if extended:
            if index == first:  # only the first segment carries charset'language'
                codec, val = _charset_prefix(val)
            data += unquote_to_bytes(_surrogate_bytes(val))
        else:
            data += _surrogate_bytes(val)
    return decode_bytes(bytes(data), codec, declared)


def _charset_prefix(value: str) -> tuple[str | None, str]:
    """Split ``charset'lang'text``; a value without the two quotes has no charset."""
    pieces = value.split("'", 2)
    if len(pieces) == 3:
        return codec_for(pieces[0]), pieces[2]
    return None, value


def clean_filename(name: str) -> str:
    """Drop directory parts, line breaks and control characters a client leaked into a file
    name; bounded, keeping the extension (`mailbot.mail.safetext.file_name`)."""
    name = re.split(r"[\\/]", name)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch) != "Cc")
    return file_name(name)


def attachment_filename(part: Message, declared: Sequence[str] = ()) -> str:
    """The file name of a MIME part exactly as the sender named it, or "" when it has none.

    Order of preference: Content-Disposition ``filename*`` (RFC 2231), ``filename``,
    Content-Type ``name*``, ``name`` — the first that yields a non-empty name wins.
    `declared`: the codecs the mail's other parts declare, for names without a label.
    """
    disposition = _split_params(raw_header(part, "Content-Disposition") or "")
    content_type = _split_params(raw_header(part, "Content-Type") or "")
    for params, base in ((disposition, "filename"), (content_type, "name")):
        extended = _rfc2231(params, base, declared)
        if extended and clean_filename(extended):
            return clean_filename(extended)
        plain = next((v for k, v, _ in params if k == base), "")
        # A plain value may hold encoded words (RFC 2047 misused inside quotes, as nearly
        # every client does) or raw 8-bit bytes; decode_header_text handles both.
        name = clean_filename(decode_header_text(plain, declared))
        if name:
            return name
    return ""

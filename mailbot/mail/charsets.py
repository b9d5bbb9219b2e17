"""Which charsets we decode mail text with, and how bytes of unsure origin are decoded.

Mail names its charsets itself, and a label is attacker text: ``utf-7`` smuggles lone
surrogates (``=?utf-7?q?+2AA-?=`` is U+D800, which SQLite refuses), ``unicode_escape`` turns
``\\ud800`` into one too, ``undefined`` raises on every byte, ``rot13`` and ``base64_codec``
are no text encodings at all. So a label is honoured only when it is on the allow-list below
(the charsets real mail clients write); any other label is treated as if the text were
unlabelled.

The rules, used for every header, file name and body in mailbot:

* gb2312 / gbk / gb18030 / x-gbk / cp936 (and their aliases) decode as GB18030, a superset:
  Outlook labels GBK bytes gb2312; big5 labels decode as Big5-HKSCS, shift_jis as cp932 and
  euc-kr/ks_c_5601 as cp949 for the same reason;
* the decoding that needs the fewest repairs wins, tried in this order: the label, the
  charsets the mail's other parts declare (multi-byte ones), UTF-8, single-byte declared
  charsets (they accept any byte, so they cannot tell), GB18030;
* GB18030 accepts nearly any run of high bytes, so a clean GB18030 decoding is weak evidence:
  a declared charset or UTF-8 that needs one repair (Yahoo cuts names mid-character) is kept
  rather than turned into GB18030 mojibake.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

_GB = "gb18030"
# Labels, compacted by `_compact` (lowercase, letters and digits only), and what decodes them.
_TRUSTED: dict[str, str] = {
    **dict.fromkeys(
        ("gb2312", "gbk", "gb18030", "xgbk", "cp936", "ms936", "windows936", "euccn", "xeuccn",
         "csgb2312", "gb231280", "chinese", "csgbk", "cngb", "xgb2312", "csiso58gb231280",
         "iso58gb231280"), _GB),
    **dict.fromkeys(("hzgb2312", "hz"), "hz"),
    **dict.fromkeys(("big5", "big5hkscs", "cp950", "xbig5", "csbig5", "cnbig5", "xxbig5"),
                    "big5hkscs"),
    # US-ASCII text with 8-bit bytes is mislabelled UTF-8 (or GBK) far more often than not;
    # UTF-8 reads ASCII unchanged and the guess below copes with the rest.
    **dict.fromkeys(("usascii", "ascii", "ansix341968", "us", "iso646us", "unknown8bit",
                     "xunknown8bit", "utf8", "unicode11utf8", "xunicode20utf8"), "utf-8"),
    **dict.fromkeys(("utf16", "utf16le", "utf16be", "unicode"), "utf-16"),
    "utf16le": "utf-16-le", "utf16be": "utf-16-be",
    **dict.fromkeys(("shiftjis", "sjis", "xsjis", "mskanji", "cp932", "windows31j",
                     "csshiftjis", "xmscp932"), "cp932"),
    **dict.fromkeys(("eucjp", "xeucjp", "cseucpkdfmtjapanese"), "euc_jp"),
    **dict.fromkeys(("iso2022jp", "csiso2022jp", "iso2022jp2", "csiso2022jp2"), "iso2022_jp_2"),
    **dict.fromkeys(("euckr", "kscs56011987", "ksc56011987", "ksc5601", "cp949", "windows949",
                     "cseuckr", "xwindows949", "ksc56011989"), "cp949"),
    "iso2022kr": "iso2022_kr",
    **dict.fromkeys(("koi8r", "cskoi8r", "koi"), "koi8_r"),
    "koi8u": "koi8_u", "koi8ru": "koi8_u",
    **dict.fromkeys(("latin1", "l1", "cp819", "ibm819", "isolatin1", "csisolatin1"), "latin_1"),
    **dict.fromkeys(("ibm866", "cp866", "csibm866", "866"), "cp866"),
    **dict.fromkeys(("ibm437", "cp437", "437", "cspc8codepage437"), "cp437"),  # TNEF, DOS
    **dict.fromkeys(("ibm850", "cp850", "850", "cspc850multilingual"), "cp850"),
    **dict.fromkeys(("windows874", "cp874", "tis620", "iso885911"), "cp874"),
    **dict.fromkeys(("macintosh", "macroman", "xmacroman", "csmacintosh", "mac"), "mac_roman"),
    **dict.fromkeys(("maccyrillic", "xmaccyrillic"), "mac_cyrillic"),
    "iso88598i": "iso8859_8", "iso88596i": "iso8859_6",
}
_ISO_8859 = re.compile(r"iso8859(\d{1,2})(?:\d{4})?")  # iso-8859-1, ISO_8859-5:1988
_WINDOWS = re.compile(r"(?:windows|cp|xcp)(125[0-8])")
_SEVEN_BIT = frozenset(("hz", "iso2022_jp_2", "iso2022_kr"))  # stateful 7-bit encodings
_MULTI_BYTE = frozenset((_GB, "hz", "big5hkscs", "utf-8", "utf-16", "utf-16-le", "utf-16-be",
                         "cp932", "euc_jp", "iso2022_jp_2", "cp949", "iso2022_kr"))
_HIGH_BYTES = bytes(range(0x80, 0x100))
TOLERATED_REPAIRS = 1  # one damaged spot (a cut, one bad byte) does not make a label a lie


def _compact(label: str) -> str:
    return re.sub(r"[^a-z0-9]", "", label.lower())


def codec_for(label: str | None) -> str | None:
    """The codec to decode text labelled `label` with; None when the label is not trusted."""
    if not label:
        return None
    name = _compact(label.strip().strip('"'))
    if name in _TRUSTED:
        return _TRUSTED[name]
    iso = _ISO_8859.fullmatch(name)
    if iso and int(iso.group(1)) in (*range(1, 12), 13, 14, 15, 16):
        return "cp874" if iso.group(1) == "11" else f"iso8859_{iso.group(1)}"
    windows = _WINDOWS.fullmatch(name)
    if windows:
        return f"cp{windows.group(1)}"
    return None


def _decode(data: bytes, codec: str) -> tuple[str, int]:
    """`data` decoded with `codec`, each undecodable spot replaced; (text, repairs)."""
    repairs = 0
    if codec in _SEVEN_BIT and not data.isascii():
        # A stray 8-bit byte in a 7-bit encoding: dropping it keeps the two-byte pairs in step,
        # where decoding it would shift every pair after it (or swallow the next letter).
        seven = data.translate(None, _HIGH_BYTES)
        repairs, data = len(data) - len(seven), seven
    text = data.decode(codec, errors="replace")
    return text, repairs + text.count("\ufffd")


def _near_fit(text: str, repairs: int) -> bool:
    """One damaged spot in text that otherwise decodes into real non-ASCII characters."""
    real = sum(1 for ch in text if ord(ch) > 0x7F and ch != "\ufffd")
    return repairs <= TOLERATED_REPAIRS and real >= repairs


def _order(codec: str | None, declared: Iterable[str]) -> list[str]:
    hints = [c for c in dict.fromkeys(declared) if c and c != codec]
    candidates = [codec or "", *(c for c in hints if c in _MULTI_BYTE), "utf-8",
                  *(c for c in hints if c not in _MULTI_BYTE), _GB]
    return [c for c in dict.fromkeys(candidates) if c]


def decode_bytes(data: bytes, codec: str | None = None, declared: Sequence[str] = ()) -> str:
    """Decode `data` labelled `codec` (from `codec_for`; None: unlabelled).

    `declared` are the codecs the mail's other parts declare, the best guess for unlabelled
    bytes. See the module docstring for the order; the result is never an exception."""
    if data.isascii() and codec not in _SEVEN_BIT and codec not in ("utf-16", "utf-16-le",
                                                                    "utf-16-be"):
        return data.decode("ascii")
    tried: list[tuple[str, int, str]] = []
    for candidate in _order(codec, declared):
        text, repairs = _decode(data, candidate)
        if repairs == 0:
            near = [t for t in tried if t[2] in (codec, "utf-8") and _near_fit(t[0], t[1])]
            if candidate == _GB and near:
                return near[0][0]  # GB18030 fits almost anything; a near fit says more
            return text
        tried.append((text, repairs, candidate))
    return min(tried, key=lambda t: t[1])[0]  # the fewest repairs; the first of equals

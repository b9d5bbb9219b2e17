"""The readable text of an HTML mail body: blocks become lines, scripts and styles vanish.

Used when a mail has no plain-text body (some webmail and Outlook settings send HTML only).
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

__all__ = ["html_to_text"]


class _HTMLText(HTMLParser):
    _HIDDEN = frozenset(("script", "style", "title", "xml", "template"))
    _BLOCKS = frozenset(
        ("p", "div", "br", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul", "ol",
         "blockquote", "pre", "hr", "section")
    )

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._HIDDEN:
            self.hidden += 1
        elif tag in self._BLOCKS:
            self.parts.append("\n")
        elif tag in ("td", "th"):
            self.parts.append("\t")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._HIDDEN:
            self.hidden = max(0, self.hidden - 1)
        elif tag in self._BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self.parts.append(re.sub(r"[ \t\r\n]+", " ", data))


def html_to_text(html: str) -> str:
    """Readable text of an HTML mail body: blocks become lines, scripts and styles vanish."""
    parser = _HTMLText()
    try:
        parser.feed(html)
        parser.close()
        text = "".join(parser.parts)
    except (AssertionError, ValueError):  # hopeless markup: strip the tags bluntly
        text = re.sub(r"<[^>]*>", " ", html)
    lines = [line.replace("\xa0", " ").strip() for line in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()

"""What the office reads is Chinese: the dashboard's pages, reminder offsets, button labels.

The templates are scanned as text (tags, Jinja code, styles and scripts removed): any Latin
word left is something a clerk would read in English. Units (KB) and product names are the
only Latin allowed, and they are listed here on purpose.
"""

from __future__ import annotations

import re
from pathlib import Path

from mailbot.timefmt import before_deadline

TEMPLATES = Path(__file__).resolve().parent.parent / "mailbot" / "web" / "templates"
ALLOWED = {"KB", "MB"}


def visible_words(html: str) -> list[str]:
    html = re.sub(r"<(style|script)\b.*?</\1>", "", html, flags=re.S)
    html = re.sub(r"\{%.*?%\}|\{\{.*?\}\}|\{#.*?#\}", "", html, flags=re.S)
    html = re.sub(r"<[^>]*>", " ", html, flags=re.S)
    html = re.sub(r"&[a-z]+;", " ", html)
    return re.findall(r"[A-Za-z][A-Za-z.]+", html)


def test_no_english_on_the_dashboard_pages() -> None:
    pages = sorted(TEMPLATES.glob("*.html"))
    assert pages
    english = {page.name: [w for w in visible_words(page.read_text(encoding="utf-8"))
                           if w not in ALLOWED] for page in pages}
    assert {name: words for name, words in english.items() if words} == {}


def test_the_scan_would_catch_english() -> None:
    assert visible_words('<a href="x">下载 材料包 materials.zip</a>') == ["materials.zip"]


def test_download_buttons_in_plain_chinese() -> None:
    overview = (TEMPLATES / "overview.html").read_text(encoding="utf-8")
    message = (TEMPLATES / "message.html").read_text(encoding="utf-8")
    assert ">下载材料包<" in overview and ">下载汇总表<" in overview
    assert ">下载原始邮件<" in message


def test_reminder_offsets_read_as_chinese() -> None:
    assert before_deadline("1d") == "截止前1天"
    assert before_deadline("3h") == "截止前3小时"
    assert before_deadline(" 30M ") == "截止前30分钟"
    assert before_deadline("12d") == "截止前12天"

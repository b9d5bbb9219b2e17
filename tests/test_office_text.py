"""What the office reads is Chinese: the dashboard's pages, reminder offsets, button labels.

The templates are scanned as text (tags, Jinja code, styles and scripts removed): any Latin
word left is something a clerk would read in English. Units (KB) and product names are the
only Latin allowed, and they are listed here on purpose.
"""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy import select
from web_support import app_for, campaign_state, login, make_runtime

from mailbot.store.models import Message, Reply, Unit
from mailbot.timefmt import before_deadline
from mailbot.web.wording import file_type, header_value

TEMPLATES = Path(__file__).resolve().parent.parent / "mailbot" / "web" / "templates"
ALLOWED = {"KB", "MB"}
# On rendered pages, besides those: what came from the mail itself (addresses, file names,
# receipt numbers) and product names the office knows by them.
DATA = re.compile(r"\S*@\S*|\S*\.(docx|xlsx|doc|xls|pdf|zip|eml)\b\S*|[A-Z]+\d{4}-\d+\S*"
                  r"|Word|Excel|WPS|PDF|Outlook|KB|MB")


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


def rendered_words(html: str) -> list[str]:
    html = re.sub(r"<(style|script|pre)\b.*?</\1>", "", html, flags=re.S)  # <pre>: the mail
    html = re.sub(r"<[^>]*>", " ", html, flags=re.S)
    html = re.sub(r"&[a-z]+;|&#\d+;", " ", html)
    return [t for t in re.findall(r"\S*[A-Za-z]{2,}\S*", html) if not DATA.fullmatch(t)]


def test_rendered_pages_have_no_english(tmp_path: Path) -> None:
    runtime = make_runtime(tmp_path)
    campaign_state(runtime)
    client = app_for(runtime).test_client()
    assert rendered_words(client.get("/login").get_data(as_text=True)) == []
    login(client)
    paths = ["/", "/units", "/quarantine", "/no-such-page"]
    with runtime.sessions() as session:
        paths += [f"/units/{unit.id}" for unit in session.scalars(select(Unit))]
        paths += [f"/messages/{m.id}" for m in session.scalars(select(Message))]
        paths += [f"/replies/{r.id}" for r in session.scalars(select(Reply))]
    assert len(paths) > 10
    english = {path: rendered_words(client.get(path).get_data(as_text=True)) for path in paths}
    assert {path: words for path, words in english.items() if words} == {}


def test_file_types_and_dates_in_the_offices_words() -> None:
    docx_type = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    assert file_type(docx_type, "附件1.docx") == "Word 文档"
    assert file_type("application/octet-stream", "附件2.wps") == "WPS 文档"
    assert file_type("image/jpeg", "盖章页.jpg") == "图片"
    assert file_type("application/x-unknown", "x") == "其他文件"
    assert header_value("Date", "Sun, 09 Oct 2022 02:00:00 +0000") == "2022-10-09 10:00:00"
    assert header_value("Date", "不是日期") == "不是日期"

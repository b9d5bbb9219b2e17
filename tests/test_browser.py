"""The dashboard in a real browser: Playwright drives Debian's Chromium against `mailbot serve`'s
own server (waitress, in a thread) over a campaign recorded by the real intake.

Screenshots of each step are kept in test-artifacts/ (git-ignored) for a person to look at.
Chromium comes from Debian (`make test` installs chromium and fonts-wqy-microhei as root);
`playwright install`, which downloads a browser, is never needed.
"""

from __future__ import annotations

import io
import os
import shutil
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from prerequisites import unavailable
from web_support import PASSWORD, ROSTER_UNIT, app_for, campaign_state, make_runtime

from mailbot.intake import pipeline as intake
from mailbot.intake.cycle import Runtime
from mailbot.web import DashboardServer

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking"]
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
MISSING = ("Chromium or Playwright is missing: run `make test` as root, which installs chromium "
           "and fonts-wqy-microhei (scripts/install-test-deps.sh) and playwright (PyPI)")
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sync_playwright = None
    if sync_playwright is None or not os.access(CHROMIUM, os.X_OK):
        unavailable(MISSING)
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def runtime(tmp_path: Path) -> Runtime:
    runtime = make_runtime(tmp_path, roster=True)
    campaign_state(runtime)
    return runtime


@pytest.fixture
def site(runtime: Runtime) -> Iterator[str]:
    with DashboardServer(app_for(runtime), "127.0.0.1", 0) as server:
        yield server.url.rstrip("/")


def new_page(browser: Any, viewport: dict[str, int] = DESKTOP) -> Any:
    context = browser.new_context(viewport=viewport, locale="zh-CN", accept_downloads=True)
    return context.new_page()


def shot(page: Any, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def log_in(page: Any, site: str, path: str = "/") -> None:
    page.goto(site + path)
    assert page.url.startswith(site + "/login")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/login" not in url)


def test_a_clerk_runs_the_campaign_from_the_browser(browser: Any, site: str,
                                                     tmp_path: Path) -> None:
    page = new_page(browser)
    page.goto(site + "/")
    shot(page, "01-login")
    page.fill("#password", "错误的密码")
    page.click("button[type=submit]")
    page.wait_for_selector(".flash.error")
    assert "密码不正确" in page.inner_text("main")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(site + "/")
    assert page.inner_text("#count-complete") == "2"
    assert page.inner_text("#count-silent") == "1"
    shot(page, "02-overview")

    page.click("header nav >> text=单位")
    page.wait_for_url(site + "/units")
    table = page.inner_text("#units")
    for unit in ("中德智能制造学院", "城市交通与物流学院", ROSTER_UNIT):
        assert unit in table
    page.select_option("select[name=state]", "silent")
    page.click("text=筛选")
    page.wait_for_url("**/units?state=silent**")
    assert ROSTER_UNIT in page.inner_text("#units")
    assert "中德智能制造学院" not in page.inner_text("#units")
    shot(page, "03-units-silent")
    page.click("text=清除")
    page.wait_for_url(site + "/units")

    page.click("#units >> text=中德智能制造学院")
    assert "已齐全" in page.inner_text("#unit-state")
    files = page.inner_text("#files")
    assert "附件3-申报材料.docx" in files and "当前版本" in files
    assert "受理" in page.inner_text("#messages")
    shot(page, "04-unit")

    with page.expect_download() as download_info:
        page.click("header nav >> text=汇总表")
    download = download_info.value
    assert download.suggested_filename == "汇总表.xlsx"
    saved = tmp_path / "downloaded.xlsx"
    download.save_as(saved)
    book = openpyxl.load_workbook(saved)
    assert book.sheetnames == ["汇总", "单位进度", "收件记录"]
    progress = {str(r[0]).removesuffix("（名单外）"): r for r in
                book["单位进度"].iter_rows(min_row=2, values_only=True)}
    assert progress["中德智能制造学院"][7] == "未收到"

    page.click("text=登记纸质版已收到")
    assert "纸质版已收到" in page.inner_text(".flash")
    assert page.inner_text("#paper-state").startswith("已收到（")
    shot(page, "05-paper-marked")
    with page.expect_download() as download_info:
        page.click("header nav >> text=汇总表")
    download_info.value.save_as(saved)
    progress = {str(r[0]).removesuffix("（名单外）"): r for r in
                openpyxl.load_workbook(saved)["单位进度"].iter_rows(min_row=2, values_only=True)}
    assert str(progress["中德智能制造学院"][7]).startswith("已收到（")

    with page.expect_download() as download_info:
        page.click("header nav >> text=材料包")
    archive = zipfile.ZipFile(io.BytesIO(Path(download_info.value.path()).read_bytes()))
    assert "中德智能制造学院/附件3-申报材料.docx" in archive.namelist()

    page.click("text=退出")
    page.wait_for_url("**/login")
    page.goto(site + "/units")
    assert page.url.startswith(site + "/login")


def test_the_login_returns_to_the_page_asked_for(browser: Any, site: str) -> None:
    page = new_page(browser)
    log_in(page, site, "/units?late=yes")
    assert page.url == site + "/units?late=yes"
    assert "大数据与互联网学院" in page.inner_text("#units") or \
        "houqin@test.example" in page.inner_text("#units")


@pytest.mark.parametrize("path", ["/", "/units", "/units/1", "/quarantine"])
def test_pages_fit_a_phone(browser: Any, site: str, path: str) -> None:
    page = new_page(browser, PHONE)
    log_in(page, site, path)
    # The page itself never scrolls sideways; wide tables scroll inside their own box.
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert page.evaluate("getComputedStyle(document.body).fontFamily").count("WenQuanYi")
    shot(page, "phone" + (path.replace("/", "-").rstrip("-") or "-overview"))


def test_a_quarantined_mail_is_reprocessed_from_the_browser(
        browser: Any, runtime: Runtime, site: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from web_support import deliver, full_set

    def explode(*_args: object) -> object:
        raise RuntimeError("simulated reader crash")

    monkeypatch.setattr(intake, "read_document", explode)
    deliver(runtime, "broken@test.example", full_set(), subject="附件读不出来的邮件")
    monkeypatch.undo()
    page = new_page(browser)
    log_in(page, site, "/quarantine")
    assert "simulated reader crash" in page.inner_text("#quarantine")
    shot(page, "06-quarantine")
    page.click("#quarantine >> text=查看原文")
    page.wait_for_url("**/messages/**")
    assert "附件读不出来的邮件" in page.inner_text("h1")
    shot(page, "06-quarantined-mail-page")
    page.click("main button:text-is('重新处理')")
    assert "已重新处理，结果：受理" in page.inner_text(".flash")
    assert page.inner_text("#message-result") == "受理"
    shot(page, "07-reprocessed")


def test_chinese_renders_with_a_cjk_font() -> None:
    # A screenshot with tofu boxes would pass every text assertion: check the font is there.
    if shutil.which("fc-list") is None:
        pytest.skip("fontconfig tools are not installed")
    import subprocess

    fonts = subprocess.run(["fc-list", ":lang=zh"], capture_output=True, text=True, check=False)
    if not fonts.stdout.strip():
        unavailable(MISSING)
    assert "WenQuanYi" in fonts.stdout or "Noto" in fonts.stdout


def test_every_page_reads_on_a_phone(browser: Any, runtime: Runtime, site: str) -> None:
    """At 390 px every table is a column of cards: nothing sideways, every button in view."""
    import re

    from sqlalchemy import select
    from web_support import OFFICE, ON_TIME, full_set

    from mailbot.campaign import statuslink
    from mailbot.demo.mailfactory import build_mail
    from mailbot.intake.cycle import record, save_raw
    from mailbot.store.models import Reply, Unit

    raw = build_mail(sender="x@test.example", to=OFFICE, subject="没有发件人的申报材料",
                     body="请查收申报材料。", attachments=full_set(), date=ON_TIME)
    raw = re.sub(rb"(?m)^From: [^\r\n]*\r?\n", b"", raw, count=1)
    quarantined, _ = record(runtime, raw, save_raw(runtime.settings.state_dir, raw), ON_TIME)
    with runtime.sessions.begin() as session:
        reply = session.scalars(select(Reply).where(Reply.kind == "acknowledgement")).first()
        assert reply is not None
        reply.status, reply.last_error = "failed", "收件服务器拒收：地址不存在（550 5.1.1）"
        unit = session.scalars(select(Unit).where(Unit.name == "中德智能制造学院")).one()
        token = statuslink.issue(unit)
        unit_id, reply_id = unit.id, reply.id
    page = new_page(browser, PHONE)
    log_in(page, site, "/")
    pages = {"overview": "/", "units": "/units", "unit": f"/units/{unit_id}",
             "quarantine": "/quarantine", "inbox": "/inbox",
             "mail": f"/messages/{quarantined.id}", "reply": f"/replies/{reply_id}",
             "status": f"/s/{token}"}
    for name, path in pages.items():
        page.goto(site + path)
        shot(page, f"phone-{name}")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"{path} is {width} px wide"
        for button in page.locator("main button, main a.button").all():
            assert button.is_visible(), f"{path}: a button is hidden"
            box = button.bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
    page.goto(site + "/quarantine")
    reason = page.locator("#quarantine td[data-label=原因]").first
    assert "找不到发件人地址" in reason.inner_text()
    assert reason.bounding_box()["width"] > 200  # the whole card's width, not two characters
    for label in ("重新处理", "转发到办公室邮箱", "按此单位处理", "不予处理"):
        assert page.locator(f"#quarantine button:text-is('{label}')").is_visible()
    page.goto(site + "/")
    assert "未发出的回复" in page.inner_text("main")
    assert page.locator("#reply-issues a.button").is_visible()


def test_a_mail_without_sender_is_assigned_from_a_phone(browser: Any, runtime: Runtime,
                                                        site: str) -> None:
    import re

    from web_support import OFFICE, ON_TIME, full_set

    from mailbot.demo.mailfactory import build_mail
    from mailbot.intake.cycle import record, save_raw

    raw = build_mail(sender="x@test.example", to=OFFICE, subject="没有发件人的申报材料",
                     body="请查收申报材料。", attachments=full_set(), date=ON_TIME)
    raw = re.sub(rb"(?m)^From: [^\r\n]*\r?\n", b"", raw, count=1)
    record(runtime, raw, save_raw(runtime.settings.state_dir, raw), ON_TIME)
    page = new_page(browser, PHONE)
    log_in(page, site, "/quarantine")
    page.select_option("#quarantine select[name=unit]", label=ROSTER_UNIT)
    page.click("#quarantine button:text-is('按此单位处理')")
    page.wait_for_url("**/messages/**")
    assert f"已作为 {ROSTER_UNIT} 的来信处理" in page.inner_text(".flash")
    assert "办公室操作记录" in page.inner_text("main")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    shot(page, "phone-assigned")

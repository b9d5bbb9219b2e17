"""Across documents: every studio 附件1 lists has its own 附件2 and 附件3, names matched tolerantly.

First the completeness check alone (pure: a unit's held forms in, findings out), then the whole
bot against Dovecot: several studios in one mail, a form for a studio 附件1 does not list, a
stamped scan beside the editable form, a broken form and its correction.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from intake_support import Bot, body, make_bot
from servers import Dovecot, SmtpRelay

from mailbot.campaign.rules import Campaign, load_rules
from mailbot.checks import Held, Submission, completeness
from mailbot.demo import samples
from mailbot.documents import studio_key

ROOT = Path(__file__).resolve().parents[1]
STUDIOS = samples.SAMPLE_STUDIOS
A, B = STUDIOS[0], STUDIOS[4]  # 精密制造劳模创新工作室, 大数据与AI应用创新工作室
UNIT = "multi@test.example"


@pytest.fixture(scope="module")
def campaign() -> Campaign:
    return load_rules(ROOT / "rules" / "laomo-gongjiang-2022.toml")


def summary(*names: str) -> Held:
    return Held("summary", "附件1.docx", "", "", True, listed_studios=names)


def form(kind: str, name: str, filename: str = "", *, scan: bool = False) -> Held:
    return Held(kind, filename or f"{kind}-{name}.docx", studio_key(name) if name else "", name,
                True, scan=scan)


def findings(campaign: Campaign, *held: Held) -> list[tuple[str, str]]:
    submission = Submission(campaign, datetime(2022, 10, 9, tzinfo=UTC), (), held)
    return [(f.code, f.message) for f in completeness.check(submission)]


# ---------------------------------------------------------------- the check alone


def test_two_studios_each_with_both_forms(campaign: Campaign) -> None:
    assert findings(campaign, summary(A.name, B.name), form("approval", A.name),
                    form("material", A.name), form("approval", B.name),
                    form("material", B.name)) == []


def test_the_missing_form_is_named_with_its_studio(campaign: Campaign) -> None:
    found = findings(campaign, summary(A.name, B.name), form("approval", A.name),
                     form("material", A.name), form("approval", B.name))
    assert found == [("missing-material", f"工作室“{B.name}”尚未收到附件3《申报材料》。")]


@pytest.mark.parametrize("spelling", [
    "大数据与ＡＩ应用创新工作室",  # full-width letters
    "大数据与AI应用创新 工作室",  # a space
    "《大数据与AI应用创新工作室》",  # brackets
    "“大数据与AI应用创新”工作室",  # quotes
    "大数据与AI应用创新",  # without the trailing 工作室
    "大数据与ai应用创新工作室",  # case
])
def test_names_match_tolerantly(campaign: Campaign, spelling: str) -> None:
    assert findings(campaign, summary(B.name), form("approval", spelling),
                    form("material", B.name)) == []


def test_a_form_for_a_studio_not_listed_is_named(campaign: Campaign) -> None:
    other = STUDIOS[2].name
    found = findings(campaign, summary(A.name), form("approval", A.name),
                     form("material", other, "附件3-数字媒体.docx"))
    assert ("missing-material", f"工作室“{A.name}”尚未收到附件3《申报材料》。") in found
    [(_code, message)] = [f for f in found if f[0] == "studio-not-listed"]
    assert message.startswith(f"附件3《申报材料》“附件3-数字媒体.docx”所写的工作室“{other}”"
                              "不在附件1《推荐汇总表》所列的工作室")
    assert A.name in message


def test_a_near_miss_is_a_mismatch_not_a_match(campaign: Campaign) -> None:
    """精密制造创新工作室 is not 精密制造劳模创新工作室: the applicant must say which."""
    found = findings(campaign, summary(A.name), form("approval", "精密制造创新工作室"),
                     form("material", A.name))
    assert [code for code, _ in found] == ["missing-approval", "studio-not-listed"]


def test_a_form_naming_no_studio_counts_for_the_one_left(campaign: Campaign) -> None:
    assert findings(campaign, summary(A.name, B.name), form("approval", A.name),
                    form("approval", ""), form("material", A.name),
                    form("material", B.name)) == []
    # With two studios still without the form, it cannot be placed.
    found = findings(campaign, summary(A.name, B.name), form("approval", ""),
                     form("material", A.name), form("material", B.name))
    assert [code for code, _ in found] == ["missing-approval", "missing-approval"]


def test_a_scan_never_stands_in_for_the_editable_form(campaign: Campaign) -> None:
    found = findings(campaign, summary(A.name), form("approval", "", "附件2盖章.pdf", scan=True),
                     form("material", A.name))
    assert found == [("missing-approval", f"工作室“{A.name}”的附件2《推荐审批表》只收到扫描件"
                                          "“附件2盖章.pdf”，尚未收到可编辑的文件。")]
    assert findings(campaign, summary(A.name), form("approval", A.name),
                    form("approval", "", "附件2盖章.pdf", scan=True),
                    form("material", A.name)) == []


def test_without_a_summary_each_form_is_asked_for_once(campaign: Campaign) -> None:
    found = findings(campaign, form("approval", A.name))
    assert [code for code, _ in found] == ["missing-summary", "missing-material"]


# ---------------------------------------------------------------- the whole bot


@pytest.fixture
def bot(dovecot: Dovecot, smtp_relay: SmtpRelay, tmp_path: Path) -> Bot:
    return make_bot(dovecot, smtp_relay, tmp_path)


def _full(unit: str, studios: list[samples.StudioSample]) -> list[tuple[str, bytes]]:
    files = [("附件1-推荐汇总表.docx", samples.summary_docx(unit, studios))]
    for number, studio in enumerate(studios, start=1):
        files += [(f"附件2-审批表-{number}.docx", samples.approval_docx(studio)),
                  (f"附件3-申报材料-{number}.docx", samples.material_docx(studio, 1500 + number))]
    return files


def test_a_unit_nominating_three_studios_in_one_mail(bot: Bot) -> None:
    studios = [replace(s, unit=A.unit) for s in (A, STUDIOS[1], B)]
    bot.submit(UNIT, _full(A.unit, studios))
    assert bot.poll().results == {"受理": 1}
    rows = bot.sheet("汇总")
    assert [(r["工作室名称"], r["材料字数"], r["状态"]) for r in rows] == [
        (s.name, 1500 + n, "已齐全") for n, s in enumerate(studios, start=1)]
    [unit] = bot.sheet("单位进度")
    assert (unit["附件2"], unit["附件3"], unit["状态"]) == ("3/3", "3/3", "已齐全")


def test_one_studio_short_of_its_material(bot: Bot) -> None:
    files = _full(A.unit, [A, B])
    bot.submit(UNIT, [f for f in files if f[0] != "附件3-申报材料-2.docx"])
    assert bot.poll().results == {"补正": 1}
    text = body(bot.replies(UNIT)[0])
    assert f"工作室“{B.name}”尚未收到附件3《申报材料》" in text
    assert f"工作室“{A.name}”尚未收到" not in text


def test_a_form_for_an_unlisted_studio_gets_a_correction(bot: Bot) -> None:
    other = STUDIOS[2]
    files = [*_full(A.unit, [A]), ("附件2-数字媒体.docx", samples.approval_docx(other))]
    bot.submit(UNIT, files)
    assert bot.poll().results == {"补正": 1}
    text = body(bot.replies(UNIT)[0])
    assert f"所写的工作室“{other.name}”不在附件1《推荐汇总表》所列的工作室" in text


def test_a_stamped_scan_beside_the_editable_form_is_accepted(bot: Bot) -> None:
    scan = b"%PDF-1.4\n% scanned approval form with the unit's stamp\n%%EOF\n"
    bot.submit(UNIT, [*_full(A.unit, [A]), ("附件2-审批表（盖章）.pdf", scan)])
    assert bot.poll().results == {"受理": 1}
    text = body(bot.replies(UNIT)[0])
    assert "附件2-审批表（盖章）.pdf" in text and "盖章扫描件" in text


def test_a_scan_alone_is_not_the_form(bot: Bot) -> None:
    scan = b"\x89PNG\r\n\x1a\n" + b"\0" * 64
    files = [f for f in _full(A.unit, [A]) if not f[0].startswith("附件2")]
    bot.submit(UNIT, [*files, ("附件2 审批表 拍照.png", scan)])
    assert bot.poll().results == {"补正": 1}
    text = body(bot.replies(UNIT)[0])
    assert "只收到扫描件“附件2 审批表 拍照.png”，尚未收到可编辑的文件" in text


def test_a_broken_form_is_settled_by_its_correction(bot: Bot) -> None:
    summary_file, approval, material = _full(A.unit, [A])
    bot.submit(UNIT, [summary_file, ("附件2-审批表.docx", b"PK\x03\x04 damaged"), material])
    assert bot.poll().results == {"补正": 1}
    assert "“附件2-审批表.docx”：文件已损坏" in body(bot.replies(UNIT)[0])
    bot.submit(UNIT, [approval], received=datetime(2022, 10, 9, 15, 0, tzinfo=UTC))
    assert bot.poll().results == {"受理": 1}
    assert bot.sheet("单位进度")[0]["状态"] == "已齐全"

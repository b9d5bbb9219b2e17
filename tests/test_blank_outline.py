"""The notice's own 附件3 (the blank 参考提纲) sent back as the material: the real intake on the
test Dovecot answers 补正 naming it, and the filled-in material then completes the set."""

from __future__ import annotations

from pathlib import Path

from intake_support import ON_TIME, body, make_bot
from servers import Dovecot, SmtpRelay

from mailbot.demo.samples import (
    SAMPLE_STUDIOS,
    approval_docx,
    material_docx,
    outline_template_docx,
    summary_docx,
)

UNIT = "jidian@test.example"
STUDIO = SAMPLE_STUDIOS[0]


def test_the_blank_outline_gets_a_correction_then_the_material_is_accepted(
        dovecot: Dovecot, smtp_relay: SmtpRelay, tmp_path: Path) -> None:
    bot = make_bot(dovecot, smtp_relay, tmp_path)
    bot.submit(UNIT, [("附件1-推荐汇总表.docx", summary_docx(STUDIO.unit, [STUDIO])),
                      ("附件2-推荐审批表.docx", approval_docx(STUDIO)),
                      ("附件3-申报材料参考提纲.docx", outline_template_docx())])
    bot.poll()
    [reply] = bot.replies(UNIT)
    text = body(reply)
    assert "补正" in str(reply["Subject"])
    assert "“附件3-申报材料参考提纲.docx”是附件3《申报材料》的参考提纲（空白模板）" in text
    [record] = bot.sheet("收件记录")
    assert record["处理结果"] == "补正" and "参考提纲（空白模板）" in record["问题"]

    bot.submit(UNIT, [("附件3-申报材料.docx", material_docx(STUDIO, 1600))],
               received=ON_TIME.replace(hour=11))
    bot.poll()
    assert [r["处理结果"] for r in bot.sheet("收件记录")] == ["补正", "受理"]

"""The consolidated form the office forwards upward (CONTRACT `export --official`).

For this campaign it is the 附件1 推荐汇总表 itself, one row per nominated studio of every unit,
as .docx or .xlsx. Which column takes which value is the rules' `[official]` section:

    collect(session, campaign, state_dir) -> OfficialTable     rows.py: the values
    render_docx(table) / render_xlsx(table) -> bytes            docx_form.py, xlsx_form.py
    render(session, campaign, state_dir, fmt) -> bytes          both, by format
    write(session, campaign, state_dir, path) -> Path           by suffix, atomically
"""

from __future__ import annotations

from pathlib import Path

from mailbot.atomic import write_bytes
from mailbot.campaign.rules import Campaign
from mailbot.errors import ConfigError
from mailbot.office.bulk import collector_paused
from mailbot.office.official.docx_form import render_docx
from mailbot.office.official.rows import OfficialRow, OfficialTable, collect, official_form
from mailbot.office.official.xlsx_form import render_xlsx
from mailbot.store.handles import Session

__all__ = ["FORMATS", "OfficialRow", "OfficialTable", "collect", "official_form", "render",
           "render_docx", "render_xlsx", "write"]

FORMATS = ("docx", "xlsx")


def render(session: Session, campaign: Campaign, state_dir: Path, fmt: str, *,
           include_incomplete: bool = False) -> bytes:
    if fmt not in FORMATS:
        raise ConfigError(f"上报汇总表只能导出为 .docx 或 .xlsx，不支持 .{fmt}")
    with collector_paused():
        table = collect(session, campaign, state_dir, include_incomplete=include_incomplete)
        return render_docx(table) if fmt == "docx" else render_xlsx(table)


def write(session: Session, campaign: Campaign, state_dir: Path, path: Path, *,
          include_incomplete: bool = False) -> Path:
    """The form at `path`, its format by the suffix; a reader never sees half a file."""
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in FORMATS:
        raise ConfigError(f"--out {path}：文件名须以 .docx 或 .xlsx 结尾（决定导出的格式）")
    content = render(session, campaign, state_dir, fmt, include_incomplete=include_incomplete)
    return write_bytes(path, content)

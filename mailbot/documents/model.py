"""What the bot knows about one attachment after reading it: plain, frozen data.

Readers (docx_reader, xlsx_reader) fill these; checks and the workbook only ever see these, never
python-docx or openpyxl objects, so a check can be tested with a hand-built ReadDocument.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from mailbot.findings import Finding

# A document key of the campaign's rules ("summary", "recommendation"…), or "unknown".
DocKind = str


@dataclass(frozen=True)
class StudioEntry:
    """One studio: a row of 附件1, or the studio a 附件2 (or 附件3) describes."""

    name: str  # 工作室名称, stripped
    leader: str = ""  # 领衔人姓名
    phone: str = ""  # 联系电话
    fields: Mapping[str, str] = field(default_factory=dict)  # every column, header -> cell text


@dataclass(frozen=True)
class ReadDocument:
    """One attachment as read. `problems` is empty when it could be read."""

    filename: str
    format: str  # "docx", "xlsx", … as detected from the content by the caller
    kind: DocKind
    text: str  # all text, paragraphs and table cells, "\n"-joined (recognition and display)
    word_count: int | None  # 字数 of body paragraphs + table cells; None when not countable
    # approval form: label -> value (工作室名称, 所在单位, 领衔人姓名, 性别, 联系电话, …);
    # summary: the values of the line above the table (推荐单位, 填表人, 联系电话).
    fields: Mapping[str, str] = field(default_factory=dict)
    # summary: rows with a studio name; approval: the one studio; material: the one when found
    studios: tuple[StudioEntry, ...] = ()
    unit_name: str | None = None  # summary: the 推荐单位 line; approval: 所在单位
    outline_covered: tuple[str, ...] = ()  # material: the spec's outline headings that appear
    problems: tuple[Finding, ...] = ()  # reading problems: corrupt, encrypted, macro, empty…
    converted: bool = False  # read through LibreOffice from `format` (.doc, .wps, .xls, …)

    @property
    def readable(self) -> bool:
        """True when nothing stopped the reader (the content may still fail checks)."""
        return not self.problems

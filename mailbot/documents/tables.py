"""The shape both readers reduce a file to, and how the forms' data is found in it.

A .docx and an .xlsx become the same `Content`: paragraphs in reading order and tables as grids of
unique cells. The forms are then read by their labels and headers, never by position, because
applicants add title rows, merge cells, insert columns and leave blank rows; a reader that counts
rows breaks on the first real submission.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from mailbot.documents.model import StudioEntry
from mailbot.documents.wordcount import is_asian


@dataclass(frozen=True)
class Cell:
    """One cell as the reader saw it once (a merged cell is one Cell, not one per grid column)."""

    col: int  # first grid column it covers
    span: int = 1  # how many grid columns it covers
    text: str = ""
    continued: bool = False  # continuation of a vertical merge: `text` repeats the cell above

    def covers(self, col: int) -> bool:
        return self.col <= col < self.col + self.span


Row = tuple[Cell, ...]
Grid = list[Row]


@dataclass
class Content:
    """A file's text, format-free."""

    paragraphs: list[str] = field(default_factory=list)  # all, in order: what 字数 counts
    body: list[str] = field(default_factory=list)  # paragraphs outside tables (the 推荐单位 line)
    tables: list[Grid] = field(default_factory=list)  # every table, nested ones too, in order

    @property
    def text(self) -> str:
        return "\n".join(self.paragraphs)


# Labels of 附件2 as printed on the form; the rules' required fields are added to these.
APPROVAL_LABELS: tuple[str, ...] = (
    "工作室名称",
    "所在单位",
    "领衔人姓名",
    "性别",
    "出生年月",
    "政治面貌",
    "学历",
    "职务/职称",
    "职务",
    "职称",
    "荣誉称号",
    "联系电话",
    "电子邮箱",
    "团队人数",
    "活动场所",
    "工作室基本情况",
    "主要创新成果",
    "所在单位意见",
    "基层工会意见",
    "市机关事业单位工会意见",
)
# Labels only the approval form has (the summary's header shares 工作室名称, 联系电话…).
APPROVAL_ONLY: frozenset[str] = frozenset(
    {"所在单位", "性别", "出生年月", "政治面貌", "学历", "电子邮箱", "活动场所", "所在单位意见"}
)
# Summary headers besides the studio column: any one of them beside it marks the header row.
SUMMARY_HEADERS: tuple[str, ...] = (
    "序号",
    "领衔人姓名",
    "领衔人",
    "领衔人所在单位及职务",
    "领衔人荣誉称号",
    "团队人数",
    "主要创新成果",
    "联系电话",
    "联系方式",
    "推荐单位",
)
_LEADER_HEADERS = ("领衔人姓名", "领衔人", "姓名")
_PHONE_HEADERS = ("联系电话", "联系方式", "电话", "手机")
_NOT_A_STUDIO = ("合计", "小计", "总计", "注", "备注")
# Labels that end the value of the previous one on a "推荐单位：… 填表人：… 联系电话：…" line.
_LINE_LABELS = ("填表人", "填报人", "联系人", "联系电话", "电话", "手机", "填报日期", "日期")


@lru_cache(maxsize=4096)  # labels are compared with every cell of every table, again and again
def normalise(text: str) -> str:
    """A label as compared: NFKC (full-width → ASCII), no whitespace, no leading * or trailing :."""
    folded = unicodedata.normalize("NFKC", text)
    folded = "".join(ch for ch in folded if not ch.isspace())
    return folded.lstrip("*").rstrip(":")


def match_label(text: str, labels: Iterable[str], *, inline: bool = True) -> tuple[str, str] | None:
    """(label, inline value) when `text` is one of `labels`, else None.

    Matches the label exactly, or followed by a bracket (工作室基本情况（300字以内）) or, when
    `inline`, a colon with the value after it (工作室名称：智能制造工作室). The longest label
    wins, so 所在单位意见 is not read as 所在单位.
    """
    folded = normalise(text)
    if not folded:
        return None
    for label in sorted(labels, key=len, reverse=True):
        key = normalise(label)
        if folded == key:
            return label, ""
        if folded.startswith(key) and folded[len(key)] in "([【":
            return label, ""
        if inline and folded.startswith(key) and folded[len(key)] == ":":
            value = text.split("：", 1)[-1] if "：" in text else text.split(":", 1)[-1]
            return label, clean_value(value)
    return None


def clean_value(text: str) -> str:
    """A cell's value: lines stripped, blank lines dropped, kept on separate lines."""
    return "\n".join(line.strip() for line in text.splitlines() if line.strip())


def clean_name(text: str) -> str:
    """A name typed across lines in a narrow cell, put back on one line.

    Lines are joined without a space when the join is between Chinese characters (a wrapped
    智能制造/创新工作室) and with one between Latin words.
    """
    out = ""
    for line in (part.strip() for part in text.splitlines()):
        if not line:
            continue
        if out and not (is_asian(out[-1]) or is_asian(line[0])):
            out += " "
        out += line
    return re.sub(r"\s+", " ", out).strip()


def key_values(tables: Sequence[Grid], labels: Iterable[str]) -> dict[str, str]:
    """label -> value from key–value tables: a label cell, then the next distinct cell.

    The first non-empty value of a label wins. Tables that open with 序号 are lists (the team
    member list of 附件2), not key–value forms: their 职务/职称 header must not overwrite the
    leader's.
    """
    labels = tuple(labels)
    found: dict[str, str] = {}
    for grid in tables:
        if grid and grid[0] and normalise(grid[0][0].text) == "序号":
            continue
        for row in grid:
            cells = [cell for cell in row if not cell.continued]
            index = 0
            while index < len(cells):
                hit = match_label(cells[index].text, labels)
                index += 1
                if hit is None:
                    continue
                label, value = hit
                # The next cell is the value unless it is itself a bare label (the value was left
                # empty); a value that merely starts "工作室名称：…" is still a value.
                if not value and index < len(cells):
                    following = cells[index].text
                    if match_label(following, labels, inline=False) is None:
                        value = clean_value(following)
                        index += 1
                if not found.get(label):
                    found[label] = value
    return found


def _header(row: Row, studio_column: str) -> dict[int, str] | None:
    """grid column -> header name when `row` is the summary's header row, else None."""
    names = {cell.col: normalise(cell.text) for cell in row if normalise(cell.text)}
    studio = [col for col, name in names.items() if match_label(name, [studio_column])]
    if not studio:
        return None
    others = [
        name
        for col, name in names.items()
        if col != studio[0] and match_label(name, SUMMARY_HEADERS)
    ]
    return names if others else None


def _titles(header: dict[int, str], wanted: Sequence[str]) -> list[str]:
    """The header titles answering to `wanted`, in the order of preference of `wanted`."""
    return [title for w in wanted for title in header.values() if match_label(title, [w])]


def summary_entries(tables: Sequence[Grid], studio_column: str) -> tuple[StudioEntry, ...]:
    """The studios listed in the summary table(s), found by header, in order.

    Rows above the header (titles) are ignored; rows whose studio cell is empty (unfilled 序号
    rows, blank spacer rows), repeats of the header, 合计/注 lines and continuations of a
    vertically merged studio cell are skipped, and reading never stops at a blank. A table
    without a header that follows a headed one with the same width continues it (a table split
    across pages).
    """
    entries: list[StudioEntry] = []
    header: dict[int, str] | None = None
    width = -1
    for grid in tables:
        grid_width = max((c.col + c.span for row in grid for c in row), default=0)
        start = 0
        for index, row in enumerate(grid):
            found = _header(row, studio_column)
            if found is not None:
                header, width, start = found, grid_width, index + 1
                break
        else:
            if header is None or grid_width != width:
                continue
        assert header is not None
        studio_col = next(c for c, n in header.items() if match_label(n, [studio_column]))
        leaders, phones = _titles(header, _LEADER_HEADERS), _titles(header, _PHONE_HEADERS)
        for row in grid[start:]:
            cover = {col: cell for cell in row for col in range(cell.col, cell.col + cell.span)}
            cell = cover.get(studio_col)
            if cell is None or cell.continued:
                continue
            name = clean_name(cell.text)
            folded = normalise(name)
            if not folded or folded in (normalise(studio_column), *_NOT_A_STUDIO):
                continue
            first = next((normalise(c.text) for c in row if normalise(c.text)), "")
            if first in _NOT_A_STUDIO:
                continue  # a 合计 line, whatever stands in its studio column
            if folded.startswith(("注:", "说明")):
                continue
            values: dict[str, str] = {}
            for col, title in header.items():
                owner = cover.get(col)
                values.setdefault(title, clean_value(owner.text) if owner else "")
            values[header[studio_col]] = name
            leader = next((values[t] for t in leaders if values[t]), "")
            phone = next((values[t] for t in phones if values[t]), "")
            entries.append(StudioEntry(name, clean_name(leader), phone, values))
    return tuple(entries)


def has_summary_table(tables: Sequence[Grid], studio_column: str) -> bool:
    """True when some table has the summary header and at least one row below it (even blank)."""
    for grid in tables:
        for index, row in enumerate(grid):
            if _header(row, studio_column) is not None and index + 1 < len(grid):
                return True
    return False


def label_line(texts: Iterable[str], unit_label: str) -> dict[str, str]:
    """Values of the "推荐单位（盖章）：…  填表人：…  联系电话：…" line, label -> value.

    Each value runs to the next label; a stamp note in brackets after a label is allowed. Only
    the first line holding `unit_label` is read. Values may be empty (the form unfilled).
    """
    labels = sorted({unit_label, *_LINE_LABELS}, key=len, reverse=True)
    pattern = re.compile(
        "(" + "|".join(map(re.escape, labels)) + r")\s*(?:[(（][^()（）]{0,12}[)）])?\s*[:：]"
    )
    for text in texts:
        if unit_label not in text:
            continue
        matches = list(pattern.finditer(text))
        if not any(m.group(1) == unit_label for m in matches):
            continue
        values: dict[str, str] = {}
        for here, after in zip(matches, [*matches[1:], None], strict=True):
            end = after.start() if after is not None else len(text)
            values.setdefault(here.group(1), clean_name(text[here.end() : end]))
        return values
    return {}

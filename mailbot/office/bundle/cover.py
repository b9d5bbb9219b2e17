"""The bundle's cover page: what is inside, in order, and on which pages; what could not be
printed, and why. A Word document, printed to PDF by LibreOffice like the materials."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from mailbot.office import printdocx as pd
from mailbot.office.bundle.parts import Part

HEADERS = ("序号", "单位", "材料", "工作室", "文件名", "页数", "页码")
SHARES = (3.0, 9.0, 9.5, 10.0, 15.0, 3.0, 6.5)


@dataclass(frozen=True)
class Line:
    part: Part
    pages: int  # 0: not in the bundle
    first: int  # its first page in the bundle (1-based); 0 when not in it
    problem: str = ""  # why it is not in the bundle

    @property
    def form(self) -> str:
        return f"{self.part.label}《{self.part.title}》" if self.part.title else self.part.label

    @property
    def where(self) -> str:
        if not self.pages:
            return "未收入"
        last = self.first + self.pages - 1
        return f"第 {self.first} 页" if last == self.first else f"第 {self.first}–{last} 页"


def cover_docx(title: str, scope: str, made_at: str, lines: Sequence[Line]) -> bytes:
    document = pd.new_document(landscape=False)
    pd.add_text(document, title, size=pd.TITLE_SIZE, font=pd.TITLE_FONT, bold=True, centred=True)
    pd.add_text(document, "申报材料打印汇编", size=pd.LINE_SIZE, font=pd.TITLE_FONT, centred=True)
    included = [line for line in lines if line.pages]
    pd.add_text(document, f"范围：{scope}　　生成时间：{made_at}　　"
                          f"共 {len(included)} 份文件，{sum(ln.pages for ln in included)} 页"
                          f"（不含本目录）", size=pd.LINE_SIZE)
    grid = pd.add_table(document, HEADERS, SHARES)
    for number, line in enumerate(lines, start=1):
        pd.add_row(grid, [str(number), line.part.unit, line.form, line.part.studio or "—",
                          line.part.filename, str(line.pages) if line.pages else "—",
                          line.where], centre_short=4)
    if not lines:
        pd.add_merged_row(grid, "（暂无已收到的材料）")
    if len(included) < len(lines):
        pd.add_text(document, "以下文件未能转换为 PDF，未收入本汇编，请在系统中下载原文件查看：")
        for number, line in enumerate(lines, start=1):
            if not line.pages:
                pd.add_text(document, f"{number}．{line.part.unit} {line.part.filename}："
                                      f"{line.problem}")
    return pd.to_bytes(document)

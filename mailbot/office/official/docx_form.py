"""The form sent upward as a Word document: A4 landscape, ready to print, stamp and sign.

Laid out like the blank form the units filled in: the label (附件1) and the title, the 推荐单位
line the office stamps, one bordered table whose header row Word and LibreOffice repeat on every
page and whose rows never break across pages, then the form's note. The table is as wide as the
page between its margins, its columns in the rules' proportions.
"""

from __future__ import annotations

from mailbot.office import printdocx as pd
from mailbot.office.official.rows import OfficialTable

NOTHING = "（暂无符合条件的工作室）"


def render_docx(table: OfficialTable) -> bytes:
    document = pd.new_document(landscape=True)
    form = table.form
    if form.label:
        pd.add_text(document, form.label, size=pd.LINE_SIZE, font=pd.TITLE_FONT)
    pd.add_text(document, form.title, size=pd.TITLE_SIZE, font=pd.TITLE_FONT, bold=True,
                centred=True)
    pd.add_text(document, form.recommending_unit, size=pd.LINE_SIZE)
    grid = pd.add_table(document, table.headers, table.shares)
    rows = pd.Rows(grid)
    for row in table.rows:
        rows.add(row.values)
    if not table.rows:
        pd.add_merged_row(grid, NOTHING)
    if form.note:
        pd.add_text(document, form.note)
    return pd.to_bytes(document)


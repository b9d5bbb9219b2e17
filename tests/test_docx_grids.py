"""The lean reading of a .docx's tables (documents.grids, for the form sent upward) gives the
very grids the full reader gives, or the same problem: on the sample forms, hand-made
documents with every construct the full walk treats specially (those go the full way), the
mail corpus and damaged packages."""

from __future__ import annotations

import io
import zipfile

import pytest
from test_docx_parts import DAMAGED, P, _corpus_docx, _features, _samples

from mailbot.demo import docx_build as build
from mailbot.documents import grids
from mailbot.documents.docx_reader import read_docx
from mailbot.documents.tables import Grid
from mailbot.errors import DocumentError


def tables(read: object, data: bytes) -> list[Grid] | str:
    try:
        return read(data)  # type: ignore[operator, no-any-return]
    except DocumentError as exc:
        return exc.code


def full(data: bytes) -> list[Grid]:
    return read_docx(data).tables


# Tables the lean walk reads itself: spans, vertical merges, nested tables, a skipped column.
PLAIN_TABLES = [
    build.docx([P("推荐单位：某学院"), build.table([["序号", "工作室名称", "领衔人"],
                                                   ["1", "甲工作室", "张三"]])]),
    build.docx([build.table([["标题跨两列"], ["左", "右"]], columns=2)]),
    build.docx([build.table([["外层", build.cell(build.table([["内层", "表格"], ["二", "x"]]))],
                             ["下一行", "尾"]])]),
    build.docx([build.table([[build.cell(P("合并"), merge="restart"), "a"],
                             [build.cell(P(""), merge="continue"), "b"]])]),
]


@pytest.mark.parametrize("data", _samples() + PLAIN_TABLES + _features() + _corpus_docx())
def test_the_same_grids_as_the_full_reader(data: bytes) -> None:
    assert tables(grids.docx_tables, data) == tables(full, data)


def main_part(data: bytes) -> bytes:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return archive.read("word/document.xml")


def test_plain_tables_take_the_lean_way() -> None:
    # Else the comparison above would only compare read_docx with itself.
    assert not any(grids.takes_full_read(main_part(d)) for d in _samples() + PLAIN_TABLES)
    assert all(grids.takes_full_read(main_part(data)) for data in _features())


@pytest.mark.parametrize("name", [n for n in DAMAGED if n != "an empty body"])
def test_damaged_packages_give_the_same_problem(name: str) -> None:
    assert tables(grids.docx_tables, DAMAGED[name]) == tables(full, DAMAGED[name])


def test_a_file_without_text_has_empty_tables_not_a_problem() -> None:
    assert tables(full, DAMAGED["an empty body"]) == "empty"
    assert grids.docx_tables(DAMAGED["an empty body"]) == []

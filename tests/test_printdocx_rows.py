"""Rows copied from a model row (printdocx.Rows) are the XML python-docx itself writes."""

from __future__ import annotations

import io
import zipfile

import pytest

from mailbot.office import printdocx as pd

VALUES = [["1", "第1学院（工会）", "某某劳模创新工作室" * 3, "", "  前后有空格  ", "13800000000"],
          ["2", "第二学院", "x" * 30, "两\n行", "a\tb", ""],
          ["3", "第三", "短", "甲", "<&>\x07", "丙"]]


def _document_xml(add: str) -> bytes:
    document = pd.new_document(landscape=True)
    grid = pd.add_table(document, ["序号", "单位", "工作室", "领衔人", "备注", "电话"],
                        [1, 2, 3, 1, 2, 1])
    rows = pd.Rows(grid)
    for values in VALUES:
        if add == "copied":
            rows.add(values)
        else:
            pd.add_row(grid, values)
    return zipfile.ZipFile(io.BytesIO(pd.to_bytes(document))).read("word/document.xml")


def test_copied_rows_are_the_rows_python_docx_writes() -> None:
    assert _document_xml("copied") == _document_xml("python-docx")


def test_a_row_of_the_wrong_width_is_refused() -> None:
    document = pd.new_document(landscape=False)
    rows = pd.Rows(pd.add_table(document, ["a", "b"], [1, 1]))
    rows.add(["1", "2"])
    with pytest.raises(ValueError, match="3 values"):
        rows.add(["1", "2", "3"])

"""From bytes to a `ReadDocument`: read, recognise, then take out what each form holds.

Never raises for bad input: whatever is wrong with a file becomes a finding in
`ReadDocument.problems`, worded for the applicant, and the pipeline decides what to ask for.

The format is the one detected from the content (sniff.detect_format), never the extension:

* docx, xlsx — read directly;
* doc, wps, odt, rtf → docx and xls, et, ods → xlsx — first inspected (password? macros?),
  then converted with headless LibreOffice (documents.convert) and read like the rest; without
  LibreOffice the applicant is asked for a .docx/.xlsx ("convert-unavailable"). A conversion
  is made once per file content and kept (documents.conversions), so the same .doc read again
  (the official form, a second export) costs no LibreOffice run;
* text named like a Word file (an HTML or Word-XML page saved as .doc) — converted too;
* docm, xlsm, encrypted-ooxml, empty — a precise problem each;
* a damaged file named like an Office document — "corrupt";
* anything else (PDF, images, archives…) — recognised by its name only, not counted.
"""

from __future__ import annotations

import re
from dataclasses import replace

from mailbot.campaign.rules import Campaign, DocumentSpec
from mailbot.documents import conversions, convert, legacy
from mailbot.documents.conversions import ConversionCache
from mailbot.documents.docx_reader import read_docx
from mailbot.documents.model import DocKind, ReadDocument, StudioEntry
from mailbot.documents.ooxml import is_encrypted_ooxml
from mailbot.documents.recognise import Evidence, outline_covered, recognise, text_outline
from mailbot.documents.tables import (
    APPROVAL_LABELS,
    APPROVAL_ONLY,
    Content,
    clean_name,
    has_summary_table,
    key_values,
    label_line,
    summary_entries,
)
from mailbot.documents.wordcount import count_words
from mailbot.documents.xlsx_reader import read_xlsx
from mailbot.errors import DocumentError
from mailbot.findings import Finding

READABLE = ("docx", "xlsx")
# Extensions people give Office documents; a file so named that is none of them is damaged.
OFFICE_EXTENSIONS = (".docx", ".docm", ".dotx", ".doc", ".dot", ".wps", ".wpt", ".rtf", ".odt",
                     ".xlsx", ".xlsm", ".xltx", ".xls", ".xlt", ".et", ".ett", ".ods")
_SPREADSHEET_EXTENSIONS = (".xlsx", ".xlsm", ".xltx", ".xls", ".xlt", ".et", ".ett", ".ods")
_WORD_PAGE_EXTENSIONS = (".doc", ".wps", ".dot", ".mht", ".mhtml", ".htm", ".html", ".xml")
_SPREADSHEETS = ("xlsx", "xlsm", "xls", "et", "ods")

# How to put each reading problem right, for the applicant (the reader's message says what).
FIXES: dict[str, str] = {
    "corrupt": ("请用 Word/WPS（表格用 Excel/WPS）打开确认无误后，"
                "另存为 .docx（或 .xlsx）重新发送。"),
    "encrypted": "请取消文件的打开密码（在 Word/WPS 中“文件 → 信息 → 保护文档”）后重新发送。",
    "macro": "请另存为不含宏的 .docx（或 .xlsx）文件后重新发送。",
    "empty": "请检查是否发错了文件，填写完整后重新发送。",
    "too-large": "请删减或压缩文中的图片后重新发送；佐证材料较多时可随纸质版一并提交。",
    "unsafe": "请用 Word/WPS（表格用 Excel/WPS）重新保存为 .docx（或 .xlsx）后发送。",
    "convert-unavailable": "请用 Word/WPS 打开后“另存为” .docx 格式（表格另存为 .xlsx）再发送。",
}

_MATERIAL_TITLE = re.compile(r"(申报材料|申报书|推荐材料|参考提纲|材料)$")
_STUDIO_IN_QUOTES = re.compile(r"[《“\"]([^《》“”\"]{2,60}?工作室)[》”\"]")


def read_document(filename: str, data: bytes, fmt: str, campaign: Campaign, *,
                  cache: ConversionCache | None = None) -> ReadDocument:
    """Read one attachment. `fmt` is the format detected from the content ("docx", "doc", …).
    A conversion by LibreOffice is kept in `cache`, else in this process's (conversions.use)."""
    fmt = fmt.lower()
    try:
        content, converted = _content(filename, data, fmt, cache)
    except DocumentError as exc:
        # Named, because a reply lists the problems of every attachment together.
        problem = Finding(exc.code, f"“{filename}”：{exc}", _fix(exc.code, fmt),
                          document=filename)
        return ReadDocument(
            filename, fmt, recognise(filename, "", campaign), "", None, problems=(problem,)
        )
    if content is None:  # a format we do not read: recognised by its name only
        return ReadDocument(filename, fmt, recognise(filename, "", campaign), "", None)
    return replace(_build(filename, fmt, content, campaign), converted=converted)


def _content(filename: str, data: bytes, fmt: str,
             cache: ConversionCache | None) -> tuple[Content | None, bool]:
    """The file's Content (and whether LibreOffice converted it), or None for formats that are
    not read. Raises DocumentError for what stops reading."""
    if fmt == "empty" or not data:
        raise DocumentError("empty", "附件是空文件（0 字节）。")
    if fmt == "encrypted-ooxml" or is_encrypted_ooxml(data):
        raise DocumentError("encrypted", "文件设置了打开密码（已加密），无法读取内容。")
    if fmt in ("docm", "xlsm"):
        raise DocumentError("macro",
                            f"文件是启用宏的 {fmt} 文档（含 VBA 代码），出于安全考虑不予打开。")
    if fmt == "docx":
        return read_docx(data), False
    if fmt == "xlsx":
        return read_xlsx(data), False
    name = filename.lower()
    source = fmt if fmt in convert.TARGETS else None
    if fmt == "text" and name.endswith(_WORD_PAGE_EXTENSIONS):
        source = "html-doc"  # a web page or Word 2003 XML that Word saved with a .doc name
    if source is not None:
        legacy.inspect(data, source)
        converted = conversions.converted(data, source, cache)
        return (read_xlsx if convert.TARGETS[source][1] == "xlsx" else read_docx)(converted), True
    if fmt in ("zip", "ole", "unknown", "text") and name.endswith(OFFICE_EXTENSIONS):
        if fmt == "ole":
            legacy.inspect(data, "xls" if name.endswith(_SPREADSHEET_EXTENSIONS) else "doc")
        what = "Excel" if name.endswith(_SPREADSHEET_EXTENSIONS) else "Word"
        raise DocumentError("corrupt",
                            f"文件已损坏，或并不是它的扩展名所示的 {what} 文件，无法打开。")
    return None, False


def _fix(code: str, fmt: str) -> str:
    if code == "convert-unavailable" and fmt in _SPREADSHEETS:
        return "请用 Excel/WPS 打开后“另存为” .xlsx 格式再发送。"
    return FIXES.get(code, "")


def _labels(campaign: Campaign) -> list[str]:
    """Every label a form of the campaign is read by: the printed ones, and the rules' own."""
    labels = list(APPROVAL_LABELS)
    for spec in campaign.documents:
        if spec.lists_studios:
            continue  # read by its header row and the line above it, not as label–value pairs
        extra = [*spec.required_fields, spec.studio_field or "", spec.unit_label or ""]
        if campaign.official is not None:  # the fields the form sent upward is filled from
            extra += campaign.official.labels(spec.key)
        labels += [label for label in extra if label and label not in labels]
    return labels


def _words(texts: list[str], counted: dict[str, int]) -> int:
    """count_document_words(texts), each distinct paragraph counted once: the body's paragraphs
    are also among all paragraphs, and a long material is nearly all body."""
    total = 0
    for text in texts:
        if text not in counted:
            counted[text] = count_words(text)
        total += counted[text]
    return total


def _build(filename: str, fmt: str, content: Content, campaign: Campaign) -> ReadDocument:
    text = content.text
    counted: dict[str, int] = {}
    labels = _labels(campaign)
    fields = key_values(content.tables, labels)
    summary_spec = campaign.studio_list
    studio_column = (summary_spec.studio_column if summary_spec else None) or "工作室名称"
    covered = outline_covered(text, text_outline(campaign))
    evidence = Evidence(
        summary_table=has_summary_table(content.tables, studio_column),
        approval_labels=sum(1 for label in APPROVAL_ONLY if label in fields),
        outline_hits=len(covered),
        prose_words=_words(content.body, counted),
    )
    kind: DocKind = recognise(filename, text, campaign, evidence=evidence)
    word_count = _words(content.paragraphs, counted)
    base = ReadDocument(filename, fmt, kind, text, word_count)
    if not campaign.has(kind):
        return base
    # What is taken out follows the spec, whatever its key: the table of studios (附件1), a
    # form about one studio (附件2), a text about one (附件3), or a form of the unit's own.
    spec = campaign.spec(kind)
    if spec.lists_studios:
        return _summary(base, content, spec, studio_column)
    if spec.studio_field is not None:
        return _approval(base, fields, spec)
    if spec.about_studio:
        studio = _material_studio(content, fields)
        studios = (studio,) if studio is not None else ()
        return replace(base, studios=studios, outline_covered=covered)
    unit = clean_name(fields.get(spec.unit_label, "")) if spec.unit_label else ""
    return replace(base, fields=fields, unit_name=unit or None,
                   outline_covered=covered if spec.outline else ())


def _summary(base: ReadDocument, content: Content, spec: DocumentSpec, column: str) -> ReadDocument:
    unit_label = spec.unit_label or "推荐单位"
    # The line above the table in .docx; in .xlsx it is a cell (whole line, or label + value).
    line = label_line(content.body or content.paragraphs, unit_label)
    unit = line.get(unit_label) or key_values(content.tables, [unit_label]).get(unit_label, "")
    fields = dict(line)
    if unit:
        fields[unit_label] = unit
    studios = summary_entries(content.tables, column)
    return replace(base, fields=fields, studios=studios, unit_name=unit or None)


def _approval(base: ReadDocument, fields: dict[str, str], spec: DocumentSpec) -> ReadDocument:
    studio_field = spec.studio_field or "工作室名称"
    unit_label = spec.unit_label or "所在单位"
    name = clean_name(fields.get(studio_field, ""))
    studios: tuple[StudioEntry, ...] = ()
    if name:
        studios = (
            StudioEntry(
                name=name,
                leader=clean_name(fields.get("领衔人姓名", "")),
                phone=fields.get("联系电话", ""),
                fields=dict(fields),
            ),
        )
    unit = clean_name(fields.get(unit_label, ""))
    return replace(base, fields=fields, studios=studios, unit_name=unit or None)


def _material_studio(content: Content, fields: dict[str, str]) -> StudioEntry | None:
    """The studio a material is about, when it says so plainly.

    In order: a 工作室名称 key–value (a table, or a "工作室名称：…" line); a 《…工作室》 in the
    first lines; a title line such as "智能制造创新工作室申报材料".
    """
    name = fields.get("工作室名称", "")
    if not name:
        for paragraph in content.paragraphs:
            found = re.search(r"工作室名称\s*[:：]\s*([^\n。；;，,]{2,60})", paragraph)
            if found:
                name = found.group(1)
                break
    head = [p.strip() for p in content.paragraphs if p.strip()][:6]
    if not name:
        for line in head:
            quoted = _STUDIO_IN_QUOTES.search(line)
            if quoted:
                name = quoted.group(1)
                break
    if not name:
        for line in head:
            title = _MATERIAL_TITLE.sub("", line)
            title = re.sub(r"^(附件\s*\S?\s*[:：、.]?|关于(推荐)?)", "", title).strip()
            title = title.removesuffix("的")
            if title.endswith("工作室") and len(title) <= 60:
                name = title
                break
    name = clean_name(name).rstrip("。；;，,")
    if not name:
        return None
    leader = re.search(r"领衔人(?:姓名)?\s*[:：]\s*([^\s，,。；;]{2,12})", content.text)
    return StudioEntry(name=name, leader=leader.group(1) if leader else "")

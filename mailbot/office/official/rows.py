"""The rows of the form sent upward: one per nominated studio, its cells from the units' forms.

The studios and the versions that count come from `progress` (as the workbook's 汇总 sheet reads
them); the values are read again from the stored files of those versions — the 附件1 row of the
studio and the studio's 附件2 — because the database keeps only what the checks need. Which
column takes which value is the campaign's `[official]` section, not code. A .doc or .wps form
is read through LibreOffice's .docx, kept by content in the state directory
(documents.conversions): converted when it came in, or at the first export, never again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache, partial
from pathlib import Path

from mailbot.campaign.dossier import StudioProgress, UnitProgress, campaign_progress
from mailbot.campaign.rules import Campaign, OfficialColumn, OfficialForm, source_parts
from mailbot.checks.formats import SCAN_FORMATS
from mailbot.documents import conversions, convert, read_document, studio_key
from mailbot.documents.conversions import ConversionCache
from mailbot.documents.grids import docx_tables
from mailbot.documents.tables import match_label, normalise, summary_entries
from mailbot.documents.xlsx_reader import read_xlsx
from mailbot.errors import ConfigError, DocumentError
from mailbot.store import blobs
from mailbot.store.handles import Session
from mailbot.store.models import Document

# A unit's 附件1 rows are matched against each of its studios: each name's key made once.
_key = lru_cache(maxsize=16384)(studio_key)


@dataclass(frozen=True)
class OfficialRow:
    unit: str  # the nominating unit, as the office knows it
    studio: str
    complete: bool  # every form of the studio received, none with an error
    values: tuple[str, ...]  # one per column of the form, as printed


@dataclass(frozen=True)
class OfficialTable:
    form: OfficialForm
    rows: tuple[OfficialRow, ...]

    @property
    def headers(self) -> list[str]:
        return [column.header for column in self.form.columns]

    @property
    def shares(self) -> list[float]:
        """Each column's share of the printed width: the rules' `width`, else by its header."""
        return [c.width or max(2.0, len(c.header) * 1.2) for c in self.form.columns]


def official_form(campaign: Campaign) -> OfficialForm:
    if campaign.official is None:
        raise ConfigError(f"规则文件没有 [official] 部分，无法生成上报用的汇总表（活动 "
                          f"{campaign.campaign.key}）：请在规则文件中写明表头和各列的来源。")
    return campaign.official


def collect(session: Session, campaign: Campaign, state_dir: Path, *,
            include_incomplete: bool = False) -> OfficialTable:
    """The form's rows: every complete studio of every unit, in unit order and, within a unit,
    in the order of its 附件1; with `include_incomplete`, the others too, marked."""
    form = official_form(campaign)
    files = _Files(campaign, blobs.for_session(session, state_dir), ConversionCache(state_dir))
    rows: list[OfficialRow] = []
    units = _progress(session, campaign)
    conversions.prefetch(files.to_convert(units, include_incomplete), files.cache)
    for unit in units:
        for studio in unit.studios:
            complete = studio_complete(studio, campaign)
            if not complete and not include_incomplete:
                continue
            # Per form of the rules, read only when a column asks for it: the studio's row of
            # the list (附件1), else the form's fields.
            sources = _Sources({spec.key: partial(files.summary_row, unit, studio, spec.key)
                                if spec.lists_studios
                                else partial(files.form, unit, studio, spec.key)
                                for spec in campaign.documents})
            values = [_value(column, sources, len(rows) + 1, unit.unit.display_name)
                      for column in form.columns]
            if not complete and form.mark_column is not None:
                at = [c.header for c in form.columns].index(form.mark_column)
                values[at] = "；".join(v for v in (values[at], form.incomplete_mark) if v)
            rows.append(OfficialRow(unit.unit.display_name, studio.name, complete,
                                    tuple(values)))
    return OfficialTable(form, tuple(rows))


def studio_complete(studio: StudioProgress, campaign: Campaign) -> bool:
    """Each form the campaign asks for is there for this studio, and none has an error."""
    kinds = [spec.key for spec in campaign.documents]
    docs = [studio.doc(kind) for kind in kinds]
    return all(doc is not None and doc.ok for doc in docs)


def _value(column: OfficialColumn, sources: Mapping[str, Mapping[str, str]], number: int,
           unit: str) -> str:
    """The first of the column's sources that is filled in."""
    for source in column.source:
        values = []
        for part in source_parts(source):
            if part == "seq":
                values.append(str(number))
            elif part == "unit":
                values.append(unit)
            else:
                kind, name = part.split(":", 1)
                values.append(lookup(sources.get(kind, {}), name))
        value = " ".join(v.strip() for v in values if v.strip())
        if value:
            return value
    return ""


def lookup(fields: Mapping[str, str], name: str) -> str:
    """The value under `name`, compared as the reader compares labels: width and spaces do not
    matter, and a header with a note in brackets (团队人数（人）) still answers to 团队人数."""
    wanted = normalise(name)
    for key, value in fields.items():
        if normalise(key) == wanted:
            return value
    for key, value in fields.items():
        if match_label(key, [name], inline=False) is not None:
            return value
    return ""


def _editable(unit: UnitProgress, studio: StudioProgress, kind: str) -> Document | None:
    """The studio's form of `kind` to read values from: never a scan, which has no text."""
    doc = studio.doc(kind)
    if doc is None or doc.format not in SCAN_FORMATS:
        return doc
    key = _key(studio.name)
    return next((d for d in unit.latest if d.kind == kind and d.format not in SCAN_FORMATS
                 and d.studio_key == key), None)


class _Sources(Mapping[str, Mapping[str, str]]):
    """A studio's values by form, each form read only when a column asks for it: a column
    takes its first filled source, so a 附件2 is read only where the 附件1 row leaves a gap,
    and a form no column names (附件3) is never read."""

    def __init__(self, loaders: dict[str, Callable[[], Mapping[str, str]]]) -> None:
        self._loaders = loaders
        self._read: dict[str, Mapping[str, str]] = {}

    def __getitem__(self, kind: str) -> Mapping[str, str]:
        if kind not in self._read:
            self._read[kind] = self._loaders[kind]()
        return self._read[kind]

    def __iter__(self) -> Iterator[str]:
        return iter(self._loaders)

    def __len__(self) -> int:
        return len(self._loaders)


class _Files:
    """Stored files read once each (a unit's 附件1 serves every one of its studios)."""

    def __init__(self, campaign: Campaign, store: blobs.Blobs, cache: ConversionCache) -> None:
        self._campaign = campaign
        self._store = store
        self.cache = cache
        self._read: dict[int, tuple[dict[str, str], list[tuple[str, dict[str, str]]]]] = {}

    def _load(self, doc: Document) -> tuple[dict[str, str], list[tuple[str, dict[str, str]]]]:
        if doc.id not in self._read:
            try:
                data = self._store.get(doc.stored_path)
            except OSError:
                data = b""  # gone from disk: its cells stay empty, the rest of the form is made
            if self._campaign.lists_studios(doc.kind) and doc.format in ("docx", "xlsx"):
                self._read[doc.id] = ({}, listed_rows(data, doc.format, self._campaign))
            else:
                read = read_document(doc.filename, data, doc.format, self._campaign,
                                     cache=self.cache)
                self._read[doc.id] = (dict(read.fields), [(entry.name, dict(entry.fields))
                                                          for entry in read.studios])
        return self._read[doc.id]

    def fields(self, doc: Document | None) -> dict[str, str]:
        return self._load(doc)[0] if doc is not None else {}

    def form(self, unit: UnitProgress, studio: StudioProgress, kind: str) -> dict[str, str]:
        """The fields of the studio's editable form of `kind` ({} when it has none)."""
        return self.fields(_editable(unit, studio, kind))

    def to_convert(self, units: Sequence[UnitProgress], include_incomplete: bool
                   ) -> Iterator[tuple[bytes, str]]:
        """The lists of studios (附件1) the form will read that LibreOffice must convert
        first (.doc, .wps, .xls…), as (data, format): for `conversions.prefetch`, which
        converts many in one run what reading them one by one would convert one run each."""
        for unit in units:
            if not any(include_incomplete or studio_complete(studio, self._campaign)
                       for studio in unit.studios):
                continue  # no row of this unit is printed: its 附件1 is never read
            for spec in self._campaign.documents:
                summary = _summary(unit, spec.key) if spec.lists_studios else None
                if summary is not None and summary.format in convert.TARGETS:
                    try:
                        yield self._store.get(summary.stored_path), summary.format
                    except OSError:
                        continue

    def summary_row(self, unit: UnitProgress, studio: StudioProgress,
                    kind: str) -> dict[str, str]:
        """The studio's row of the unit's 附件1 (header → cell), found by its tolerant key."""
        summary = _summary(unit, kind)
        if summary is None:
            return {}
        key = _key(studio.name)
        return next((row for name, row in self._load(summary)[1] if _key(name) == key), {})


def _summary(unit: UnitProgress, kind: str) -> Document | None:
    """The unit's list of studios of `kind` whose rows the form takes: not a scan."""
    return next((d for d in unit.latest if d.kind == kind and d.format not in SCAN_FORMATS),
                None)


def listed_rows(data: bytes, fmt: str, campaign: Campaign) -> list[tuple[str, dict[str, str]]]:
    """The studio rows of a list of studios (附件1) kept as .docx or .xlsx: (name, header →
    cell), as `read_document` finds them, from the file's tables alone (documents.grids):
    nothing of what only the checks need (recognising it, counting its 字数, its label–value
    pairs). Its kind was settled when it came in; a file that cannot be read has no rows."""
    spec = campaign.studio_list
    column = (spec.studio_column if spec else None) or "工作室名称"
    try:
        tables = docx_tables(data) if fmt == "docx" else read_xlsx(data).tables
    except DocumentError:
        return []
    return [(entry.name, dict(entry.fields)) for entry in summary_entries(tables, column)]


def _progress(session: Session, campaign: Campaign) -> Sequence[UnitProgress]:
    """Every unit's progress, as the workbook's 汇总 sheet computes it (the one read model)."""
    return campaign_progress(session, campaign)

"""The campaign as data: load and validate a rules file from `rules/`.

A rules file describes one call for applications — deadline, office, and the documents each unit
sends. Nothing about a particular campaign lives in code; a new campaign is a new TOML file.
A wrong file is reported as one clear line naming the field (RulesError).
"""

from __future__ import annotations

import re
import tomllib
from datetime import date, datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from mailbot.errors import RulesError

# A document's key is any identifier the rules file chooses ("summary", "recommendation"…);
# what the code does with a document follows its spec (per, studio_column, studio_field, …).
# At most 16 characters: the store keeps it in documents.kind.
DocKey = str
KEY_PATTERN = r"^[a-z][a-z0-9_]{0,15}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CampaignInfo(_Strict):
    key: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    title: str
    opens: datetime | None = None  # when the call went out; earlier mail is not for it
    deadline: datetime
    timezone: str = "Asia/Shanghai"
    late_policy: Literal["accept", "refuse"] = "accept"
    grace_minutes: int = Field(default=0, ge=0)
    receipt_prefix: str = Field(pattern=r"^[A-Za-z0-9-]+$")
    keywords: list[str] = Field(default_factory=list)  # words that mark a mail as this call's


    @field_validator("keywords")
    @classmethod
    def _words(cls, words: list[str]) -> list[str]:
        if any(not word.strip() for word in words):
            raise ValueError("a keyword is empty")
        return [word.strip() for word in words]

    @model_validator(mode="after")
    def _opens_before_deadline(self) -> CampaignInfo:
        if self.opens_at is not None and self.opens_at >= self.deadline_at:
            raise ValueError(f"opens ({self.opens}) must be before the deadline "
                             f"({self.deadline})")
        return self

    @field_validator("opens", "deadline", mode="before")
    @classmethod
    def _with_time_of_day(cls, value: object) -> object:
        # TOML `2022-10-10` is a date: taken as midnight it closed the call 17.5 hours early.
        if isinstance(value, date) and not isinstance(value, datetime):
            raise ValueError(f"{value} has no time of day (e.g. {value}T17:30:00)")
        if isinstance(value, str) and not re.search(r"\d[T ]\d{1,2}:\d{2}", value):
            raise ValueError(f"{value!r} has no time of day (e.g. 2022-10-10T17:30:00)")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (e.g. Asia/Shanghai)") from None
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def deadline_at(self) -> datetime:
        """The deadline as an aware datetime (a naive value in the file is local to `timezone`)."""
        if self.deadline.tzinfo is None:
            return self.deadline.replace(tzinfo=self.zone)
        return self.deadline

    @property
    def opens_at(self) -> datetime | None:
        """When the call opened, aware (naive values are local to `timezone`); None: always."""
        if self.opens is None or self.opens.tzinfo is not None:
            return self.opens
        return self.opens.replace(tzinfo=self.zone)


class OfficeInfo(_Strict):
    name: str
    contact: str
    phone: str
    email: str
    room: str
    paper_copies: str


class DocumentSpec(_Strict):
    key: DocKey = Field(pattern=KEY_PATTERN)  # "unknown" is taken: an unrecognised file
    label: str  # 附件1
    title: str  # 推荐汇总表
    per: Literal["unit", "studio"]
    formats: list[str] = Field(min_length=1)
    name_patterns: list[str] = Field(min_length=1)
    content_markers: list[str] = Field(default_factory=list)
    required_fields: list[str] = Field(default_factory=list)
    max_words: int | None = Field(default=None, gt=0)
    outline: list[str] = Field(default_factory=list)
    studio_column: str | None = None  # summary: header of the studio-name column
    studio_field: str | None = None  # approval: label of the studio-name field
    unit_label: str | None = None  # label that precedes the applying unit's name
    # A form that carries a stamp, so a scan of it is the signed copy beside the file (not a
    # warning); unset: every form without a 字数 limit or outline (a table, not a text).
    signed: bool | None = None

    @field_validator("name_patterns")
    @classmethod
    def _patterns_compile(cls, patterns: list[str]) -> list[str]:
        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"bad regular expression {pattern!r}: {exc}") from None
        return patterns

    @field_validator("key")
    @classmethod
    def _not_unknown(cls, key: str) -> str:
        if key == "unknown":
            raise ValueError("'unknown' names an unrecognised file; choose another key")
        return key

    @model_validator(mode="after")
    def _studio_list_per_unit(self) -> DocumentSpec:
        if self.studio_column is not None and self.per != "unit":
            raise ValueError("studio_column (a table listing the studios) needs per = \"unit\"")
        return self

    @property
    def lists_studios(self) -> bool:
        """A table of the unit's nominated studios (the 推荐汇总表): per unit, by its column."""
        return self.studio_column is not None

    @property
    def is_signed(self) -> bool:
        if self.signed is not None:
            return self.signed
        return self.max_words is None and not self.outline

    @property
    def about_studio(self) -> bool:
        """One form per nominated studio (per = "studio")."""
        return self.per == "studio"

    @property
    def display(self) -> str:
        """How the document is named to people: 附件2《推荐审批表》."""
        return f"{self.label}《{self.title}》"

    @cached_property
    def compiled_patterns(self) -> list[re.Pattern[str]]:
        return [re.compile(p, re.IGNORECASE) for p in self.name_patterns]


_DURATION = re.compile(r"^(\d+)\s*([dhm])$")
_UNIT_SECONDS = {"d": 86400, "h": 3600, "m": 60}


def parse_offset(text: str) -> timedelta:
    """"3d", "1d", "3h", "30m" → a timedelta; anything else is a ValueError."""
    found = _DURATION.match(text.strip().lower())
    if found is None:
        raise ValueError(f"{text!r} is not a duration like 3d, 12h or 30m")
    return timedelta(seconds=int(found.group(1)) * _UNIT_SECONDS[found.group(2)])


class RosterUnit(_Strict):
    """A unit expected to apply: reminders reach it even if it never writes."""

    name: str = Field(min_length=1)
    aliases: list[str] = Field(default_factory=list)
    emails: list[str] = Field(default_factory=list)

    @field_validator("emails")
    @classmethod
    def _addresses(cls, emails: list[str]) -> list[str]:
        for email in emails:
            if "@" not in email or " " in email.strip():
                raise ValueError(f"{email!r} is not an e-mail address")
        return [e.strip().lower() for e in emails]


class ReminderPolicy(_Strict):
    # How long before the deadline a reminder goes to every unit still missing something.
    before_deadline: list[str] = Field(default_factory=lambda: ["3d", "1d", "3h"])

    @field_validator("before_deadline")
    @classmethod
    def _durations(cls, offsets: list[str]) -> list[str]:
        for offset in offsets:
            parse_offset(offset)
        if len({parse_offset(o) for o in offsets}) != len(offsets):
            raise ValueError("the same offset is given twice")
        return offsets

    def schedule(self, deadline: datetime) -> list[tuple[str, datetime]]:
        """(offset, moment) pairs, earliest moment first."""
        moments = [(offset, deadline - parse_offset(offset)) for offset in self.before_deadline]
        return sorted(moments, key=lambda pair: pair[1])


_SOURCE = re.compile(r"^(seq|unit|[a-z][a-z0-9_]*:\S.*)$")
JOIN = " + "  # "approval:所在单位 + approval:职务/职称": the values side by side


def source_parts(source: str) -> list[str]:
    """The single sources a source names: itself, or each of those it joins with " + "."""
    return [part.strip() for part in source.split(JOIN)]


class OfficialColumn(_Strict):
    """One column of the form sent upward: its printed header and where its value comes from.

    `source` is "seq" (the row number), "unit" (the nominating unit), or "<document key>:<name>"
    — a column header of the unit's 附件1 row ("summary:领衔人荣誉称号") or a field label of the
    studio's form ("approval:荣誉称号"); sources joined with " + " give their values side by
    side. Several sources: the first that is filled wins."""

    header: str = Field(min_length=1)
    source: list[str] = Field(min_length=1)
    width: float = Field(default=0, ge=0)  # relative print width; 0: from the header's length

    @field_validator("source", mode="before")
    @classmethod
    def _one_or_many(cls, value: object) -> object:
        return [value] if isinstance(value, str) else value

    @field_validator("source")
    @classmethod
    def _known_sources(cls, sources: list[str]) -> list[str]:
        for source in sources:
            if not all(_SOURCE.match(part) for part in source_parts(source)):
                raise ValueError(f"source {source!r} is not seq, unit, summary:<列名> or "
                                 "approval:<栏目名> (or several of them joined with ' + ')")
        return sources


class OfficialForm(_Strict):
    """The consolidated form the office forwards upward (`mailbot export --official`)."""

    label: str = ""  # printed above the title, as on the blank form (附件1)
    title: str = Field(min_length=1)
    recommending_unit: str = Field(min_length=1)  # the 推荐单位（盖章）line the office signs
    columns: list[OfficialColumn] = Field(min_length=1)
    note: str = ""  # printed under the table
    mark_column: str | None = None  # where an incomplete studio is marked (with the option)
    incomplete_mark: str = "材料未齐"

    @model_validator(mode="after")
    def _mark_column_exists(self) -> OfficialForm:
        headers = [column.header for column in self.columns]
        if len(headers) != len(set(headers)):
            raise ValueError("each official column header may appear only once")
        if self.mark_column is not None and self.mark_column not in headers:
            raise ValueError(f"mark_column {self.mark_column!r} is not one of the columns")
        return self

    def labels(self, kind: str) -> list[str]:
        """The names the columns read from documents of `kind` ("approval" → field labels)."""
        prefix = f"{kind}:"
        return [part[len(prefix):] for column in self.columns for source in column.source
                for part in source_parts(source) if part.startswith(prefix)]


class Campaign(_Strict):
    campaign: CampaignInfo
    office: OfficeInfo
    documents: list[DocumentSpec] = Field(min_length=1)
    units: list[RosterUnit] = Field(default_factory=list)  # the roster; may be empty
    reminders: ReminderPolicy = Field(default_factory=ReminderPolicy)
    official: OfficialForm | None = None  # the form forwarded upward; unset: no such export

    @model_validator(mode="after")
    def _roster_unique(self) -> Campaign:
        names = [n for unit in self.units for n in (unit.name, *unit.aliases)]
        if len(names) != len(set(names)):
            raise ValueError("a unit name or alias appears twice in the roster")
        emails = [e for unit in self.units for e in unit.emails]
        if len(emails) != len(set(emails)):
            raise ValueError("an e-mail address belongs to two roster units")
        return self

    @property
    def cutoff(self) -> datetime:
        """The last moment a mail counts as on time: the deadline plus any grace period."""
        info = self.campaign
        return info.deadline_at + timedelta(minutes=info.grace_minutes)

    @model_validator(mode="after")
    def _one_spec_per_key(self) -> Campaign:
        keys = [d.key for d in self.documents]
        if len(keys) != len(set(keys)):
            raise ValueError("each documents.key may appear only once")
        if sum(1 for d in self.documents if d.lists_studios) > 1:
            raise ValueError("only one document may list the studios (studio_column)")
        for column in self.official.columns if self.official else []:
            for part in [p for source in column.source for p in source_parts(source)]:
                kind = part.split(":", 1)[0]
                if ":" in part and kind not in keys:
                    raise ValueError(f"official column {column.header!r}: source {part!r} "
                                     f"reads {kind!r}, which is not one of the documents")
        return self

    def spec(self, key: str) -> DocumentSpec:
        for spec in self.documents:
            if spec.key == key:
                return spec
        raise KeyError(key)

    def has(self, key: str) -> bool:
        return any(spec.key == key for spec in self.documents)

    @property
    def studio_list(self) -> DocumentSpec | None:
        """The document that lists the unit's studios (附件1), if the campaign has studios."""
        return next((spec for spec in self.documents if spec.lists_studios), None)

    @property
    def has_studios(self) -> bool:
        """Whether a unit nominates studios (some form is per studio, or lists them)."""
        return any(spec.about_studio or spec.lists_studios for spec in self.documents)

    def per_unit(self, kind: str) -> bool:
        """One copy per unit of this kind (an unknown kind counts as per unit: it names none)."""
        return not self.has(kind) or self.spec(kind).per == "unit"

    def lists_studios(self, kind: str) -> bool:
        return self.has(kind) and self.spec(kind).lists_studios


def load_rules(path: Path) -> Campaign:
    """Read and validate a rules file; any problem is one RulesError naming the field."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RulesError(f"规则文件不存在 / rules file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RulesError(f"cannot read rules file {path}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise RulesError(f"rules file {path} is not valid TOML: {exc}") from None
    try:
        return Campaign.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "(top level)"
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise RulesError(f"rules file {path}: field `{where}`: {first['msg']}{more}") from None


def load_campaigns(path: Path) -> list[Campaign]:
    """Every campaign `path` holds: a rules file, or a directory whose every *.toml is one
    (in name order). Two campaigns may not share a key or a receipt prefix."""
    if not path.is_dir():
        return [load_rules(path)]
    files = sorted(path.glob("*.toml"))
    if not files:
        raise RulesError(f"no campaign rules file (*.toml) in {path}; set MAILBOT_RULES")
    campaigns = [load_rules(file) for file in files]
    for field in ("key", "receipt_prefix"):
        seen: dict[str, Path] = {}
        for file, campaign in zip(files, campaigns, strict=True):
            value = str(getattr(campaign.campaign, field))
            if value in seen:
                raise RulesError(f"rules files {seen[value].name} and {file.name}: "
                                 f"field `campaign.{field}` {value!r} is the same")
            seen[value] = file
    return campaigns

"""The campaign-wide loading of the dossier (`store.queries.dossier`) against the one-unit path.

The pages listing every unit read the versions that may count from plain rows, with the
versions that can never count left out in SQL; a unit's page, the workbook and the intake read
every version of the unit. Here many units with random histories — versions on time and late,
scans, forms that could not be read, per-studio forms naming no studio, 待核实 senders, mails
received at the same moment — are written to a real database, and every path must give
the same standing for every unit, whichever the late policy, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import json
import random
from datetime import timedelta
from pathlib import Path

import pytest

from mailbot.campaign.dossier import (
    Standing,
    all_progress,
    campaign_progress,
    campaign_standings,
    unit_progress,
)
from mailbot.campaign.rules import Campaign, load_rules
from mailbot.documents import studio_key
from mailbot.store.database import open_database
from mailbot.store.handles import Session, Sessions
from mailbot.store.models import REVIEW_CONFIRMED, REVIEW_PENDING, Document, Message, Unit
from mailbot.store.queries.dossier import campaign_copies

RULES = Path(__file__).resolve().parent.parent / "rules" / "laomo-gongjiang-2022.toml"
STUDIOS = ["第一劳模创新工作室", "第二劳模创新工作室", "第三技能大师工作室"]
KINDS = ["summary", "approval", "material", "summary", "approval", "material", "memo",
         "unknown"]
UNITS = 60


def _campaign(policy: str) -> Campaign:
    base = load_rules(RULES)
    return base.model_copy(update={
        "campaign": base.campaign.model_copy(update={"late_policy": policy})})


def _document(chance: random.Random, message: Message, unit: Unit, position: int) -> Document:
    kind = chance.choice(KINDS)
    name = chance.choice([*STUDIOS, ""]) if kind in ("approval", "material") else ""
    listed = chance.sample(STUDIOS, chance.randint(0, 3)) if kind == "summary" else []
    return Document(
        message=message, unit=unit, position=position, filename=f"{kind}-{position}.docx",
        format=chance.choice(["docx", "docx", "docx", "pdf"]), kind=kind, sha256="0" * 64,
        stored_path=f"files/{position}", size=1, studio_name=name,
        studio_key=studio_key(name) if name else "",
        studios_json=json.dumps(listed, ensure_ascii=False), ok=chance.random() < 0.75,
        unconfirmed=chance.random() < 0.1)


def _fill(sessions: Sessions, campaign: Campaign, seed: int) -> None:
    """Units with a random history each: 0-9 mails of 1-4 forms, around the cutoff."""
    chance = random.Random(seed)
    cutoff = campaign.cutoff
    with sessions.begin() as session:
        for number in range(UNITS):
            unit = Unit(key=f"address:u{number}@test.example", name=f"第{number}学院",
                        created_at=cutoff - timedelta(days=30))
            session.add(unit)
            for mail in range(chance.randint(0, 9)):
                # Few distinct moments, so that mails share one and the id decides.
                received = cutoff + timedelta(hours=chance.randint(-6, 3))
                message = Message(
                    message_id=f"<{seed}.{number}.{mail}@test.example>", unit=unit,
                    received_at=received, from_addr=f"u{number}@test.example", subject="申报",
                    raw_path=f"raw/{number}/{mail}.eml", size=1, result="受理",
                    late=received > cutoff, receipt_no="", processed_at=received,
                    review=chance.choice([REVIEW_PENDING, REVIEW_CONFIRMED, ""]))
                session.add(message)
                for position in range(chance.randint(1, 4)):
                    session.add(_document(chance, message, unit, position))


def _every_path(session: Session, campaign: Campaign) -> dict[str, list[Standing]]:
    units = session.query(Unit).order_by(Unit.id).all()
    documents = session.query(Document).all()  # as the workbook reads them, with their mails
    return {
        "listing (plain rows, pruned)": campaign_standings(session, campaign),
        "campaign_progress (documents, pruned)": [
            p.standing for p in campaign_progress(session, campaign)],
        "unit_progress (every version)": [
            unit_progress(session, unit, campaign).standing for unit in units],
        "all_progress (the workbook's)": [
            p.standing for p in all_progress(units, documents, campaign)],
    }


@pytest.mark.parametrize("policy", ["accept", "refuse"])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_every_path_gives_every_unit_the_same_standing(database_url: str, policy: str,
                                                      seed: int) -> None:
    campaign = _campaign(policy)
    sessions = open_database(database_url)
    _fill(sessions, campaign, seed)
    with sessions() as session:
        paths = _every_path(session, campaign)
        reference = paths.pop("unit_progress (every version)")
        assert len(reference) == UNITS
        # The histories are varied enough to mean something: late versions counting or not,
        # studio forms, 待核实 ones, units complete and not.
        assert {s.status for s in reference} >= {"未齐全", "未提交"}
        assert any(s.studios for s in reference)
        assert any(form.unconfirmed for s in reference for form in s.forms)
        assert any(s.late for s in reference) == (policy == "accept")
        for name, standings in paths.items():
            assert standings == reference, name


def test_versions_replaced_in_time_are_not_loaded(tmp_path: Path) -> None:
    """The point of the pruning: a unit sending its set ten times on time is read once."""
    campaign = _campaign("accept")
    sessions = open_database(f"sqlite:///{tmp_path / 'mailbot.sqlite3'}")
    with sessions.begin() as session:
        unit = Unit(key="address:a@test.example", name="甲学院",
                    created_at=campaign.cutoff - timedelta(days=30))
        for mail in range(10):
            received = campaign.cutoff - timedelta(hours=10 - mail)
            message = Message(message_id=f"<{mail}@test.example>", unit=unit,
                              received_at=received, from_addr="a@test.example", subject="申报",
                              raw_path=f"raw/{mail}.eml", size=1, result="受理", late=False,
                              receipt_no="", processed_at=received)
            session.add(Document(message=message, unit=unit, position=0, filename="附件1.docx",
                                 format="docx", kind="summary", sha256="0" * 64,
                                 stored_path="files/1", size=1, studios_json="[]"))
    with sessions() as session:
        loaded = campaign_copies(session, campaign.cutoff, ["approval", "material"], ["pdf"])
        [only] = loaded.copies
        assert only.received_at == max(m.received_at for m in session.query(Message))
        [standing] = campaign_standings(session, campaign)
        assert standing.counting == (only.id,)

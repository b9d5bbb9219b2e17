"""Several campaigns in one database: a session that sees only its own campaign's rows.

With one campaign configured nothing is scoped (the database holds that campaign alone, and
release 0.1's rows are filed under it). With several, each campaign works through a session
factory from `scope`: new rows are filed under its key, and every ORM SELECT of a table that
carries `campaign` gets `campaign = key` added — units, messages, documents, findings, replies,
reminders and milestones — so a unit of one campaign can never match another campaign's mail and
a workbook holds its campaign's rows only. The criterion is read from the session when a query
runs: the intake sets it once it knows which campaign a mail is for (`file_under`).

What belongs to the mailbox rather than to a campaign (is this Message-ID recorded already?
which campaign sent the reply this mail answers? the 未归类 list) asks `ACROSS_CAMPAIGNS`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session, sessionmaker, with_loader_criteria

from mailbot.store.database import file_under_campaign
from mailbot.store.models import (
    Document,
    FindingRow,
    Message,
    Milestone,
    OfficeAction,
    Reminder,
    Reply,
    Unit,
    UnitAddress,
)
from mailbot.store.statedir import drop_files, keep_files

# `.execution_options(**ACROSS_CAMPAIGNS)`: this query is about the mailbox, not one campaign.
ACROSS_CAMPAIGNS: dict[str, Any] = {"across_campaigns": True}
_SCOPED = (Unit, UnitAddress, Message, Document, FindingRow, Reply, Reminder, Milestone,
           OfficeAction)


def scope(sessions: sessionmaker[Session], campaign: str) -> sessionmaker[Session]:
    """A session factory on the same database whose sessions see and file under `campaign`."""
    scoped: sessionmaker[Session] = sessionmaker(sessions.kw["bind"], expire_on_commit=False,
                                                 info={"campaign": campaign, "scoped": True})
    event.listen(scoped, "before_flush", file_under_campaign)
    event.listen(scoped, "after_commit", keep_files)
    event.listen(scoped, "after_rollback", drop_files)
    event.listen(scoped, "do_orm_execute", _only_this_campaign)
    return scoped


def file_under(session: Session, campaign: str) -> None:
    """From now on, this session's new rows and its queries are `campaign`'s."""
    session.info["campaign"] = campaign


def is_scoped(session: Session) -> bool:
    return bool(session.info.get("scoped"))


def _only_this_campaign(state: ORMExecuteState) -> None:
    if not state.is_select or state.execution_options.get("across_campaigns"):
        return
    key = state.session.info["campaign"]
    for model in _SCOPED:
        state.statement = state.statement.options(with_loader_criteria(
            model, lambda cls: cls.campaign == key, include_aliases=True))

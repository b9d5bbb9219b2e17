"""`mailbot poll --dry-run`: what each new mail would get, and nothing changed anywhere.

The real pipeline runs on each new mail (so the answer is the one a real poll would give),
inside a database transaction that is always rolled back, with `Intake.dry_run` so no received
file is written. The folder is opened read-only (EXAMINE): no flag, no move, not even \\Recent.
No raw mail is kept, no workbook written, no reply sent.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from mailbot.intake import pipeline, quarantine
from mailbot.intake.cycle import Runtime, header_only_before, recorded_uids
from mailbot.mail.fetched import FetchedMail
from mailbot.mail.imap import Mailbox
from mailbot.mail.parse import BrokenMail
from mailbot.store.models import QUARANTINED, UNCLASSIFIED
from mailbot.store.queries import mailbox as recorded
from mailbot.timefmt import show

DUPLICATE = "已登记（重复投递）"
LEFT_ALONE = "不处理（不回复、不标记）"


@dataclass(frozen=True)
class Preview:
    received_at: str  # as shown to people
    sender: str
    subject: str
    campaign: str  # the campaign's title, or 未归类
    result: str  # 处理结果 it would get (or 未归类, or DUPLICATE)
    problems: tuple[str, ...]


def preview(runtime: Runtime) -> list[Preview]:
    """Every mail a poll would process now, oldest first, as it would be processed."""
    intake = replace(runtime.intake, dry_run=True)
    found = []
    with Mailbox(runtime.settings) as box:
        uidvalidity = box.open_folder(readonly=True)
        recorded = recorded_uids(runtime, box.folder, uidvalidity)
        for uid in box.pending_uids():
            if uid in recorded:
                continue
            fetched = box.fetch(uid, header_only_before=header_only_before(runtime))
            if fetched is not None:
                found.append(_one(runtime, intake, fetched))
    return found


def _one(runtime: Runtime, intake: pipeline.Intake, fetched: FetchedMail) -> Preview:
    title = runtime.campaign.campaign.title
    session = runtime.sessions()
    try:
        try:
            message, new = pipeline.handle(session, intake, fetched.raw, "（预览）",
                                           fetched.received_at, fetched.omitted)
        except Exception as exc:  # what a real poll would quarantine
            reason = str(exc) if isinstance(exc, BrokenMail) else \
                f"处理时出错（{type(exc).__name__}: {exc}）"
            return _broken(fetched, title, reason)
        problems = recorded.finding_texts(session, message.id)
        if message.result == UNCLASSIFIED:
            return Preview(show(fetched.received_at), message.from_addr, message.subject,
                           UNCLASSIFIED, LEFT_ALONE, ())
        # With several campaigns, the one the mail was routed to (its row is filed under it).
        titles = {c.campaign.key: c.campaign.title for c in runtime.campaigns}
        return Preview(show(fetched.received_at), message.from_addr, message.subject,
                       titles.get(message.campaign or "", title),
                       message.result if new else DUPLICATE, problems)
    finally:
        session.rollback()  # nothing of it stays
        session.close()


def _broken(fetched: FetchedMail, title: str, reason: str) -> Preview:
    headers = quarantine.loose_headers(fetched.raw)
    return Preview(show(fetched.received_at), headers.get("From", ""),
                   headers.get("Subject", ""), title, QUARANTINED, (reason,))

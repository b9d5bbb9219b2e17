"""A test harness around the real bot: Dovecot in, workbook and applicants' INBOXes out."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import openpyxl
from servers import Dovecot, SmtpRelay

from mailbot.campaign.rules import Campaign, load_rules
from mailbot.config import ServerSettings, Settings
from mailbot.demo.mailfactory import ClientStyle, build_mail
from mailbot.intake.cycle import CycleTally, Runtime, run_cycle
from mailbot.timefmt import OFFICE_ZONE

OFFICE = "office@test.example"
UNIT_ADDRESS = "unit-a@test.example"
RULES = Path(__file__).resolve().parent.parent / "rules" / "laomo-gongjiang-2022.toml"
ON_TIME = datetime(2022, 10, 9, 10, 0, tzinfo=OFFICE_ZONE)


@dataclass
class Bot:
    """The bot as deployed: Settings pointing at the test servers, a state directory."""

    dovecot: Dovecot
    relay: SmtpRelay
    state_dir: Path
    campaign: Campaign
    handled_folder: str = ""
    public_url: str = ""

    @property
    def settings(self) -> Settings:
        return Settings(
            imap=ServerSettings(host=self.dovecot.host, port=self.dovecot.imap_port, user=OFFICE,
                                password=self.dovecot.password, security="none"),
            smtp=ServerSettings(host=self.relay.host, port=self.relay.port, security="none"),
            from_address=OFFICE, office_email="clerk@test.example", state_dir=self.state_dir,
            handled_folder=self.handled_folder, public_url=self.public_url)

    def environment(self, **extra: str) -> dict[str, str]:
        """The environment a `mailbot` child process needs to be this bot (nothing else of
        MAILBOT_* leaks in from the test runner's own environment)."""
        s = self.settings
        env = {k: v for k, v in os.environ.items() if not k.startswith("MAILBOT_")}
        env.update({"MAILBOT_IMAP_HOST": s.imap.host, "MAILBOT_IMAP_PORT": str(s.imap.port),
                    "MAILBOT_IMAP_USER": s.imap.user, "MAILBOT_IMAP_PASSWORD": s.imap.password,
                    "MAILBOT_IMAP_SECURITY": "none", "MAILBOT_SMTP_HOST": s.smtp.host,
                    "MAILBOT_SMTP_PORT": str(s.smtp.port), "MAILBOT_SMTP_SECURITY": "none",
                    "MAILBOT_FROM": s.from_address, "MAILBOT_STATE_DIR": str(s.state_dir)})
        env.update(extra)
        return env

    def submit(self, sender: str, files: Sequence[tuple[str, bytes]], *,
               style: ClientStyle = "rfc2231", received: datetime = ON_TIME,
               date: datetime | None = None, subject: str = "工作室申报材料",
               message_id: str | None = None) -> bytes:
        """An applicant's mail, as received by the office mailbox at `received` (its body
        names the call, so that it is the campaign's whatever its subject)."""
        raw = build_mail(sender=sender, to=OFFICE, subject=subject, body="请查收申报材料。",
                         attachments=files, style=style, date=date or received,
                         message_id=message_id)
        self.dovecot.append(OFFICE, raw, internaldate=received)
        return raw

    def poll(self) -> CycleTally:
        return run_cycle(Runtime(self.settings, self.campaign))

    def replies(self, address: str) -> list[EmailMessage]:
        return [message_from_bytes(raw, policy=default_policy)  # type: ignore[misc]
                for raw in self.dovecot.messages(address)]

    def sheet(self, name: str) -> list[dict[str, Any]]:
        """A sheet of the workbook, reopened from disk, as a list of {header: value}."""
        book = openpyxl.load_workbook(self.state_dir / "汇总表.xlsx")
        rows = list(book[name].iter_rows(values_only=True))
        return [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]


def body(mail: EmailMessage) -> str:
    part = mail.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def make_bot(dovecot: Dovecot, relay: SmtpRelay, tmp_path: Path) -> Bot:
    return Bot(dovecot, relay, tmp_path / "state", load_rules(RULES))

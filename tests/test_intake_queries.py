"""What the intake asks the database about our own replies (`store.queries.intake`): every
Message-ID a mail names asked in one statement, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from mailbot.campaign.rules import load_rules
from mailbot.config import DEFAULT_RULES_DIR
from mailbot.store.database import open_database
from mailbot.store.models import Reply
from mailbot.store.queries import intake as queries
from mailbot.timefmt import utcnow


def test_our_replies_are_found_by_any_of_the_ids_a_mail_names(database_url: str,
                                                              tmp_path: Path) -> None:
    rules = load_rules(DEFAULT_RULES_DIR / "laomo-gongjiang-2022.toml")
    sessions = open_database(database_url, rules.campaign.key)
    with sessions.begin() as session:
        for number in (1, 2):
            session.add(Reply(message_pk=None, kind="acknowledgement", to_addr="a@test.example",
                              subject="", raw=b"", smtp_message_id=f"<ours-{number}@test>",
                              status="sent", created_at=utcnow()))
    with sessions() as session:
        found = queries.reply_campaigns(session, ["<ours-2@test>", "<theirs@test>", "",
                                                  "<ours-2@test>"])
        # Every ID asked is a key: None where no reply of ours went out under it.
        assert found == {"<ours-2@test>": rules.campaign.key, "<theirs@test>": None, "": None}
        assert queries.reply_campaigns(session, []) == {}
        assert queries.reply_campaign(session, "<ours-1@test>") == rules.campaign.key
    sessions.kw["bind"].dispose()

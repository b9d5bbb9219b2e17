"""Settings: file and environment, environment wins, every mistake is one clear message."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailbot.campaign.rules import load_campaigns, load_rules
from mailbot.config import load_settings
from mailbot.errors import ConfigError, RulesError

RULES = Path(__file__).resolve().parent.parent / "rules" / "laomo-gongjiang-2022.toml"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "mailbot.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_file_then_environment_which_wins(tmp_path: Path) -> None:
    config = write(tmp_path, """
from = "office@example.org"
state_dir = "/srv/mailbot"
poll_seconds = 30
[imap]
host = "imap.example.org"
user = "office@example.org"
password = "from-file"
security = "starttls"
""")
    settings = load_settings(config, environ={"MAILBOT_IMAP_PASSWORD": "from-env",
                                              "MAILBOT_SMTP_HOST": "smtp.example.org"})
    assert settings.imap.host == "imap.example.org"
    assert settings.imap.password == "from-env"
    assert settings.imap.port_for("imap") == 143  # the usual port for STARTTLS
    assert settings.smtp.host == "smtp.example.org"
    assert settings.state_dir == Path("/srv/mailbot")
    assert settings.poll_seconds == 30
    assert settings.database == "sqlite:////srv/mailbot/mailbot.sqlite3"
    assert "from-env" not in repr(settings)  # passwords never land in logs


def test_config_named_by_environment_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_settings(environ={"MAILBOT_CONFIG": str(tmp_path / "missing.toml")})


@pytest.mark.parametrize(("text", "message"), [
    ("[imap]\nhots = 'x'\n", "unknown key `imap.hots`"),
    ("colour = 1\n", "unknown key `colour`"),
    ("[imap]\nport = 'abc'\n", "MAILBOT_IMAP_PORT .* must be a whole number"),
    ("[smtp]\nsecurity = 'tls'\n", "MAILBOT_SMTP_SECURITY .* must be ssl, starttls or none"),
    ("[imap\n", "not valid TOML"),
])
def test_bad_config_is_one_clear_message(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(write(tmp_path, text), environ={})


def test_missing_server_settings_are_named() -> None:
    settings = load_settings(environ={"MAILBOT_IMAP_HOST": "imap.example.org"})
    with pytest.raises(ConfigError) as caught:
        settings.require_imap()
    assert "MAILBOT_IMAP_USER" in str(caught.value)
    assert "MAILBOT_IMAP_PASSWORD" in str(caught.value)
    assert "MAILBOT_IMAP_HOST" not in str(caught.value)


def test_the_campaign_rules_load() -> None:
    campaign = load_rules(RULES)
    assert campaign.campaign.deadline_at.isoformat() == "2022-10-10T17:30:00+08:00"
    assert campaign.spec("material").max_words == 2000
    assert campaign.spec("approval").display == "附件2《推荐审批表》"
    assert campaign.office.room == "C3行政楼1307"
    assert [c.campaign.key for c in load_campaigns(RULES.parent)] == [campaign.campaign.key]


@pytest.mark.parametrize(("change", "field"), [
    (("late_policy = \"accept\"", "late_policy = \"maybe\""), "campaign.late_policy"),
    (("timezone = \"Asia/Shanghai\"", "timezone = \"Mars/Olympus\""), "campaign.timezone"),
    (("max_words = 2000", "max_words = -5"), "documents.2.max_words"),
    (("per = \"unit\"", "per = \"team\""), "documents.0.per"),
    (("contact = \"李田甜\"\n", ""), "office.contact"),
    # a date alone silently meant midnight: the call would have closed 17.5 hours early
    (("deadline = 2022-10-10T17:30:00", "deadline = 2022-10-10"), "campaign.deadline"),
    (("deadline = 2022-10-10T17:30:00", "deadline = \"2022-10-10\""), "campaign.deadline"),
    (("timezone = \"Asia/Shanghai\"", "timezone = \"Asia/Beijing\""), "campaign.timezone"),
])
def test_a_wrong_rules_file_names_the_field(tmp_path: Path, change: tuple[str, str],
                                            field: str) -> None:
    text = RULES.read_text(encoding="utf-8")
    assert change[0] in text
    broken = tmp_path / "broken.toml"
    broken.write_text(text.replace(change[0], change[1], 1), encoding="utf-8")
    with pytest.raises(RulesError, match=f"field `{field}`"):
        load_rules(broken)


def test_a_rules_directory_is_every_campaign_in_it(tmp_path: Path) -> None:
    """MAILBOT_RULES may be a directory: each *.toml a campaign, none sharing a key."""
    text = RULES.read_text(encoding="utf-8")
    (tmp_path / "a.toml").write_text(text, encoding="utf-8")
    (tmp_path / "b.toml").write_text(text.replace('key = "laomo-gongjiang-2022"', 'key = "b"')
                                     .replace('"GZS2022"', '"B2022"'), encoding="utf-8")
    assert [c.campaign.key for c in load_campaigns(tmp_path)] == ["laomo-gongjiang-2022", "b"]
    (tmp_path / "b.toml").write_text(text, encoding="utf-8")
    with pytest.raises(RulesError, match="same"):
        load_campaigns(tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(RulesError, match=r"no campaign rules file \(\*\.toml\)"):
        load_campaigns(empty)

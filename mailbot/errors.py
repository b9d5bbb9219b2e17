"""The one exception root of mailbot.

    MailbotError                  anything mailbot raises on purpose; its str() is for a person
    ├── ConfigError               the configuration (file or environment) is wrong or incomplete
    ├── RulesError                the campaign rules file is missing or invalid
    ├── MailboxError              the IMAP server cannot be reached, refuses us, or breaks off
    │   └── MailboxLoginRefused   … refuses the configured user name or password (a LoginRefused)
    ├── SendError                 the SMTP server cannot be reached or refuses a reply
    │   └── SendLoginRefused      … refuses the configured user name or password (a LoginRefused)
    ├── LoginRefused              a server refused our login: retrying cannot help (mail.logins)
    ├── StateError                the state directory or database cannot be written (disk full…)
    └── DocumentError             a document cannot be read (corrupt, encrypted, hostile…)

Checks never raise: they return findings (mailbot.findings). Exceptions are for the edges.
"""


class MailbotError(Exception):
    """Root of every error mailbot raises on purpose. The message is meant for a person."""


class ConfigError(MailbotError):
    """The configuration is wrong; the message names the setting and the fix."""


class RulesError(MailbotError):
    """The campaign rules file is missing or invalid; the message names the field."""


class MailboxError(MailbotError):
    """The IMAP side failed: connection, login, folder or fetch."""


class SendError(MailbotError):
    """The SMTP side failed: connection, login or refusal of a message."""


class LoginRefused(MailbotError):
    """A mail server refused the configured login. Retrying cannot help, a person must fix the
    setting: `poll` and `run` stop with one line and exit status 2 (mailbot.mail.logins)."""


class MailboxLoginRefused(MailboxError, LoginRefused):
    """The IMAP server refused the login (still a MailboxError to those catching one)."""


class SendLoginRefused(SendError, LoginRefused):
    """The SMTP server refused the login (still a SendError to those catching one)."""


class StateError(MailbotError):
    """mailbot cannot write its own state; the cycle stops and nothing is marked handled."""


class DocumentError(MailbotError):
    """A document could not be read. `code` is the finding code to report it under."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code

"""The office login: one password, hashed at startup; a signed session cookie; CSRF; throttling.

The rule every route follows (tested by walking the app's url_map): a request without a valid
office session gets **302 to /login** when it is a GET or HEAD, and **403** otherwise. Only the
login page itself is open. Every POST, the login form included, carries the session's CSRF token.
Only a POST to /login checks a password; GET and HEAD show the form, whatever body they carry.

The password comes from settings.office_password, either plain or already hashed in werkzeug's
format (`scrypt:32768:8:1$<salt>$<hex>`, as `mailbot serve --hash-password` prints it). A plain one
is hashed once at startup and only the hash is kept; logins compare against the hash.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Response, abort, redirect, render_template, request, session, url_for
from werkzeug.security import check_password_hash, generate_password_hash
from werkzeug.urls import iri_to_uri

from mailbot.errors import ConfigError
from mailbot.web.clients import ENVIRON_KEY
from mailbot.web.sessions import SessionBook

SECRET_FILE = "dashboard-secret.key"
CSRF_FIELD = "csrf_token"
PUBLIC_ENDPOINTS = frozenset({"auth.login", "status.page"})  # status: the token is the key
FREE_FAILURES = 3  # wrong passwords before the login slows down
MAX_DELAY_SECONDS = 60.0
MAX_CLIENTS = 10_000  # clients remembered by the throttle before old ones are forgotten
FORGET_AFTER_SECONDS = 3600.0
MAX_NEXT_CHARS = 2000  # a `next` longer than any page of ours is not one
_HASHED = re.compile(r"^(scrypt:\d+:\d+:\d+|pbkdf2:sha256:\d+)\$[^$]+\$[0-9a-f]{32,}$")

bp = Blueprint("auth", __name__)


def is_hashed(value: str) -> bool:
    return _HASHED.match(value) is not None


def hash_password(password: str) -> str:
    """werkzeug's scrypt hash: `scrypt:N:r:p$salt$hex`, salted, slow on purpose."""
    return generate_password_hash(password, method="scrypt")


def stored_hash(configured: str) -> str:
    """The hash to check logins against; the configured value may already be one."""
    if not configured:
        raise ConfigError("MAILBOT_OFFICE_PASSWORD (`office_password` in the config file) is not "
                          "set: the dashboard needs the office password")
    return configured if is_hashed(configured) else hash_password(configured)


def secret_key(state_dir: Path) -> bytes:
    """The cookie-signing key: made once, kept in the state dir (0600) so restarts keep logins."""
    path = state_dir / SECRET_FILE
    state_dir.mkdir(parents=True, exist_ok=True)
    try:
        handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        os.chmod(path, 0o600)  # an older copy, or a restore, may have been left readable
        key = path.read_text(encoding="ascii").strip()
        if len(key) < 32:
            raise ConfigError(f"{path} is damaged (too short); delete it to make a new key, "
                              "which logs everybody out") from None
        return key.encode("ascii")
    key = secrets.token_hex(32)
    with os.fdopen(handle, "w", encoding="ascii") as out:
        out.write(key + "\n")
    return key.encode("ascii")


@dataclass
class Throttle:
    """After a few wrong passwords from one client, each try waits longer (up to a minute).

    `begin` is one atomic step under the lock: it either answers "wait" or counts this try as
    a failure before the password is even checked (`succeeded` clears it). So parallel guesses
    from one client (waitress serves with threads) cannot all slip in before the first is
    counted. Clients are counted apart: one client's guesses never slow another's login."""

    clock: Callable[[], float] = time.monotonic
    _failures: dict[str, tuple[int, float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def begin(self, client: str) -> float:
        """0 when `client` may try now (the try is counted), else the seconds to wait."""
        with self._lock:
            now = self.clock()
            count, last = self._failures.get(client, (0, 0.0))
            if count >= FREE_FAILURES:
                delay = min(MAX_DELAY_SECONDS, 2.0 ** (count - FREE_FAILURES + 1))
                if last + delay > now:
                    return last + delay - now
            self._failures[client] = (count + 1, now)
            if len(self._failures) > MAX_CLIENTS:  # forget old strangers rather than grow
                cutoff = now - FORGET_AFTER_SECONDS
                self._failures = {k: v for k, v in self._failures.items() if v[1] > cutoff}
            return 0.0

    def succeeded(self, client: str) -> None:
        with self._lock:
            self._failures.pop(client, None)


@dataclass
class Gate:
    """What the login checks against, kept by the app: the hash, the throttle, the live sessions.

    `fingerprint` goes into each session; it is keyed by the cookie key and made from the
    configured value. The session ids themselves live in `book` (web/sessions.py, in the state
    dir): a restart keeps the sessions, a logout or a new password ends them for good."""

    password_hash: str
    fingerprint: str
    book: SessionBook
    throttle: Throttle = field(default_factory=Throttle)

    @classmethod
    def configured(cls, configured: str, key: bytes, state_dir: Path,
                   lifetime_seconds: float) -> Gate:
        password_hash = stored_hash(configured)
        tag = hmac.new(key, configured.encode("utf-8"), hashlib.sha256).hexdigest()[:16]
        return cls(password_hash, tag, SessionBook(state_dir, tag, lifetime_seconds))

    def signed_in(self) -> bool:
        return (session.get("office") is True and session.get("pw") == self.fingerprint
                and self.book.live(session.get("sid")))


def gate() -> Gate:
    from flask import current_app

    found: Gate = current_app.extensions["mailbot.gate"]
    return found


def csrf_token() -> str:
    """The session's CSRF token, made on first use (the login form gets one too)."""
    token = session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        session["csrf"] = token
    return token


def guard() -> Response | None:
    """Before every request: refuse without a session, then check CSRF on every POST."""
    if request.endpoint not in PUBLIC_ENDPOINTS and not gate().signed_in():
        if request.method in ("GET", "HEAD"):
            wanted = request.full_path if request.query_string else request.path
            return redirect(url_for("auth.login", next=wanted))  # type: ignore[return-value]
        abort(403, description="请先登录。")
    if request.method == "POST":
        sent = request.form.get(CSRF_FIELD, "")
        expected = session.get("csrf")
        if not isinstance(expected, str) or not hmac.compare_digest(sent, expected):
            abort(400, description="表单已过期或来源不明，请刷新页面后重试。")
    return None


def _client() -> str:
    """The address the throttle counts (web/clients.py: behind trusted proxies, the client)."""
    found = request.environ.get(ENVIRON_KEY) or request.remote_addr
    return str(found or "unknown")


def _safe_next(target: str | None) -> str:
    """Only a path on this site: never an open redirect, never a header it would break.

    Browsers drop tabs and line breaks inside a URL ("/", a tab, "/evil.example" is
    "//evil.example"), so any control character or space sends the user to the overview."""
    if (target and target.startswith("/") and not target.startswith("//")
            and "\\" not in target and len(target) <= MAX_NEXT_CHARS
            and not any(ord(c) < 0x21 or 0x7F <= ord(c) <= 0xA0 or c in "\u2028\u2029"
                        for c in target)):
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc:
            return iri_to_uri(target)  # a Chinese query stays, percent-encoded
    return url_for("views.overview")


@bp.route("/login", methods=["GET", "POST"])
def login() -> Response | str | tuple[str, int]:
    keeper = gate()
    if request.method != "POST":  # GET, and HEAD (Flask adds it): the form, never a login
        if keeper.signed_in():
            return redirect(_safe_next(request.args.get("next")))  # type: ignore[return-value]
        return render_template("login.html", error="", next=_shown_next(request.args))
    target = request.form.get("next", "")
    wait = keeper.throttle.begin(_client())
    if wait > 0:
        return render_template("login.html", next=target,
                               error=f"密码错误次数过多，请 {int(wait) + 1} 秒后再试。"), 429
    if not check_password_hash(keeper.password_hash, request.form.get("password", "")):
        return render_template("login.html", error="密码不正确。", next=target), 401
    keeper.throttle.succeeded(_client())
    # A fresh session on login: nothing from before (a planted cookie) carries over.
    session.clear()
    session.permanent = True
    sid = secrets.token_urlsafe(16)
    keeper.book.add(sid)
    session.update(office=True, pw=keeper.fingerprint, sid=sid, csrf=secrets.token_urlsafe(32))
    return redirect(_safe_next(target))  # type: ignore[return-value]


def _shown_next(args: Any) -> str:
    """The `next` the form carries on: only one `_safe_next` would follow, else nothing."""
    wanted = args.get("next", "")
    return wanted if isinstance(wanted, str) and _safe_next(wanted) != "/" else ""


@bp.route("/logout", methods=["POST"])
def logout() -> Response:
    sid = session.get("sid")
    if isinstance(sid, str):
        gate().book.remove(sid)  # the signed cookie would stay valid otherwise until it expires
    session.clear()
    return redirect(url_for("auth.login"))  # type: ignore[return-value]

"""The office login: one password, hashed at startup; a signed session cookie; CSRF; throttling.

The rule every route follows (tested by walking the app's url_map): a request without a valid
office session gets **302 to /login** when it is a GET or HEAD, and **403** otherwise. Only the
login page itself is open. Every POST, the login form included, carries the session's CSRF token.

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
from urllib.parse import urlsplit

from flask import Blueprint, Response, abort, redirect, render_template, request, session, url_for
from werkzeug.security import check_password_hash, generate_password_hash

from mailbot.errors import ConfigError

SECRET_FILE = "dashboard-secret.key"
CSRF_FIELD = "csrf_token"
PUBLIC_ENDPOINTS = frozenset({"auth.login", "status.page"})  # status: the token is the key
FREE_FAILURES = 3  # wrong passwords before the login slows down
MAX_DELAY_SECONDS = 60.0
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
    """After a few wrong passwords from one address, each try waits longer (up to a minute)."""

    clock: Callable[[], float] = time.monotonic
    _failures: dict[str, tuple[int, float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _now(self) -> float:
        return self.clock()

    def wait(self, client: str) -> float:
        """Seconds until `client` may try again; 0 when it may now."""
        with self._lock:
            count, last = self._failures.get(client, (0, 0.0))
        if count < FREE_FAILURES:
            return 0.0
        delay = min(MAX_DELAY_SECONDS, 2.0 ** (count - FREE_FAILURES + 1))
        return max(0.0, last + delay - self._now())

    def failed(self, client: str) -> None:
        now = self._now()
        with self._lock:
            count, _last = self._failures.get(client, (0, 0.0))
            self._failures[client] = (count + 1, now)
            if len(self._failures) > 10_000:  # forget old strangers rather than grow forever
                cutoff = now - 3600
                self._failures = {k: v for k, v in self._failures.items() if v[1] > cutoff}

    def succeeded(self, client: str) -> None:
        with self._lock:
            self._failures.pop(client, None)


@dataclass
class Gate:
    """What the login checks against, kept by the app: the hash, the throttle, revoked logins.

    `fingerprint` goes into each session; it is keyed by the cookie key and made from the
    configured value, so a restart keeps sessions and a new password ends all of them."""

    password_hash: str
    fingerprint: str
    throttle: Throttle = field(default_factory=Throttle)
    revoked: set[str] = field(default_factory=set)

    @classmethod
    def configured(cls, configured: str, key: bytes) -> Gate:
        password_hash = stored_hash(configured)
        tag = hmac.new(key, configured.encode("utf-8"), hashlib.sha256).hexdigest()[:16]
        return cls(password_hash, tag)

    def signed_in(self) -> bool:
        return (session.get("office") is True and session.get("pw") == self.fingerprint
                and session.get("sid") not in self.revoked)


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
    return request.remote_addr or "unknown"


def _safe_next(target: str | None) -> str:
    """Only a path on this site: never an open redirect to somewhere else."""
    if target and target.startswith("/") and not target.startswith("//"):
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and "\\" not in target:
            return target
    return url_for("views.overview")


@bp.route("/login", methods=["GET", "POST"])
def login() -> Response | str | tuple[str, int]:
    keeper = gate()
    if request.method == "GET":
        if keeper.signed_in():
            return redirect(_safe_next(request.args.get("next")))  # type: ignore[return-value]
        return render_template("login.html", error="", next=request.args.get("next", ""))
    wait = keeper.throttle.wait(_client())
    target = request.form.get("next", "")
    if wait > 0:
        return render_template("login.html", next=target,
                               error=f"密码错误次数过多，请 {int(wait) + 1} 秒后再试。"), 429
    if not check_password_hash(keeper.password_hash, request.form.get("password", "")):
        keeper.throttle.failed(_client())
        return render_template("login.html", error="密码不正确。", next=target), 401
    keeper.throttle.succeeded(_client())
    # A fresh session on login: nothing from before (a planted cookie) carries over.
    session.clear()
    session.permanent = True
    session.update(office=True, pw=keeper.fingerprint, sid=secrets.token_urlsafe(16),
                   csrf=secrets.token_urlsafe(32))
    return redirect(_safe_next(target))  # type: ignore[return-value]


@bp.route("/logout", methods=["POST"])
def logout() -> Response:
    sid = session.get("sid")
    if isinstance(sid, str):
        gate().revoked.add(sid)  # the signed cookie would stay valid otherwise until it expires
    session.clear()
    return redirect(url_for("auth.login"))  # type: ignore[return-value]

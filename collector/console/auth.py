"""Console sign-in: local accounts, the session cookie, CSRF, idle logoff and lockout.

- The cookie holds a random token; the store keeps only its SHA-256 (`logins`), with the
  user, a CSRF token, and when it was last used. HttpOnly, SameSite=Strict, Secure when
  the console is served over TLS.
- Every state-changing request (POST) carries the CSRF token in a form field or the
  `X-CSRF-Token` header; the login form uses a double-submit cookie, since there is no
  login yet to hold a token.
- A login unused for `console_idle_minutes` (15) is ended on its next request, and any
  login `console_session_hours` (12) after it began, however active.
- `login_max_failures` (5) wrong passwords in a row lock the account for
  `login_lock_minutes` (15). Every sign-in, failed or not, is audited.
- Per client address, password checks are a token bucket: `login_address_burst` (10) at
  once, `login_address_per_minute` (2) more each minute, a successful sign-in giving its
  token back. So one client can neither lock every account (two a minute at most, after
  the burst) nor spray one password across them, and a refusal costs no Argon2 time.
"""

from __future__ import annotations

import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Literal

from starlette.requests import Request
from starlette.responses import Response

from collector.config import Settings
from collector.control import AuditEntry, Control, Login, User, token_hash
from collector.crypto import hash_password, verify_password
from collector.limits import AddressBuckets

COOKIE = "phi_console"
LOGIN_CSRF_COOKIE = "phi_login_csrf"
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"
TOUCH_EVERY_SECONDS = 30.0  # last_seen is written at most this often per login
# Verified against when the user does not exist, so that a wrong name costs as much time
# as a wrong password and names cannot be probed by timing.
_DUMMY_HASH = hash_password(secrets.token_urlsafe(16))

Failure = Literal["unknown_user", "bad_password", "locked", "disabled", "bad_csrf", "throttled"]


@dataclass(frozen=True)
class Viewer:
    """The signed-in user behind a request."""

    user: User
    login: Login
    source: str

    @property
    def name(self) -> str:
        return self.user.username

    def entry(
        self, action: str, target: str = "", outcome: str = "ok", **details: str
    ) -> AuditEntry:
        return AuditEntry(self.name, action, target, self.source, outcome, details)


def client_address(request: Request) -> str:
    return request.client.host if request.client else "-"


def secure(request: Request) -> bool:
    return request.url.scheme == "https"


class Auth:
    def __init__(self, settings: Settings, control: Control) -> None:
        self.settings = settings
        self.control = control
        self.throttle = AddressBuckets(
            settings.login_address_per_minute / 60.0, settings.login_address_burst
        )

    # -- signing in and out -------------------------------------------------------------

    def sign_in(
        self, username: str, password: str, source: str, form_ok: bool = True
    ) -> tuple[str, Login] | Failure:
        """A new login token, or why there is none. Audited either way, except a refusal
        by the address throttle past the first in a row (a flood must not become one
        audit write per request). A form that failed its CSRF check (`form_ok` False)
        draws from the same throttle: a flood of those is no cheaper."""
        first_refusal = not self.throttle.refusing(source)
        if not self.throttle.take(source):
            if first_refusal:
                return self.failed(username, source, "throttled")
            return "throttled"
        if not form_ok:
            return self.failed(username, source, "bad_csrf")
        now = time.time()
        user = self.control.get_user(username)
        if user is None:
            verify_password(_DUMMY_HASH, password)
            return self.failed(username, source, "unknown_user")
        if user.locked_until > now:
            verify_password(_DUMMY_HASH, password)
            return self.failed(username, source, "locked")
        if not verify_password(user.password_hash, password):
            locked = self.control.record_failure(
                username, self.settings.login_max_failures, self.settings.login_lock_minutes * 60
            )
            if locked:
                self.control.audit(AuditEntry(username, "user.lock", username, source, "ok"))
            return self.failed(username, source, "bad_password")
        if user.disabled:
            return self.failed(username, source, "disabled")
        self.control.record_success(username)
        self.throttle.give_back(source)
        token = secrets.token_urlsafe(32)
        login = Login(token_hash(token), username, secrets.token_urlsafe(32), now, now, source)
        self.control.create_login(login)
        self.control.audit(AuditEntry(username, "login", username, source, "ok"))
        return token, login

    def failed(self, username: str, source: str, why: Failure) -> Failure:
        """Audit a refused sign-in."""
        # The name as typed is kept (trimmed): who tried matters, and it is not PHI.
        self.control.audit(AuditEntry(username[:64] or "-", "login", username[:64], source, why))
        return why

    def sign_out(self, viewer: Viewer, outcome: str = "ok") -> None:
        self.control.end_login(viewer.login.token_hash)
        self.control.audit(viewer.entry("logout", viewer.name, outcome))

    # -- who is asking ----------------------------------------------------------------

    def viewer(self, request: Request) -> Viewer | None:
        """The signed-in user, or None (no cookie, ended, idle too long, or disabled)."""
        token = request.cookies.get(COOKIE)
        if not token:
            return None
        login = self.control.get_login(token_hash(token))
        if login is None:
            return None
        user = self.control.get_user(login.username)
        source = client_address(request)
        now = time.time()
        if user is None or user.disabled:
            self.control.end_login(login.token_hash)
            return None
        viewer = Viewer(user, login, source)
        if now - login.created_at > self.settings.console_session_hours * 3600:
            self.sign_out(viewer, "expired")
            return None
        if now - login.last_seen > self.settings.console_idle_minutes * 60:
            self.sign_out(viewer, "idle")
            return None
        if now - login.last_seen > TOUCH_EVERY_SECONDS:
            self.control.touch_login(login.token_hash, now)
        return viewer

    # -- CSRF ---------------------------------------------------------------------------

    @staticmethod
    def csrf_ok(expected: str, request: Request, form: dict[str, str]) -> bool:
        given = form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER) or ""
        return bool(expected) and hmac.compare_digest(given.encode(), expected.encode())

    # -- cookies -------------------------------------------------------------------------

    @staticmethod
    def set_cookie(response: Response, request: Request, name: str, value: str) -> None:
        response.set_cookie(
            name,
            value,
            httponly=True,
            samesite="strict",
            secure=secure(request),
            path="/",
        )

    @staticmethod
    def clear_cookie(response: Response, request: Request, name: str) -> None:
        response.delete_cookie(
            name, path="/", httponly=True, samesite="strict", secure=secure(request)
        )

"""The support console: sign-in, the session list, replay, and the audit log.

Who may see what (README.md, "The support console"):
- `support` sees every instance's sessions; `superadmin` too, and also the audit log
  and the users;
- `customer` sees the sessions of its own instance, and only while that instance has
  `customer_access` on;
- anything else is refused: 404 for a session outside one's scope (its existence does
  not leak), 403 for a page of a role one does not have, a sign-in page for anonymous
  visitors.
Every list, view and download of a recording, every sign-in and sign-out, is audited.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, cast
from urllib.parse import parse_qsl, urlencode

from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import BaseRoute, Route

from collector.assets import sdk_dist_dir
from collector.config import InstanceConfig, Settings
from collector.console.admin import (
    changed_fields,
    form_from_post,
    form_of,
    instance_from_form,
    new_app_key,
)
from collector.console.auth import (
    COOKIE,
    LOGIN_CSRF_COOKIE,
    Auth,
    Viewer,
    client_address,
    secure,
)
from collector.console.csrf import OwnRequestsOnly
from collector.control import ROLES, USERNAME, AuditEntry, AuditQuery, Role, User, generate_password
from collector.crypto import Keyring, hash_password
from collector.exceptions import ConfigError, PhiReplayError, UnknownSession
from collector.instances import InstanceRegistry
from collector.records import shown_session
from collector.spreadsheet import rows_to_csv
from collector.store import SORT_KEYS, SessionQuery, SessionRecord, Store

HERE = Path(__file__).resolve().parent
PAGE_SIZE = 50
DEV_ONLY = "The --dev instance exists only while the collector runs with --dev; it is not stored."
AUDIT_PAGE_SIZE = 100
MAX_FORM_BYTES = 16 * 1024

# Scripts and stylesheets only from the console itself, nothing fetched from elsewhere,
# no framing. The console shows no images, fonts or frames of its own, so those have no
# 'self': the replay iframe (rrweb's, sandboxed without allow-scripts) inherits this
# policy before the player narrows it further (sdk-js/src/player/player.ts, REPLAY_CSP),
# and a recorded page must not reach the console with the viewer's cookie. Recorded
# <style> blocks need inline styles.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src data: blob:; font-src data:; connect-src 'self'; "
    "frame-src 'none'; child-src 'none'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
STATIC = {
    "console.css": (HERE / "static" / "console.css", "text/css"),
}
PLAYER = {"player.js": "text/javascript", "player.css": "text/css"}


def security_headers(request: Request) -> dict[str, str]:
    headers = {
        "Content-Security-Policy": CSP,
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-store",
        "Cross-Origin-Opener-Policy": "same-origin",
        "Cross-Origin-Resource-Policy": "same-origin",
        "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
    }
    if secure(request):
        headers["Strict-Transport-Security"] = "max-age=31536000"
    return headers


def _when(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _duration(ms: int) -> str:
    s = ms // 1000
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


def _day(text: str | None) -> float | None:
    """A yyyy-mm-dd date as the epoch seconds of its start (UTC), or None."""
    if not text:
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        return None
    return datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()


def _date_text(seconds: float | None, minus_day: bool = False) -> str:
    if seconds is None:
        return ""
    if minus_day:
        seconds -= 86400
    return datetime.fromtimestamp(seconds, UTC).date().isoformat()


def _int(text: str | None, default: int, low: int, high: int) -> int:
    try:
        return max(low, min(high, int(text or default)))
    except ValueError:
        return default


class Console:
    def __init__(
        self, settings: Settings, store: Store, keyring: Keyring, registry: InstanceRegistry
    ) -> None:
        self.settings = settings
        self.registry = registry
        self.store = store
        self.keyring = keyring
        self.control = store.control
        self.auth = Auth(settings, self.control)
        self.templates = Environment(
            loader=FileSystemLoader(HERE / "templates"),
            autoescape=select_autoescape(default=True, default_for_string=True),
        )
        self.templates.globals.update(
            when=_when, duration=_duration, idle_minutes=f"{settings.console_idle_minutes:g}"
        )

    # -- plumbing ----------------------------------------------------------------------

    def render(self, request: Request, name: str, status: int = 200, **context: Any) -> Response:
        html = self.templates.get_template(name).render(**context)
        return HTMLResponse(html, status_code=status, headers=security_headers(request))

    def message(
        self, request: Request, viewer: Viewer | None, status: int, heading: str, text: str
    ) -> Response:
        return self.render(
            request, "message.html", status, viewer=viewer, heading=heading, text=text
        )

    def to_login(self, request: Request, api: bool = False) -> Response:
        if api:
            return JSONResponse(
                {"error": "sign in first"}, status_code=401, headers=security_headers(request)
            )
        return RedirectResponse("/login", status_code=303, headers=security_headers(request))

    def scope(self, viewer: Viewer) -> frozenset[str] | None:
        """The instances whose sessions the viewer may see; None for all of them."""
        user = viewer.user
        if user.role in ("support", "superadmin"):
            return None
        allowed = {i.name for i in self.registry.current() if i.customer_access}
        return frozenset({user.instance} & allowed) if user.instance else frozenset()

    def visible_session(self, viewer: Viewer, session_id: str) -> SessionRecord | None:
        try:
            session = self.store.get_session(session_id)
        except UnknownSession:
            return None
        scope = self.scope(viewer)
        return session if scope is None or session.instance in scope else None

    async def form(self, request: Request) -> dict[str, str]:
        body = await request.body()
        if len(body) > MAX_FORM_BYTES:
            return {}
        return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))

    # -- sign in and out ---------------------------------------------------------------

    def login_page(self, request: Request) -> Response:
        viewer = self.auth.viewer(request)
        if viewer is not None:
            return RedirectResponse("/console/sessions", 303, headers=security_headers(request))
        return self._login_form(request, "", "", request.query_params.get("m", ""))

    def _login_form(self, request: Request, username: str, error: str, note: str) -> Response:
        csrf = request.cookies.get(LOGIN_CSRF_COOKIE) or _token()
        messages = {"out": "Signed out."}
        response = self.render(
            request,
            "login.html",
            401 if error else 200,
            viewer=None,
            csrf=csrf,
            username=username,
            error=error,
            message=messages.get(note, ""),
        )
        self.auth.set_cookie(response, request, LOGIN_CSRF_COOKIE, csrf)
        return response

    async def login(self, request: Request) -> Response:
        form = await self.form(request)
        username = form.get("username", "").strip()
        expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
        source = client_address(request)
        form_ok = self.auth.csrf_ok(expected, request, form)
        outcome = await run_in_threadpool(
            self.auth.sign_in, username, form.get("password", ""), source, form_ok
        )
        if outcome == "bad_csrf":
            return self._login_form(request, username, "The form expired; please try again.", "")
        if outcome == "throttled":
            wait = max(1, round(self.auth.throttle.retry_after(source)))
            error = (
                "Too many sign-in attempts from your address; no password was checked."
                f" Try again in {wait} second(s)."
            )
            response = self._login_form(request, username, error, "")
            response.status_code = 429
            response.headers["Retry-After"] = str(wait)
            return response
        if isinstance(outcome, str):
            error = "Wrong user name or password, or the account is locked or disabled."
            return self._login_form(request, username, error, "")
        token, _ = outcome
        response = RedirectResponse("/console/sessions", 303, headers=security_headers(request))
        self.auth.set_cookie(response, request, COOKIE, token)
        self.auth.clear_cookie(response, request, LOGIN_CSRF_COOKIE)
        return response

    async def logout(self, request: Request) -> Response:
        viewer = await run_in_threadpool(self.auth.viewer, request)
        if viewer is None:
            return self.to_login(request)
        form = await self.form(request)
        if not self.auth.csrf_ok(viewer.login.csrf, request, form):
            return self.message(
                request, viewer, 403, "Refused", "The form expired; reload the page."
            )
        await run_in_threadpool(self.auth.sign_out, viewer)
        response = RedirectResponse("/login?m=out", 303, headers=security_headers(request))
        self.auth.clear_cookie(response, request, COOKIE)
        return response

    # -- sessions ----------------------------------------------------------------------

    def sessions(self, request: Request) -> Response:
        viewer = self.auth.viewer(request)
        if viewer is None:
            return self.to_login(request)
        p = request.query_params
        sort = p.get("sort", "started")
        query = SessionQuery(
            instance=p.get("instance") or None,
            environment=p.get("environment") or None,
            user=p.get("user") or None,
            started_from=_day(p.get("from")),
            started_to=(_day(p.get("to")) or 0) + 86400 if _day(p.get("to")) else None,
            instances=self.scope(viewer),
            sort=sort if sort in SORT_KEYS else "started",
            descending=p.get("dir", "desc") != "asc",
            limit=PAGE_SIZE,
            offset=_int(p.get("offset"), 0, 0, 10**9),
        )
        rows, total = self.store.query_sessions(query)
        filters = {
            k: v
            for k, v in (
                ("instance", query.instance),
                ("environment", query.environment),
                ("user", query.user),
                ("from", p.get("from")),
                ("to", p.get("to")),
            )
            if v
        }
        self.control.audit(viewer.entry("session.list", "", "ok", **filters))
        base = {**filters, "sort": query.sort, "dir": "desc" if query.descending else "asc"}

        def link(**changes: Any) -> str:
            return "/console/sessions?" + urlencode({**base, **changes})

        def sort_link(key: str) -> str:
            flip = query.sort == key and query.descending
            return link(sort=key, dir="asc" if flip else "desc", offset=0)

        scope = query.instances
        names = sorted(i.name for i in self.registry.current() if scope is None or i.name in scope)
        notice = ""
        if scope == frozenset():
            notice = "Your instance does not have customer access to recordings turned on."
        return self.render(
            request,
            "sessions.html",
            viewer=viewer,
            nav="sessions",
            q=query,
            rows=rows,
            total=total,
            first=query.offset + 1,
            last=query.offset + len(rows),
            instances=names,
            date_from=p.get("from", ""),
            date_to=p.get("to", ""),
            notice=notice,
            columns=[
                ("user", "User"),
                ("started", "Started (UTC)"),
                ("duration", "Duration"),
                ("instance", "Instance"),
                ("environment", "Environment"),
                ("", "Pages"),
                ("events", "Events"),
            ],
            sort_link=sort_link,
            prev_link=link(offset=max(0, query.offset - PAGE_SIZE)) if query.offset else "",
            next_link=link(offset=query.offset + PAGE_SIZE)
            if query.offset + PAGE_SIZE < total
            else "",
        )

    def _session_for(
        self, request: Request, api: bool = False
    ) -> tuple[Viewer, SessionRecord] | Response:
        """The signed-in viewer and the session of the URL, if in scope; else the refusal
        (404 whether it does not exist or is not theirs to see)."""
        viewer = self.auth.viewer(request)
        if viewer is None:
            return self.to_login(request, api=api)
        session = self.visible_session(viewer, request.path_params["session_id"])
        if session is not None:
            return viewer, session
        if api:
            return JSONResponse(
                {"error": "no such session"}, 404, headers=security_headers(request)
            )
        return self.message(request, viewer, 404, "Not found", "There is no such session.")

    def session_page(self, request: Request) -> Response:
        found = self._session_for(request)
        if isinstance(found, Response):
            return found
        viewer, session = found
        # Filtered in SQL: anyone can write audit records with this target (a failed login
        # typed as the session id), and they must not push the real viewers off the page.
        looks = AuditQuery(target=session.session_id, actions=VIEWING_ACTIONS, limit=200)
        seen, _ = self.control.audit_records(looks)
        return self.render(
            request, "session.html", viewer=viewer, nav="sessions", s=session, viewers=seen
        )

    def _events(self, session: SessionRecord) -> Iterator[dict[str, Any]]:
        routes = self.registry.routes(session.instance)
        for _, event in shown_session(self.store, self.keyring, session.session_id, routes):
            yield event

    def session_events(self, request: Request) -> Response:
        found = self._session_for(request, api=True)
        if isinstance(found, Response):
            return found
        viewer, session = found
        try:
            events = list(self._events(session))
        except PhiReplayError as exc:
            self.control.audit(viewer.entry("session.view", session.session_id, "failed"))
            return JSONResponse(
                {"error": f"the session cannot be read: {exc}"},
                500,
                headers=security_headers(request),
            )
        self.control.audit(viewer.entry("session.view", session.session_id))
        body = {
            "session": {
                "session_id": session.session_id,
                "user": session.user,
                "instance": session.instance,
                "environment": session.environment,
                "started_at": datetime.fromtimestamp(session.started_at, UTC).isoformat(),
                "duration_ms": session.duration_ms,
            },
            "events": events,
        }
        return JSONResponse(body, headers=security_headers(request))

    def session_export(self, request: Request) -> Response:
        found = self._session_for(request)
        if isinstance(found, Response):
            return found
        viewer, session = found
        self.control.audit(viewer.entry("session.export", session.session_id, "ok", via="console"))
        lines = (
            json.dumps(
                {"session_id": session.session_id, "event": e},
                ensure_ascii=False,
                separators=(",", ":"),
            )
            + "\n"
            for e in self._events(session)
        )
        headers = security_headers(request)
        headers["Content-Disposition"] = (
            f'attachment; filename="session-{session.session_id}.jsonl"'
        )
        return StreamingResponse(lines, media_type="application/x-ndjson", headers=headers)

    # -- superadmin ----------------------------------------------------------------------

    def _superadmin(self, request: Request) -> Viewer | Response:
        viewer = self.auth.viewer(request)
        if viewer is None:
            return self.to_login(request)
        if viewer.user.role != "superadmin":
            return self.message(
                request, viewer, 403, "Not allowed", "This page is for superadmins."
            )
        return viewer

    def _admin_page(
        self, request: Request, viewer: Viewer | None, name: str, status: int, **context: Any
    ) -> Response:
        """A superadmin page (`viewer` when the caller checked already), or the refusal."""
        checked = viewer or self._superadmin(request)
        if not isinstance(checked, Viewer):
            return checked
        nav = name.removesuffix(".html")
        return self.render(request, name, status, viewer=checked, nav=nav, **context)

    def _audit_query(self, request: Request, limit: int) -> AuditQuery:
        p = request.query_params
        to = _day(p.get("to"))
        return AuditQuery(
            actor=p.get("actor") or None,
            action=p.get("action") or None,
            target=p.get("target") or None,
            at_from=_day(p.get("from")),
            at_to=to + 86400 if to is not None else None,
            limit=limit,
            offset=_int(p.get("offset"), 0, 0, 10**9),
        )

    def audit_page(self, request: Request) -> Response:
        viewer = self._superadmin(request)
        if not isinstance(viewer, Viewer):
            return viewer
        query = self._audit_query(request, AUDIT_PAGE_SIZE)
        records, total = self.control.audit_records(query)
        self.control.audit(viewer.entry("audit.list"))
        p = request.query_params
        base = {k: v for k in ("actor", "action", "target", "from", "to") if (v := p.get(k))}

        def link(offset: int) -> str:
            return "/console/audit?" + urlencode({**base, "offset": offset})

        return self.render(
            request,
            "audit.html",
            viewer=viewer,
            nav="audit",
            q=query,
            records=records,
            total=total,
            actions=AUDIT_ACTIONS,
            date_from=p.get("from", ""),
            date_to=p.get("to", ""),
            csv_link="/console/audit.csv?" + urlencode(base),
            prev_link=link(max(0, query.offset - AUDIT_PAGE_SIZE)) if query.offset else "",
            next_link=link(query.offset + AUDIT_PAGE_SIZE)
            if query.offset + AUDIT_PAGE_SIZE < total
            else "",
        )

    def audit_csv(self, request: Request) -> Response:
        viewer = self._superadmin(request)
        if not isinstance(viewer, Viewer):
            return viewer
        query = self._audit_query(request, 10**9)
        records, _ = self.control.audit_records(query)
        self.control.audit(viewer.entry("audit.export", "", "ok", records=str(len(records))))
        header = (
            "seq",
            "at_utc",
            "actor",
            "action",
            "target",
            "source",
            "outcome",
            "details",
            "hash",
        )
        rows = (
            (
                r.seq,
                _when(r.at),
                r.actor,
                r.action,
                r.target,
                r.source,
                r.outcome,
                json.dumps(r.details, sort_keys=True),
                r.hash,
            )
            for r in records
        )
        text = rows_to_csv([header, *rows])  # every cell made inert: actors are typed by anyone
        headers = security_headers(request)
        headers["Content-Disposition"] = 'attachment; filename="phi-replay-audit.csv"'
        return PlainTextResponse(text, media_type="text/csv", headers=headers)

    def users_page(
        self,
        request: Request,
        viewer: Viewer | None = None,
        shown: tuple[str, str] | None = None,
        error: str = "",
        status: int = 200,
    ) -> Response:
        return self._admin_page(
            request,
            viewer,
            "users.html",
            status,
            users=self.control.list_users(),
            now=time.time(),
            roles=ROLES,
            instances=sorted(i.name for i in self.registry.current()),
            shown=shown,
            error=error,
        )

    async def add_user(self, request: Request) -> Response:
        posted = await self._admin_post(request)
        if isinstance(posted, Response):
            return posted
        viewer, form = posted
        name, role = form.get("username", "").strip(), form.get("role", "")
        instance = form.get("instance") or None
        error = ""
        if not USERNAME.fullmatch(name):
            error = "user name: 1-64 letters, digits, '.', '_', '-' or '@'"
        elif role not in ROLES:
            error = f"role: one of {', '.join(ROLES)}"
        elif (role == "customer") != (instance is not None):
            error = "instance: required for a customer, and only for a customer"
        elif self.control.get_user(name) is not None:
            error = f"a user named {name} already exists"
        if error:
            return await run_in_threadpool(self.users_page, request, viewer, None, error, 400)
        password = generate_password()
        user = User(name, cast(Role, role), instance, hash_password(password))
        details = {"role": role, **({"instance": instance} if instance else {})}

        def add() -> None:
            self.control.add_user(user)
            self.control.audit(viewer.entry("user.add", name, "ok", **details))

        await run_in_threadpool(add)
        return await run_in_threadpool(self.users_page, request, viewer, (name, password))

    async def change_user(self, request: Request) -> Response:
        posted = await self._admin_post(request)
        if isinstance(posted, Response):
            return posted
        viewer, form = posted
        name, action = request.path_params["username"], form.get("action", "")
        if self.control.get_user(name) is None or name == viewer.name:
            return self.message(request, viewer, 404, "Not found", "No such user to change.")
        shown = None
        if action == "passwd":
            password = generate_password()
            shown = (name, password)
            await run_in_threadpool(self.control.set_password, name, hash_password(password))
        elif action in ("disable", "enable"):
            await run_in_threadpool(self.control.set_disabled, name, action == "disable")
        else:
            return self.message(request, viewer, 400, "Nothing to do", "Unknown action.")
        await run_in_threadpool(self.control.audit, viewer.entry(f"user.{action}", name))
        return await run_in_threadpool(self.users_page, request, viewer, shown)

    # -- instance configuration (superadmin) -----------------------------------------

    def _recording_today(self, instance: InstanceConfig) -> str:
        if instance.environments is None:
            return "every environment"
        today = datetime.now(UTC).date()
        names = [n for n in instance.environments if instance.refusal(n, today) is None]
        return ", ".join(names) or "none"

    def instances_page(
        self, request: Request, viewer: Viewer | None = None, error: str = "", status: int = 200
    ) -> Response:
        return self._admin_page(
            request,
            viewer,
            "instances.html",
            status,
            instances=self.registry.current(),
            from_file=self.registry.from_file,
            volatile={i.name for i in self.registry.current() if self.registry.is_volatile(i.name)},
            recording=self._recording_today,
            error=error,
        )

    async def _admin_post(self, request: Request) -> tuple[Viewer, dict[str, str]] | Response:
        """A superadmin's form post with a valid CSRF token, or the refusal."""
        checked = await run_in_threadpool(self._superadmin, request)
        if not isinstance(checked, Viewer):
            return checked
        form = await self.form(request)
        if not self.auth.csrf_ok(checked.login.csrf, request, form):
            return self.message(request, checked, 403, "Refused", "The form expired; reload.")
        return checked, form

    async def create_instance(self, request: Request) -> Response:
        posted = await self._admin_post(request)
        if isinstance(posted, Response):
            return posted
        viewer, form = posted
        name = form.get("name", "").strip()
        try:
            instance = InstanceConfig(name=name)
        except ValidationError:
            error = "name: lower-case letters, digits, '-' and '_', starting with a letter or digit"
            return await run_in_threadpool(self.instances_page, request, viewer, error, 400)
        if self.registry.get(name) is not None:
            error = f"an instance named {name} already exists"
            return await run_in_threadpool(self.instances_page, request, viewer, error, 409)
        entry = viewer.entry("config.change", name, "ok", change="create")
        await run_in_threadpool(self.registry.save, instance, entry)
        return RedirectResponse(
            f"/console/instances/{name}", 303, headers=security_headers(request)
        )

    def instance_page(
        self,
        request: Request,
        viewer: Viewer | None = None,
        form: dict[str, Any] | None = None,
        error: str = "",
        saved: str = "",
    ) -> Response:
        checked = viewer or self._superadmin(request)
        if not isinstance(checked, Viewer):
            return checked
        instance = self.registry.get(request.path_params["name"])
        if instance is None:
            return self.message(request, checked, 404, "Not found", "There is no such instance.")
        return self.render(
            request,
            "instance.html",
            400 if error else 200,
            viewer=checked,
            nav="instances",
            i=instance,
            form=form or form_of(instance),
            from_file=self.registry.from_file,
            volatile=self.registry.is_volatile(instance.name),
            error=error,
            saved=saved or {"1": "Saved."}.get(request.query_params.get("saved", ""), ""),
        )

    async def _editable(
        self, request: Request
    ) -> tuple[Viewer, dict[str, str], InstanceConfig] | Response:
        """A superadmin's valid post about a stored instance, or the refusal."""
        posted = await self._admin_post(request)
        if isinstance(posted, Response):
            return posted
        viewer, form = posted
        current = self.registry.get(request.path_params["name"])
        if current is None:
            return self.message(request, viewer, 404, "Not found", "There is no such instance.")
        if self.registry.is_volatile(current.name):
            return self.message(request, viewer, 409, "Not editable", DEV_ONLY)
        return viewer, form, current

    async def _store(self, request: Request, edited: InstanceConfig, entry: AuditEntry) -> Response:
        await run_in_threadpool(self.registry.save, edited, entry)
        url = f"/console/instances/{edited.name}?saved=1"
        return RedirectResponse(url, 303, headers=security_headers(request))

    async def save_instance(self, request: Request) -> Response:
        editable = await self._editable(request)
        if isinstance(editable, Response):
            return editable
        viewer, form, current = editable
        try:
            edited = instance_from_form(current, form, viewer.name, datetime.now(UTC).date())
        except ConfigError as exc:
            invalid = viewer.entry("config.change", current.name, "invalid")
            await run_in_threadpool(self.control.audit, invalid)
            return await run_in_threadpool(
                self.instance_page, request, viewer, form_from_post(current, form), str(exc)
            )
        fields = changed_fields(current, edited)
        entry = viewer.entry("config.change", current.name, "ok", fields=fields)
        return await self._store(request, edited, entry)

    async def instance_keys(self, request: Request) -> Response:
        editable = await self._editable(request)
        if isinstance(editable, Response):
            return editable
        viewer, form, current = editable
        keys = list(current.app_keys)
        if form.get("create"):
            keys.append(new_app_key(current.name))
            change = "key.create"
        elif form.get("revoke") in keys:
            keys.remove(form["revoke"])
            change = "key.revoke"
        else:
            return self.message(request, viewer, 400, "Nothing to do", "No such key.")
        in_use = {k for i in self.registry.current() if i.name != current.name for k in i.app_keys}
        if in_use & set(keys):
            return self.message(request, viewer, 409, "Refused", "That key is another's.")
        edited = current.model_copy(update={"app_keys": tuple(keys)})
        entry = viewer.entry("config.change", current.name, "ok", change=change)
        return await self._store(request, edited, entry)

    # -- static --------------------------------------------------------------------------

    def static(self, request: Request) -> Response:
        name = request.path_params["name"]
        headers = {"X-Content-Type-Options": "nosniff", "Cache-Control": "no-cache"}
        if name in STATIC:
            path, media = STATIC[name]
            return FileResponse(path, media_type=media, headers=headers)
        if name in PLAYER:
            path = sdk_dist_dir() / name
            if path.is_file():
                return FileResponse(path, media_type=PLAYER[name], headers=headers)
        return PlainTextResponse("not found", 404, headers=headers)

    def home(self, request: Request) -> Response:
        return RedirectResponse("/console/sessions", 303, headers=security_headers(request))

    def routes(self) -> list[BaseRoute]:
        # Every POST, and every GET that writes an audit record: the console's own only.
        own = [Middleware(OwnRequestsOnly)]
        return [
            Route("/login", self.login_page, methods=["GET"]),
            Route("/login", self.login, methods=["POST"], middleware=own),
            Route("/logout", self.logout, methods=["POST"], middleware=own),
            Route("/console", self.home, methods=["GET"]),
            Route("/console/sessions", self.sessions, methods=["GET"], middleware=own),
            Route("/console/sessions/{session_id}", self.session_page, methods=["GET"]),
            Route(
                "/console/sessions/{session_id}/export",
                self.session_export,
                methods=["GET"],
                middleware=own,
            ),
            Route(
                "/console/api/sessions/{session_id}/events",
                self.session_events,
                methods=["GET"],
                middleware=own,
            ),
            Route("/console/audit", self.audit_page, methods=["GET"], middleware=own),
            Route("/console/audit.csv", self.audit_csv, methods=["GET"], middleware=own),
            Route("/console/users", self.users_page, methods=["GET"]),
            Route("/console/users", self.add_user, methods=["POST"], middleware=own),
            Route("/console/users/{username}", self.change_user, methods=["POST"], middleware=own),
            Route("/console/instances", self.instances_page, methods=["GET"]),
            Route("/console/instances", self.create_instance, methods=["POST"], middleware=own),
            Route("/console/instances/{name}", self.instance_page, methods=["GET"]),
            Route(
                "/console/instances/{name}", self.save_instance, methods=["POST"], middleware=own
            ),
            Route(
                "/console/instances/{name}/keys",
                self.instance_keys,
                methods=["POST"],
                middleware=own,
            ),
            Route("/console/static/{name}", self.static, methods=["GET"]),
        ]


AUDIT_ACTIONS = (
    "login",
    "logout",
    "session.list",
    "session.view",
    "session.export",
    "audit.list",
    "audit.export",
    "audit.purge",
    "audit.rekey",
    "audit.anchor",
    "user.add",
    "user.passwd",
    "user.disable",
    "user.enable",
    "user.lock",
    "config.change",
)


VIEWING_ACTIONS = ("session.view", "session.export")  # what "who viewed this session" lists


def _token() -> str:
    return secrets.token_urlsafe(32)

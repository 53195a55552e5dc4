"""`phi-replay`: the operator's command line (also `python -m collector`)."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import logging
import os
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from collector import __version__
from collector.config import (
    DEFAULT_DATA_DIR,
    DEFAULT_HOST,
    DEFAULT_PORT,
    Settings,
    load_settings,
)
from collector.control import (
    MIN_PASSWORD_CHARS,
    ROLES,
    USERNAME,
    Anchor,
    AuditBreak,
    AuditEntry,
    Control,
    User,
    generate_password,
)
from collector.crypto import Keyring, WrappedKey, hash_password
from collector.embedded import QUARANTINE, EmbeddedStore
from collector.exceptions import (
    CorruptRecord,
    KeyringError,
    PhiReplayError,
    RetentionKeyDestroyed,
    StartupError,
)
from collector.fsck import (
    FsckReport,
    ensure_no_writer,
    fsck,
    index_damage,
    open_failure,
    quarantined,
    set_aside_index,
)
from collector.instances import InstanceRegistry
from collector.logs import use_format
from collector.records import open_batch, shown_event
from collector.store import SessionQuery, SessionRecord, SessionSummary
from collector.terminal import safe

log = logging.getLogger("phi_replay")

T = TypeVar("T")

DEV_WARNING = (
    "WARNING: dev mode is not for production: the app key is 'dev', any http://127.0.0.1 "
    "or http://localhost origin may record, and keys are generated next to the data."
)


def _settings(args: argparse.Namespace) -> Settings:
    settings = load_settings(
        getattr(args, "config", None),
        data_dir=getattr(args, "data_dir", None),
        keyring=getattr(args, "keyring", None),
    )
    use_format(getattr(args, "log_format", None) or settings.log_format)  # the command line wins
    return settings.with_dev_instance() if getattr(args, "dev", False) else settings


INSECURE_WARNING = (
    "WARNING: serving plain HTTP without TLS (--insecure-http): app keys, recordings and"
    " console passwords cross the network unencrypted. Use it only on a closed test network."
)
PROXY_NOTE = (
    'NOTE: serving plain HTTP for a TLS-terminating proxy (plain_http = "behind-proxy"):'
    " listen only where the proxy alone can reach; X-Forwarded-Proto is believed only"
    " from trusted_proxies."
)


def _plain_http(settings: Settings, how: str) -> str:
    """Serving a non-dev configuration without TLS must be a stated choice: the warning
    to print, or a StartupError saying how to choose."""
    if how == "insecure":
        return INSECURE_WARNING
    if how == "behind-proxy":
        if not settings.trusted_proxies:
            raise StartupError(
                'plain_http = "behind-proxy" needs the proxy\'s address in trusted_proxies'
                ' (e.g. trusted_proxies = ["127.0.0.1/32"]), or cookies lose Secure'
            )
        return PROXY_NOTE
    raise StartupError(
        "refusing to serve without TLS: give --certfile and --keyfile (or certfile and"
        " keyfile in [listen]); behind a TLS-terminating proxy set plain_http ="
        ' "behind-proxy" in [listen] with trusted_proxies; or pass --insecure-http to'
        " serve plain HTTP knowingly"
    )


def cmd_serve(args: argparse.Namespace) -> int:
    from collector.server import (
        bind,
        check_data_dir,
        check_tls,
        hypercorn_config,
        open_collector,
        probe,
        serve_apps,
    )

    settings = _settings(args)
    listen = settings.listen  # the command line wins over [listen]
    host = args.host if args.host is not None else listen.host
    port = args.port if args.port is not None else listen.port
    certfile = args.certfile if args.certfile is not None else listen.certfile
    keyfile = args.keyfile if args.keyfile is not None else listen.keyfile
    check_tls(certfile, keyfile)
    tls = certfile is not None
    if args.insecure_http and tls:
        raise StartupError("--insecure-http contradicts the TLS certificate given: drop one")
    warning = DEV_WARNING if settings.dev else None
    if not settings.dev and not tls:
        warning = _plain_http(settings, "insecure" if args.insecure_http else listen.plain_http)
    if not settings.instances and not _stored_instances(settings):
        raise PhiReplayError("no instances configured: pass --config FILE or --dev")
    config = hypercorn_config(
        host,
        port,
        max_message_bytes=settings.max_message_bytes,
        certfile=certfile,
        keyfile=keyfile,
    )
    probe(config)
    scheme = "https" if tls else "http"
    if args.check:
        check_data_dir(settings.data_dir)
        if not settings.dev:
            Keyring.load(settings.keyring_path)
        print(f"configuration ok: would listen on {scheme}://{host}:{port}")
        return 0
    app = open_collector(settings)
    addresses = bind(config, settings.send_timeout_seconds)
    if warning:
        print(warning, file=sys.stderr, flush=True)
    urls = ", ".join(f"{scheme}://{address}" for address in addresses)
    print(f"phi-replay collector listening on {urls}", flush=True)
    asyncio.run(serve_apps([(app, config)], grace_seconds=listen.shutdown_grace_seconds))
    return 0


def _stored_instances(settings: Settings) -> bool:
    """Whether the data directory holds instances (created in the console)."""
    if not (settings.data_dir / "index.sqlite3").exists():
        return False
    with Control.open(settings.data_dir) as control:
        return bool(control.instance_docs()[1])


def cmd_demo(args: argparse.Namespace) -> int:
    from collector.demo_app.runner import run_demo

    return run_demo(host=args.host, port=args.port, data_dir=args.data_dir, keyring=args.keyring)


def _open_reader(args: argparse.Namespace) -> tuple[EmbeddedStore, Settings]:
    settings = _settings(args)
    return EmbeddedStore(settings.data_dir, writer=False), settings


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _duration(ms: int) -> str:
    seconds = ms // 1000
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


EVERY_SESSION = 2**62  # a SessionQuery limit for "all of them": the CLI lists every one
PAGES_SHOWN = 3  # pages per row of the table (`--json` has them all), as the console's list


def _pages_cell(pages: tuple[str, ...]) -> str:
    if not pages:
        return "-"
    more = len(pages) - PAGES_SHOWN
    return " ".join(pages[:PAGES_SHOWN]) + (f" +{more}" if more > 0 else "")


def _session_row(summary: SessionSummary) -> tuple[str, ...]:
    s = summary.session
    # Every string here came from a recorder: shown with its control characters escaped,
    # so none can move the cursor, rewrite the screen or start a second row.
    return (
        safe(s.session_id),
        safe(s.instance),
        safe(s.user or "-"),
        _iso(s.started_at),
        _duration(s.duration_ms),
        str(s.event_count),
        safe(_pages_cell(summary.pages)),
    )


def cmd_sessions(args: argparse.Namespace) -> int:
    store, _ = _open_reader(args)
    try:
        summaries, _ = store.query_sessions(SessionQuery(limit=EVERY_SESSION))
    finally:
        store.close()
    if args.json:
        for summary in summaries:
            s = summary.session
            print(
                json.dumps(
                    {
                        "session_id": s.session_id,
                        "instance": s.instance,
                        "user": s.user,
                        "environment": s.environment,
                        "started_at": _iso(s.started_at),
                        "duration_ms": s.duration_ms,
                        "event_count": s.event_count,
                        # Paths the collector templated itself (docs/storage.md).
                        "pages": list(summary.pages),
                    }
                )
            )
        return 0
    header = ("SESSION", "INSTANCE", "USER", "STARTED (UTC)", "DURATION", "EVENTS", "PAGES")
    rows = [_session_row(summary) for summary in summaries]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    if not rows:
        print("(no sessions stored yet)", file=sys.stderr)
    return 0


def _unreadable(session_id: str, seq: int | None, why: str) -> None:
    where = f"session {safe(session_id)}" + (f" seq {seq}" if seq is not None else "")
    print(f"phi-replay: export: {where}: {why}; left out, going on", file=sys.stderr)


def cmd_export(args: argparse.Namespace) -> int:
    """Every readable record; each unreadable one is named on stderr (session, seq, why)
    and skipped, and the exit code is 1 at the end: one damaged record does not hide
    the session's later batches or the sessions after it."""
    store, settings = _open_reader(args)
    unreadable: set[str] = set()
    destroyed: set[str] = set()  # purged since: the expected state of an old backup
    bad_records = opened = 0
    try:
        keyring = Keyring.load(settings.keyring_path)
        store.control.key_audit(keyring.audit_key())
        registry = InstanceRegistry(store.control, settings)
        ids = [s.session_id for s in store.list_sessions()] if args.all else [args.session]
        out = sys.stdout
        for session_id in ids:
            # An unknown id is an error, not an audit record.
            session = store.get_session(session_id)
            routes = registry.routes(session.instance)
            store.control.audit(
                AuditEntry(_operator(), "session.export", session_id, "cli", "ok", {"via": "cli"})
            )
            try:
                dek = keyring.unwrap(session.wrapped_key, session.instance, session.session_id)
            except RetentionKeyDestroyed as exc:
                _unreadable(session_id, None, str(exc))
                unreadable.add(session_id)
                destroyed.add(session_id)
                continue
            except CorruptRecord as exc:
                _unreadable(session_id, None, f"its data key does not unwrap ({exc})")
                unreadable.add(session_id)
                continue
            opened += 1
            for read in store.read_records(session_id):
                why = read.problem
                if read.batch is not None:
                    try:
                        events = open_batch(session, dek, read.batch)
                    except CorruptRecord as exc:
                        why = open_failure(read.seq, exc)
                if why is not None or read.batch is None:
                    _unreadable(session_id, read.seq, why or "unreadable")
                    unreadable.add(session_id)
                    bad_records += 1
                    continue
                for event in events:
                    line = {
                        "session_id": session_id,
                        "seq": read.seq,
                        "event": shown_event(event, routes),
                    }
                    # ASCII: recorder-chosen text reaches a terminal as \u escapes (no ESC,
                    # C1 or bidi character), and the JSON reads back the same.
                    out.write(json.dumps(line, separators=(",", ":")) + "\n")
        out.flush()
        held = sum(len(q.keys) + len(q.data) for q in quarantined(store).values())
    finally:
        store.close()
    if unreadable and not opened and not destroyed:
        raise PhiReplayError(
            f"the keyring {settings.keyring_path} opens none of the sessions' data keys:"
            " is it the right --keyring?"
        )
    if held:
        # Records the index lost (or a crash's unacknowledged tails) are not exported
        # until fsck restores them: the export may be incomplete, and says so. Not an
        # exit code of its own: what fsck cannot restore stays there until the operator
        # removes it, and every later export would fail for it.
        print(
            f"phi-replay: export: {settings.data_dir / QUARANTINE} holds {held}"
            " file(s) start-up set aside, not exported: run `phi-replay fsck --repair`"
            " (serve stopped) to restore what they hold, then export again",
            file=sys.stderr,
        )
    if unreadable:
        print(
            f"phi-replay: export: {bad_records} record(s) and {len(unreadable)} session(s)"
            " could not be read in full (named above); everything else was exported",
            file=sys.stderr,
        )
        return 1
    return 0


def cmd_fsck(args: argparse.Namespace) -> int:
    """Check the index against the segments; with --repair, rebuild what it lost."""
    settings = _settings(args)
    data_dir = settings.data_dir
    if not (data_dir / "index.sqlite3").exists() and not (data_dir / "segments").is_dir():
        raise PhiReplayError(f"{data_dir} holds no phi-replay data (no index, no segments)")
    keyring = Keyring.load(settings.keyring_path)
    ensure_no_writer(data_dir)
    notes = []
    lost_control = (
        "console users, their logins and the audit trail lived only in the index: restore"
        " them from a backup (or add users again); the segments do not hold them"
    )
    if not (data_dir / "index.sqlite3").exists():
        if not args.repair:
            print("problem: index.sqlite3 is missing; run with --repair to rebuild it")
            return 1
        notes.append(
            f"index.sqlite3 was missing: a new one is built from the segments; {lost_control}"
        )
    else:
        damage = index_damage(data_dir)
        if damage is not None:
            if not args.repair:
                print(f"problem: index.sqlite3 is damaged: {damage}; run with --repair")
                return 1
            moved = set_aside_index(data_dir)
            notes.append(
                f"index.sqlite3 was damaged ({damage}): moved to {moved}, and a new one is"
                f" built from the segments; {lost_control}"
            )

    async def run(store: EmbeddedStore) -> FsckReport:
        registry = InstanceRegistry(store.control, settings)
        return await fsck(store, keyring, repair=args.repair, routes_for=registry.routes)

    report = _with_writer(settings, run)
    for kind, lines in (
        ("note", [*notes, *report.notes]),
        ("repaired", report.repaired),
        ("restorable", report.restorable),
        ("problem", report.problems),
    ):
        for line in lines:
            print(f"{kind}: {line}")
    print(
        f"fsck: {len(report.problems)} problem(s) left, {len(report.repaired)} repair(s) made,"
        f" {len(report.restorable)} repair(s) possible"
        + (" (run with --repair, serve stopped)" if report.restorable else "")
    )
    return 0 if report.clean else 1


def _operator() -> str:
    """Who runs the CLI, for the audit trail: the operating-system user."""
    try:
        return f"os:{getpass.getuser()}"
    except (KeyError, OSError):
        return f"os:uid-{os.getuid()}"


def _new_password(args: argparse.Namespace) -> tuple[str, bool]:
    """(password, generated?) from --generate, --password-stdin or a prompt."""
    if args.generate:
        return generate_password(), True
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    elif sys.stdin.isatty():
        password = getpass.getpass("New password: ")
        if getpass.getpass("Again: ") != password:
            raise PhiReplayError("the passwords do not match")
    else:
        raise PhiReplayError("give --generate, --password-stdin, or run in a terminal")
    if len(password) < MIN_PASSWORD_CHARS:
        raise PhiReplayError(f"a password needs at least {MIN_PASSWORD_CHARS} characters")
    return password, False


def _control(args: argparse.Namespace) -> Control:
    """The control plane, keyed: every command that reaches it may append to the audit."""
    settings = _settings(args)
    audit_key = Keyring.load(settings.keyring_path).audit_key()
    return Control.open(settings.data_dir, audit_key=audit_key)


def cmd_users_add(args: argparse.Namespace) -> int:
    if args.role not in ROLES:
        raise PhiReplayError(f"--role: expected one of {', '.join(ROLES)}")
    if (args.role == "customer") != bool(args.instance):
        raise PhiReplayError("--instance is required for a customer, and only for a customer")
    if not USERNAME.fullmatch(args.username):
        raise PhiReplayError("user names are 1-64 letters, digits, '.', '_', '-' or '@'")
    password, generated = _new_password(args)
    with _control(args) as control:
        user = User(args.username, args.role, args.instance, hash_password(password))
        control.add_user(user)
        details = {"role": args.role, **({"instance": args.instance} if args.instance else {})}
        control.audit(AuditEntry(_operator(), "user.add", args.username, "cli", "ok", details))
    print(f"added {args.role} {args.username}")
    if generated:
        print(f"password (shown once): {password}")
    return 0


def cmd_users_passwd(args: argparse.Namespace) -> int:
    password, generated = _new_password(args)
    with _control(args) as control:
        control.set_password(args.username, hash_password(password))
        control.audit(AuditEntry(_operator(), "user.passwd", args.username, "cli"))
    print(f"password of {args.username} changed; their console sessions are ended")
    if generated:
        print(f"password (shown once): {password}")
    return 0


def cmd_users_disable(args: argparse.Namespace) -> int:
    enable = args.users_command == "enable"
    with _control(args) as control:
        control.set_disabled(args.username, not enable)
        action = "user.enable" if enable else "user.disable"
        control.audit(AuditEntry(_operator(), action, args.username, "cli"))
    print(f"{args.username} is {'enabled' if enable else 'disabled'}")
    return 0


def cmd_users_list(args: argparse.Namespace) -> int:
    with _control(args) as control:
        users = control.list_users()
    for u in users:
        state = "disabled" if u.disabled else "active"
        print(f"{u.username}\t{u.role}\t{u.instance or '-'}\t{state}")
    return 0


def cmd_audit_verify(args: argparse.Namespace) -> int:
    anchor = _read_anchor(args.anchor) if args.anchor else None
    with _control(args) as control:
        checked, broken = control.verify_audit()
        anchored = control.check_anchor(anchor) if anchor is not None else None
    failed = 0
    if broken is not None:
        print(f"audit chain BROKEN at record {broken.seq}: {broken.problem}")
        failed = 1
    else:
        print(f"audit chain intact: {checked} record(s)")
    if isinstance(anchored, AuditBreak):
        print(f"audit chain BROKEN at anchored record {anchored.seq}: {anchored.problem}")
        failed = 1
    elif anchor is not None and anchored == "holds":
        print(f"anchor holds: record {anchor.seq} is as it was anchored")
    elif anchor is not None:
        print(
            f"anchor not checked: record {anchor.seq} is past the audit retention; take a new one"
        )
    return failed


def _read_anchor(given: str) -> Anchor:
    """An anchor as text, or the file it was saved in."""
    text = given
    if not given.startswith("phi-replay-anchor/"):
        try:
            text = Path(given).read_text(encoding="utf-8")
        except OSError as exc:
            raise PhiReplayError(
                f"--anchor: expected an anchor or a file holding one; cannot read {given}"
                f" ({exc.strerror or type(exc).__name__})"
            ) from exc
    return Anchor.parse(text)


def cmd_audit_anchor(args: argparse.Namespace) -> int:
    with _control(args) as control:
        # Recorded first, so the anchor covers the record of its own taking.
        control.audit(AuditEntry(_operator(), "audit.anchor", "audit", "cli", "ok"))
        anchor = control.anchor()
    print(anchor.text())
    return 0


def cmd_keys_init(args: argparse.Namespace) -> int:
    settings = _settings(args)
    ring = Keyring.create(settings.keyring_path)
    print(f"created keyring {ring.path} (mode 0600) with active key {ring.active}")
    return 0


def cmd_rules_check(args: argparse.Namespace) -> int:
    from collector.rules import load_rules

    failed = 0
    for path in args.files:
        try:
            load_rules(path)
        except PhiReplayError as exc:
            print(exc, file=sys.stderr)
            failed += 1
        else:
            print(f"{path}: ok")
    return 2 if failed else 0


def _with_writer(settings: Settings, action: Callable[[EmbeddedStore], Awaitable[T]]) -> T:
    """Run `action` on the store as its one writer: refused while `serve` holds the lock."""

    async def run() -> T:
        store = EmbeddedStore(settings.data_dir)
        try:
            return await action(store)
        finally:
            await store.aclose()

    return asyncio.run(run())


def cmd_keys_rotate(args: argparse.Namespace) -> int:
    settings = _settings(args)
    ring = Keyring.load(settings.keyring_path)
    old = ring.active
    new = ring.rotate()
    print(f"active key is now {new} (was {old}); restart `serve` so new sessions use it,")
    print("then run `phi-replay keys rewrap` to re-wrap existing sessions and retire the old key")
    return 0


def cmd_keys_rewrap(args: argparse.Namespace) -> int:
    settings = _settings(args)
    ring = Keyring.load(settings.keyring_path)

    if not ring.ensure_ratchet():
        raise KeyringError(
            f"keyring {ring.path} cannot be written (the retention ratchet must be added to"
            " it first); run `keys rewrap` as the keyring's owner"
        )

    destroyed: list[str] = []

    def rewrap(session: SessionRecord) -> WrappedKey | None:
        key = session.wrapped_key
        if key.kek_id == ring.active and key.epoch:
            return None
        try:
            return ring.rewrap(key, session.instance, session.session_id, session.started_at)
        except RetentionKeyDestroyed:  # a purged session (a restored backup): stays shut
            destroyed.append(session.session_id)
            return None

    changed = _with_writer(settings, lambda store: store.rewrap(rewrap))
    if destroyed:
        print(
            f"left {len(destroyed)} session key(s) alone: their retention key was destroyed"
            " (sessions purged since, restored from a backup?); they cannot be read",
            file=sys.stderr,
        )
    retired = set(ring.keys) - {ring.active}
    if retired:
        ring.retire(retired)
    print(f"re-wrapped {changed} session key(s) under {ring.active}; retired {len(retired)} key(s)")
    return 0


def cmd_purge(args: argparse.Namespace) -> int:
    from collector.app import purge_expired

    settings = _settings(args)

    keyring = Keyring.load(settings.keyring_path)
    audit_key = keyring.audit_key()

    async def purge(store: EmbeddedStore) -> int:
        store.control.key_audit(audit_key)
        return await purge_expired(settings, store, time.time(), keyring=keyring)

    purged = _with_writer(settings, purge)
    print(f"purged {purged} expired session(s)")
    return 0


def _add_store_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help=f"where recordings and the index are kept (default: data_dir of --config,"
        f" else {DEFAULT_DATA_DIR})",
    )
    parser.add_argument(
        "--keyring",
        type=Path,
        default=None,
        help="the key-encryption keyring, kept outside the data directory (default: keyring"
        " of --config, else DATA_DIR.keyring.json beside the data directory)",
    )
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        help="TOML config file: instances, [listen], limits (default: none)",
    )


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError("expected a port number from 1 to 65535") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError("expected a port number from 1 to 65535")
    return port


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="phi-replay", description="Self-hosted session replay for applications with PHI."
    )
    parser.add_argument("--version", action="version", version=f"phi-replay {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="log at debug level (default: info)"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    parser.add_argument(
        "--log-format",
        choices=("text", "json"),
        default=None,
        help="log lines as text or as JSON lines (default: log_format of --config, else text)",
    )

    serve = sub.add_parser(
        "serve",
        help="run the collector",
        description="Run the collector. Each --host/--port/--certfile/--keyfile given here"
        " wins over the same key in the config file's [listen] table.",
    )
    serve.add_argument(
        "--host",
        default=None,
        help=f"address to listen on; 0.0.0.0 for every interface (default: host in"
        f" [listen], else {DEFAULT_HOST})",
    )
    serve.add_argument(
        "--port",
        type=_port,
        default=None,
        help=f"TCP port to listen on (default: port in [listen], else {DEFAULT_PORT})",
    )
    _add_store_args(serve)
    serve.add_argument(
        "--dev",
        action="store_true",
        help="add an instance 'dev' (app key 'dev', localhost origins) and create the"
        " keyring if missing; never in production (default: off)",
    )
    serve.add_argument(
        "--certfile",
        type=Path,
        default=None,
        help="TLS certificate chain, PEM; needs --keyfile (default: certfile in [listen],"
        " else none)",
    )
    serve.add_argument(
        "--keyfile",
        type=Path,
        default=None,
        help="TLS private key of that certificate, PEM, unencrypted (default: keyfile in"
        " [listen], else none)",
    )
    serve.add_argument(
        "--insecure-http",
        action="store_true",
        help="serve plain HTTP without TLS although this is not --dev, knowingly (default:"
        ' off; behind a TLS proxy use plain_http = "behind-proxy" in [listen] instead)',
    )
    serve.add_argument(
        "--check",
        action="store_true",
        help="check the configuration, TLS files, port, data directory and keyring, then"
        " exit without serving (0: all usable; 2: the first problem) (default: off)",
    )
    serve.set_defaults(func=cmd_serve)

    demo = sub.add_parser("demo", help="collector in dev mode plus a sample clinical app")
    demo.add_argument(
        "--host", default=DEFAULT_HOST, help=f"address to listen on (default: {DEFAULT_HOST})"
    )
    demo.add_argument(
        "--port",
        type=_port,
        default=DEFAULT_PORT,
        help=f"collector port; the sample app uses the next one (default: {DEFAULT_PORT})",
    )
    demo.add_argument(
        "--data-dir",
        type=Path,
        default=DEFAULT_DATA_DIR,
        help=f"where the demo's recordings are kept (default: {DEFAULT_DATA_DIR})",
    )
    demo.add_argument(
        "--keyring",
        type=Path,
        default=None,
        help="keyring, created if missing (default: DATA_DIR.keyring.json beside it)",
    )
    demo.set_defaults(func=cmd_demo)

    sessions = sub.add_parser("sessions", help="list stored sessions")
    _add_store_args(sessions)
    sessions.add_argument("--json", action="store_true", help="one JSON object per line")
    sessions.set_defaults(func=cmd_sessions)

    export = sub.add_parser(
        "export", help="print a session's decrypted events as JSON lines, in rrweb's event shape"
    )
    _add_store_args(export)
    which = export.add_mutually_exclusive_group(required=True)
    which.add_argument("--session", metavar="ID", help="the session to print (default: none)")
    which.add_argument("--all", action="store_true", help="print every stored session")
    export.set_defaults(func=cmd_export)

    check = sub.add_parser(
        "fsck",
        help="check the index against the segments and quarantine; --repair rebuilds it",
    )
    _add_store_args(check)
    check.add_argument(
        "--repair",
        action="store_true",
        help="rebuild lost index rows from segments, key files and the quarantine"
        " (default: only report); needs the keyring and serve stopped",
    )
    check.set_defaults(func=cmd_fsck)

    keys = sub.add_parser("keys", help="manage the keyring")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    init = keys_sub.add_parser("init", help="create a new keyring")
    _add_store_args(init)
    init.set_defaults(func=cmd_keys_init)
    rotate = keys_sub.add_parser("rotate", help="make a new key active for new sessions")
    _add_store_args(rotate)
    rotate.set_defaults(func=cmd_keys_rotate)
    rewrap = keys_sub.add_parser(
        "rewrap", help="re-wrap every session key under the active key; retire the others"
    )
    _add_store_args(rewrap)
    rewrap.set_defaults(func=cmd_keys_rewrap)

    purge = sub.add_parser("purge", help="delete sessions past their instance's retention")
    _add_store_args(purge)
    purge.add_argument("--dev", action="store_true", help="include the dev instance")
    purge.set_defaults(func=cmd_purge)

    users = sub.add_parser("users", help="console accounts")
    users_sub = users.add_subparsers(dest="users_command", required=True, metavar="ACTION")
    add = users_sub.add_parser("add", help="add a console user")
    add.add_argument("username")
    add.add_argument("--role", required=True, choices=ROLES, help="what the user may see")
    add.add_argument(
        "--instance",
        help="the instance a customer belongs to; only for --role customer (default: none)",
    )
    passwd = users_sub.add_parser("passwd", help="set a user's password (ends their logins)")
    passwd.add_argument("username")
    for p in (add, passwd):
        _add_store_args(p)
        how = p.add_mutually_exclusive_group()
        how.add_argument("--generate", action="store_true", help="generate one, print it once")
        how.add_argument("--password-stdin", action="store_true", help="read it from stdin")
    add.set_defaults(func=cmd_users_add)
    passwd.set_defaults(func=cmd_users_passwd)
    for name, text in (("disable", "disable a user (ends their logins)"), ("enable", "enable")):
        p = users_sub.add_parser(name, help=text)
        p.add_argument("username")
        _add_store_args(p)
        p.set_defaults(func=cmd_users_disable)
    listing = users_sub.add_parser("list", help="list users")
    _add_store_args(listing)
    listing.set_defaults(func=cmd_users_list)

    audit = sub.add_parser("audit", help="the audit trail")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True, metavar="ACTION")
    verify = audit_sub.add_parser(
        "verify", help="check the keyed chain; name the first broken link (needs the keyring)"
    )
    _add_store_args(verify)
    verify.add_argument(
        "--anchor",
        metavar="ANCHOR_OR_FILE",
        default=None,
        help="also check that the chain still holds this anchor (records removed or rewritten"
        " since it was taken); default: no anchor",
    )
    verify.set_defaults(func=cmd_audit_verify)
    anchor = audit_sub.add_parser(
        "anchor", help="print the chain's signed head, to keep somewhere off this host"
    )
    _add_store_args(anchor)
    anchor.set_defaults(func=cmd_audit_anchor)

    rules = sub.add_parser("rules", help="masking rules")
    rules_sub = rules.add_subparsers(dest="rules_command", required=True, metavar="ACTION")
    check = rules_sub.add_parser("check", help="validate rules files against the schema")
    check.add_argument("files", nargs="+", type=Path, metavar="FILE")
    check.set_defaults(func=cmd_rules_check)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.func(args))
    except PhiReplayError as exc:
        print(f"phi-replay: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0

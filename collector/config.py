"""Collector configuration: defaults, the TOML config file, and the dev instance.

A config file looks like this (every key optional except an instance's `name`):

    data_dir = "/var/lib/phi-replay"
    keyring = "/etc/phi-replay/keyring.json"
    max_message_bytes = 4194304

    [[instances]]
    name = "trials"
    app_keys = ["trials-web-2f9c"]
    allowed_origins = ["https://trials.example.org"]
    routes = ["/patients/:id/visits"]

    [listen]                          # the command line's --host, --port, ... win over these
    host = "0.0.0.0"
    port = 8700
    certfile = "/etc/phi-replay/cert.pem"
    keyfile = "/etc/phi-replay/key.pem"

Errors name the key with its table path, the problem in plain words, and for an unknown
key the nearest valid one, e.g. `instances[0].allowed_origins: item 1: expected an origin
like https://host or http://host:*` or `listen.prot: unknown key (did you mean
'port'?)`. Values are never repeated: a config file may hold secrets (app keys).
"""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Iterable
from datetime import date
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    ValidationError,
    field_validator,
    model_validator,
)

from collector.control import AUDIT_RETENTION_DAYS
from collector.exceptions import ConfigError
from collector.origins import OriginPattern
from collector.paths import RouteTable, compile_routes
from collector.rules import RouteTemplate

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8700
DEFAULT_SHUTDOWN_GRACE_SECONDS = 10.0  # systemd's TimeoutStopSec (90 s) leaves ample margin
DEFAULT_SEND_TIMEOUT_SECONDS = 30.0  # TCP_USER_TIMEOUT: a client that stops reading is reset
DEFAULT_DATA_DIR = Path("./var")
DEFAULT_MAX_MESSAGE_BYTES = 4 * 1024 * 1024  # one batch; a full snapshot is ~300 KB
DEV_INSTANCE = "dev"
DEV_APP_KEY = "dev"
DEV_ORIGINS = ("http://127.0.0.1:*", "http://localhost:*")
# The sample app's routes (collector/demo_app/app.py), so that `serve --dev` and the demo
# index its page paths with their literals, as the sample app declares them to its recorder.
DEV_ROUTES = ("/patients", "/patients/:patient_id", "/api/visits", "/volunteers/")
DEFAULT_RETENTION_DAYS = 30  # recordings expire after 30 days unless an instance says otherwise
# Every request body but the beacon's: the console's largest form is a few KiB.
DEFAULT_MAX_BODY_BYTES = 16 * 1024
IPNetwork = IPv4Network | IPv6Network


def _network(value: object) -> IPNetwork:
    """An address or CIDR network from the config file (`10.0.0.0/8`, `::1`)."""
    if isinstance(value, IPv4Network | IPv6Network):
        return value
    if not isinstance(value, str):
        raise ValueError("expected an address or network as a string, like 10.0.0.0/8")
    try:
        return ip_network(value.strip())
    except ValueError as exc:
        raise ValueError(f"expected an address or network like 10.0.0.0/8 ({exc})") from None


Network = Annotated[IPNetwork, BeforeValidator(_network)]
DEFAULT_METRICS_ALLOW: tuple[IPNetwork, ...] = (IPv4Network("127.0.0.0/8"), IPv6Network("::1/128"))

NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"
Name = Annotated[str, Field(pattern=NAME_PATTERN)]


PRODUCTION_NAMES = ("prod", "production")
MAX_RULES = 500  # per list, as masking-rules/schema.json allows
SELECTOR_PATTERN = r"\S"
ROUTE_GLOB_PATTERN = r"^/[^\s?#]*$"
Selector = Annotated[str, Field(min_length=1, max_length=1000, pattern=SELECTOR_PATTERN)]
RouteGlob = Annotated[str, Field(max_length=1000, pattern=ROUTE_GLOB_PATTERN)]


class OptIn(BaseModel):
    """The record that lets production be recorded: who decided, when, under which ticket."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    by: Annotated[str, Field(min_length=1, max_length=200)]
    at: date
    ticket: Annotated[str, Field(min_length=1, max_length=200)]


class Window(BaseModel):
    """Recording is on from `from` to `to`, both days included (UTC)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    start: date = Field(alias="from")
    end: date = Field(alias="to")

    @model_validator(mode="after")
    def _ordered(self) -> Window:
        if self.end < self.start:
            raise ValueError("'to' is before 'from'")
        return self

    def holds(self, day: date) -> bool:
        return self.start <= day <= self.end


class Environment(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: StrictBool = False
    production: StrictBool | None = None  # default: true for an environment named prod/production
    opt_in: OptIn | None = None
    windows: tuple[Window, ...] = ()


class InstanceConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Name
    app_keys: tuple[Annotated[str, Field(min_length=3, max_length=200)], ...] = ()
    allowed_origins: tuple[str, ...] = ()
    retention_days: int = Field(default=DEFAULT_RETENTION_DAYS, ge=1, le=3650, strict=True)
    # Whether this instance's own staff (role `customer`) may review its sessions.
    customer_access: StrictBool = False
    # Where recording may happen. Absent: in every environment (and no production
    # opt-in is asked for); present: only in the environments listed and enabled.
    environments: dict[Name, Environment] | None = None
    # Rules sent to the recorder in the handshake; they can only add masking, blocking
    # and exclusions to the application's own (masking-rules/README.md).
    mask: Annotated[tuple[Selector, ...], Field(max_length=MAX_RULES)] = ()
    block: Annotated[tuple[Selector, ...], Field(max_length=MAX_RULES)] = ()
    exclude_routes: Annotated[tuple[RouteGlob, ...], Field(max_length=MAX_RULES)] = ()
    # The application's routes, for templating the page paths the collector indexes
    # (collector/paths.py). Never sent to the recorder: a declared literal reveals a path
    # segment, and the collector's configuration may only tighten the recorder's rules.
    routes: Annotated[tuple[RouteTemplate, ...], Field(max_length=MAX_RULES)] = ()

    @field_validator("environments")
    @classmethod
    def _production_opt_in(
        cls, value: dict[str, Environment] | None
    ) -> dict[str, Environment] | None:
        for name, env in (value or {}).items():
            production = env.production if env.production is not None else name in PRODUCTION_NAMES
            if production and env.enabled and env.opt_in is None:
                raise ValueError(
                    f"{name}: a production environment needs an opt_in record"
                    " (by, at, ticket) before it can be enabled"
                )
        return value

    def refusal(self, environment: str, today: date) -> str | None:
        """Why this instance does not record `environment` today, or None if it does."""
        if self.environments is None:
            return None
        env = self.environments.get(environment)
        if env is None or not env.enabled:
            return "recording is not enabled for this environment"
        if env.windows and not any(w.holds(today) for w in env.windows):
            return "recording is outside this environment's enable windows"
        return None

    def remote_rules(self) -> dict[str, list[str]]:
        """The rules the recorder is sent in `welcome`: only keys that add something (so
        never `routes`, which would reveal)."""
        rules = {"mask": self.mask, "block": self.block, "exclude_routes": self.exclude_routes}
        return {key: list(values) for key, values in rules.items() if values}

    def route_table(self) -> RouteTable:
        """`routes`, compiled (once per distinct list) for collector.paths.template_path."""
        return compile_routes(self.routes)

    @field_validator("allowed_origins")
    @classmethod
    def _origins_parse(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for index, text in enumerate(value):
            try:
                OriginPattern.parse(text)
            except ValueError as exc:
                raise ValueError(f"item {index}: {exc}") from None
        return value

    def origin_patterns(self) -> tuple[OriginPattern, ...]:
        return tuple(OriginPattern.parse(o) for o in self.allowed_origins)


class Listen(BaseModel):
    """`[listen]`: where `serve` listens and how. The command line wins over each key."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: Annotated[str, Field(min_length=1, max_length=255)] = DEFAULT_HOST
    port: int = Field(default=DEFAULT_PORT, ge=1, le=65535, strict=True)
    certfile: Path | None = None
    keyfile: Path | None = None
    # Without TLS a non-dev collector refuses to start unless this says it is meant:
    # "behind-proxy" (a TLS-terminating proxy in front; needs trusted_proxies) or
    # "insecure" (plain HTTP, e.g. a closed test network).
    plain_http: Literal["no", "behind-proxy", "insecure"] = "no"
    # On SIGTERM: how long sockets get to have their in-flight batches acked before the
    # collector exits anyway (recorders resend whatever was not acked).
    shutdown_grace_seconds: float = Field(
        default=DEFAULT_SHUTDOWN_GRACE_SECONDS, gt=0, le=600, strict=True
    )


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    data_dir: Path = DEFAULT_DATA_DIR
    keyring: Path | None = None
    max_message_bytes: int = Field(
        default=DEFAULT_MAX_MESSAGE_BYTES, ge=64 * 1024, le=64 << 20, strict=True
    )
    hello_timeout_seconds: float = Field(default=10.0, gt=0, le=300, strict=True)
    # Per connection: sustained batches per second, and how many may come at once.
    batches_per_second: float = Field(default=100.0, gt=0, le=10_000, strict=True)
    batch_burst: int = Field(default=1000, ge=1, le=100_000, strict=True)
    # Per client address on /v1/beacon: a page sends one beacon when it is hidden; a
    # clinic's workstations behind one NAT address share these. A beacon costs one token,
    # and one more per 64 KiB of body (browsers cap beacons at 64 KB).
    beacons_per_second: float = Field(default=50.0, gt=0, le=10_000, strict=True)
    beacon_burst: int = Field(default=500, ge=1, le=100_000, strict=True)
    dev: StrictBool = False
    instances: tuple[InstanceConfig, ...] = ()
    listen: Listen = Listen()
    # Support console (collector/console): idle logoff, lockout, how long audit is kept.
    console_idle_minutes: float = Field(default=15.0, gt=0, le=24 * 60, strict=True)
    login_max_failures: int = Field(default=5, ge=1, le=100, strict=True)
    login_lock_minutes: float = Field(default=15.0, ge=0, le=24 * 60, strict=True)
    # Per client address (an IPv6 one by its /64): password checks at once, and how many
    # come back per minute; a login ends this many hours after sign-in, however active.
    login_address_burst: int = Field(default=10, ge=1, le=10_000, strict=True)
    login_address_per_minute: float = Field(default=2.0, gt=0, le=10_000, strict=True)
    console_session_hours: float = Field(default=12.0, gt=0, le=7 * 24, strict=True)
    audit_retention_days: int = Field(default=AUDIT_RETENTION_DAYS, ge=365, le=36500, strict=True)

    # HTTP limits (collector/http_limits.py, docs/operations.md "Limits and their defaults").
    max_body_bytes: int = Field(default=DEFAULT_MAX_BODY_BYTES, ge=1024, le=64 << 20, strict=True)
    # A beacon body: browsers cap one at 64 KiB (the recorder sends at most 60,000 bytes).
    max_beacon_bytes: int = Field(default=64 * 1024, ge=1024, le=64 << 20, strict=True)
    # Client input held at once across all connections while it arrives (frames, bodies).
    max_buffered_bytes: int = Field(default=256 << 20, ge=16 << 20, le=64 << 30, strict=True)
    body_timeout_seconds: float = Field(default=30.0, gt=0, le=3600, strict=True)
    idle_timeout_seconds: float = Field(default=300.0, gt=0, le=24 * 3600, strict=True)
    # Data the collector sent that stays unacknowledged this long (a client that stops
    # reading, a vanished network) resets the connection (TCP_USER_TIMEOUT).
    send_timeout_seconds: float = Field(
        default=DEFAULT_SEND_TIMEOUT_SECONDS, ge=1, le=3600, strict=True
    )
    max_connections_per_address: int = Field(default=200, ge=1, le=1_000_000, strict=True)
    # Addresses (CIDR) whose X-Forwarded-For / X-Forwarded-Proto are believed; no one's by
    # default. Who may scrape /metrics (the client address, after trusted proxies).
    trusted_proxies: tuple[Network, ...] = ()
    metrics_allow: tuple[Network, ...] = DEFAULT_METRICS_ALLOW
    log_format: str = Field(default="text", pattern="^(text|json)$")  # "json": JSON lines

    @property
    def keyring_path(self) -> Path:
        """The keyring lives beside the data directory, never inside it."""
        if self.keyring is not None:
            return self.keyring
        data_dir = self.data_dir.resolve()
        return data_dir.parent / f"{data_dir.name}.keyring.json"

    @staticmethod
    def default_cutoff(now: float) -> float:
        """For sessions of instances no longer configured: the default retention."""
        return now - DEFAULT_RETENTION_DAYS * 86400

    def with_dev_instance(self) -> Settings:
        names = {i.name for i in self.instances}
        extra = () if DEV_INSTANCE in names else (dev_instance(),)
        return self.model_copy(update={"dev": True, "instances": self.instances + extra})


def retention_cutoffs(instances: Iterable[InstanceConfig], now: float) -> dict[str, float]:
    """Per instance, the start time before which a session has expired."""
    return {i.name: now - i.retention_days * 86400 for i in instances}


def dev_instance() -> InstanceConfig:
    return InstanceConfig(
        name=DEV_INSTANCE, app_keys=(DEV_APP_KEY,), allowed_origins=DEV_ORIGINS, routes=DEV_ROUTES
    )


TOML_TYPES = {
    "str": "a string",
    "int": "an integer",
    "float": "a number",
    "bool": "true or false",
    "list": "an array",
    "dict": "a table",
    "date": "a date",
    "datetime": "a date and time",
    "time": "a time",
}

# pydantic's wording, turned into the config file's ("Input should be ..." → "must be ...").
_EXPECTED = {
    "bool_type": "expected true or false (unquoted)",
    "int_type": "expected a whole number (unquoted)",
    "float_type": "expected a number (unquoted)",
    "string_type": "expected a string (in quotes)",
    "tuple_type": "expected an array ([...])",
    "list_type": "expected an array ([...])",
    "dict_type": "expected a table",
    "model_type": "expected a table",
    "model_attributes_type": "expected a table",
    "date_type": "expected a date like 2026-11-01",
    "date_from_datetime_inexact": "expected a date like 2026-11-01, without a time",
    "path_type": "expected a file path (in quotes)",
    "missing": "required, but missing",
}
_PATTERNS = {
    NAME_PATTERN: "a name of lowercase letters, digits, '_' and '-' (at most 63, no spaces)",
    SELECTOR_PATTERN: "a CSS selector, not blank",
    ROUTE_GLOB_PATTERN: "a path glob starting with / (no spaces, ? or #)",
}
_SHOULD = re.compile(r"^(?:Input|String|Tuple|List|Dictionary|Value) should ")


def _models_in(annotation: object) -> list[type[BaseModel]]:
    found: list[type[BaseModel]] = []
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        found.append(annotation)
    for arg in getattr(annotation, "__args__", ()):
        found.extend(_models_in(arg))
    return found


def _keys_at(root: type[BaseModel], loc: tuple[int | str, ...]) -> list[str]:
    """The valid keys of the table at `loc` below `root` (an unknown key's table)."""
    models: list[type[BaseModel]] = [root]
    for part in loc:
        if isinstance(part, int):
            continue
        nested: list[type[BaseModel]] = []
        for model in models:
            field = model.model_fields.get(part) or next(
                (f for f in model.model_fields.values() if f.alias == part), None
            )
            if field is not None:
                nested.extend(_models_in(field.annotation))
        if nested:  # else a dict key (an environment's name): its value's model stays
            models = nested
    return sorted({f.alias or name for m in models for name, f in m.model_fields.items()})


def _where(loc: tuple[int | str, ...]) -> str:
    key = ""
    for part in loc:
        key += f"[{part}]" if isinstance(part, int) else (f".{part}" if key else str(part))
    return key or "(top level)"


def _problem(root: type[BaseModel], item: Any) -> str:
    kind = item["type"]
    loc = tuple(item["loc"])
    if kind == "extra_forbidden":
        valid = _keys_at(root, loc[:-1])
        close = difflib.get_close_matches(str(loc[-1]), valid, n=1, cutoff=0.6)
        hint = f"did you mean {close[0]!r}?" if close else f"valid keys: {', '.join(valid)}"
        return f"unknown key ({hint})"
    arrived = TOML_TYPES.get(type(item.get("input")).__name__, "something else")
    if kind in _EXPECTED:
        expected = _EXPECTED[kind]
        return expected if kind == "missing" else f"{expected}, got {arrived}"
    if kind == "string_pattern_mismatch" and item["ctx"]["pattern"] in _PATTERNS:
        return f"expected {_PATTERNS[item['ctx']['pattern']]}"
    if kind == "literal_error":
        expected = f"expected one of {item['ctx']['expected']}"
        return expected if arrived == "a string" else f"{expected} (in quotes), got {arrived}"
    message = str(item["msg"]).removeprefix("Value error, ")
    return _SHOULD.sub("must ", message)


def describe_error(error: ValidationError) -> str:
    """Every problem, `key: problem`, without the values that arrived."""
    # The console validates an instance alone: its locations start below Settings.
    models = (Settings, InstanceConfig, Environment, Window, OptIn, Listen)
    root = next((m for m in models if m.__name__ == error.title), Settings)
    items = error.errors(include_url=False)
    return "; ".join(f"{_where(tuple(i['loc']))}: {_problem(root, i)}" for i in items)


def load_settings(config_file: Path | None, **overrides: object) -> Settings:
    """Read the TOML file (if any), then apply command-line overrides that were given."""
    raw: dict[str, object] = {}
    if config_file is not None:
        try:
            raw = tomllib.loads(config_file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"{config_file}: no such config file") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{config_file}: not valid TOML ({exc})") from None
        if "data_dir" in raw and isinstance(raw["data_dir"], str):
            raw["data_dir"] = (config_file.parent / raw["data_dir"]).as_posix()
        if "keyring" in raw and isinstance(raw["keyring"], str):
            raw["keyring"] = (config_file.parent / raw["keyring"]).as_posix()
        listen = raw.get("listen")
        if isinstance(listen, dict):
            for key in ("certfile", "keyfile"):
                if isinstance(listen.get(key), str):
                    listen[key] = (config_file.parent / listen[key]).as_posix()
    raw.update({k: v for k, v in overrides.items() if v is not None})
    try:
        settings = Settings.model_validate(raw)
    except ValidationError as exc:
        where = str(config_file) if config_file else "settings"
        raise ConfigError(f"{where}: {describe_error(exc)}") from None
    names = [i.name for i in settings.instances]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ConfigError(f"instances: name {duplicates[0]!r} is defined more than once")
    keys = [k for i in settings.instances for k in i.app_keys]
    if len(keys) != len(set(keys)):
        raise ConfigError("instances: an app key is used by more than one instance")
    return settings

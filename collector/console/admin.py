"""The instance form of the console: an InstanceConfig to form fields and back.

Parsing never trusts the form for what it cannot change: the name comes from the URL,
app keys from their own buttons, and an existing production opt-in is carried over as
it was recorded. A new opt-in takes the signed-in superadmin and today's date; the form
only supplies the ticket.
"""

from __future__ import annotations

import json
import secrets
from datetime import date
from typing import Any

from pydantic import ValidationError

from collector.config import PRODUCTION_NAMES, InstanceConfig, describe_error
from collector.exceptions import ConfigError
from collector.instances import to_doc

MAX_ENVIRONMENT_ROWS = 20
BLANK_ROWS = 2  # empty rows offered for new environments


def lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def form_of(instance: InstanceConfig) -> dict[str, Any]:
    """The edit form's fields for `instance` (plus blank environment rows)."""
    envs = []
    for name, env in (instance.environments or {}).items():
        production = env.production if env.production is not None else name in PRODUCTION_NAMES
        envs.append(
            {
                "name": name,
                "enabled": env.enabled,
                "production": production,
                "windows": "\n".join(f"{w.start}..{w.end}" for w in env.windows),
                "opt_in": env.opt_in,
                "opt_in_json": env.opt_in.model_dump_json() if env.opt_in else "",
            }
        )
    envs += [
        {"name": "", "enabled": False, "production": False, "windows": "", "opt_in": None}
        for _ in range(BLANK_ROWS)
    ]
    return {
        "allowed_origins": "\n".join(instance.allowed_origins),
        "environments_listed": instance.environments is not None,
        "environments": envs,
        "mask": "\n".join(instance.mask),
        "block": "\n".join(instance.block),
        "exclude_routes": "\n".join(instance.exclude_routes),
        "retention_days": instance.retention_days,
        "customer_access": instance.customer_access,
    }


def _window(text: str, row: int) -> dict[str, str]:
    start, sep, end = text.partition("..")
    if not sep:
        raise ConfigError(f"environments row {row + 1}: a window is written FROM..TO")
    return {"from": start.strip(), "to": end.strip()}


def instance_from_form(
    current: InstanceConfig, form: dict[str, str], editor: str, today: date
) -> InstanceConfig:
    """The edited instance, or ConfigError naming the field and the problem."""
    doc: dict[str, Any] = to_doc(current)
    doc.update(
        allowed_origins=lines(form.get("allowed_origins", "")),
        mask=lines(form.get("mask", "")),
        block=lines(form.get("block", "")),
        exclude_routes=lines(form.get("exclude_routes", "")),
        customer_access=form.get("customer_access") == "1",
    )
    retention = form.get("retention_days", "").strip()
    doc["retention_days"] = int(retention) if retention.isdigit() else retention
    if form.get("environments_listed") == "1":
        envs: dict[str, Any] = {}
        for row in range(MAX_ENVIRONMENT_ROWS):
            name = form.get(f"env-{row}-name", "").strip()
            if not name:
                continue
            production = form.get(f"env-{row}-production") == "1"
            env: dict[str, Any] = {
                "enabled": form.get(f"env-{row}-enabled") == "1",
                "production": production,
                "windows": [_window(w, row) for w in lines(form.get(f"env-{row}-windows", ""))],
            }
            kept = form.get(f"env-{row}-optin", "")
            ticket = form.get(f"env-{row}-ticket", "").strip()
            previous = (current.environments or {}).get(name)
            if kept and previous is not None and previous.opt_in is not None:
                env["opt_in"] = json.loads(previous.opt_in.model_dump_json())
            elif ticket:
                env["opt_in"] = {"by": editor, "at": today.isoformat(), "ticket": ticket}
            envs[name] = env
        doc["environments"] = envs
    else:
        doc.pop("environments", None)
    try:
        return InstanceConfig.model_validate(doc)
    except ValidationError as exc:
        raise ConfigError(describe_error(exc)) from None


def changed_fields(before: InstanceConfig, after: InstanceConfig) -> str:
    old, new = to_doc(before), to_doc(after)
    return ",".join(sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k)))


def new_app_key(instance: str) -> str:
    return f"{instance}-{secrets.token_urlsafe(12)}"

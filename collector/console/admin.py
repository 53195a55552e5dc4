"""The instance form of the console: an InstanceConfig to form fields and back.

Parsing never trusts the form for what it cannot change: the name comes from the URL,
app keys from their own buttons, and an existing production opt-in is carried over as
it was recorded. A new opt-in takes the signed-in superadmin and today's date; the form
only supplies the ticket.
"""

from __future__ import annotations

import secrets
from datetime import date
from typing import Any

from pydantic import ValidationError

from collector.config import PRODUCTION_NAMES, InstanceConfig, OptIn, describe_error
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
        "routes": "\n".join(instance.routes),
        "retention_days": instance.retention_days,
        "customer_access": instance.customer_access,
    }


def _window(text: str, row: int) -> dict[str, str]:
    start, sep, end = text.partition("..")
    if not sep:
        raise ConfigError(f"environments row {row + 1}: a window is written FROM..TO")
    return {"from": start.strip(), "to": end.strip()}


def _posted_rows(form: dict[str, str]) -> list[dict[str, Any]]:
    """The environment rows of a posted form, as sent (rows without a name included)."""
    return [
        {
            "row": row,
            "name": form[f"env-{row}-name"].strip(),
            "enabled": form.get(f"env-{row}-enabled") == "1",
            "production": form.get(f"env-{row}-production") == "1",
            "windows": form.get(f"env-{row}-windows", ""),
            "keeps_opt_in": bool(form.get(f"env-{row}-optin")),
            "ticket": form.get(f"env-{row}-ticket", "").strip(),
        }
        for row in range(MAX_ENVIRONMENT_ROWS)
        if f"env-{row}-name" in form
    ]


def _recorded_opt_in(current: InstanceConfig, row: dict[str, Any]) -> OptIn | None:
    """The opt-in already recorded for a row's environment, if the form keeps it."""
    previous = (current.environments or {}).get(row["name"])
    return previous.opt_in if row["keeps_opt_in"] and previous is not None else None


def form_from_post(current: InstanceConfig, form: dict[str, str]) -> dict[str, Any]:
    """The edit form as the user sent it, to show again with the error."""
    rows = [{**r, "opt_in": _recorded_opt_in(current, r)} for r in _posted_rows(form)]
    return {
        "allowed_origins": form.get("allowed_origins", ""),
        "environments_listed": form.get("environments_listed") == "1",
        "environments": rows,
        "mask": form.get("mask", ""),
        "block": form.get("block", ""),
        "exclude_routes": form.get("exclude_routes", ""),
        "routes": form.get("routes", ""),
        "retention_days": form.get("retention_days", ""),
        "customer_access": form.get("customer_access") == "1",
    }


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
        routes=lines(form.get("routes", "")),
        customer_access=form.get("customer_access") == "1",
    )
    retention = form.get("retention_days", "").strip()
    doc["retention_days"] = int(retention) if retention.isdigit() else retention
    if form.get("environments_listed") == "1":
        envs: dict[str, Any] = {}
        for row in _posted_rows(form):
            if not row["name"]:
                continue
            env: dict[str, Any] = {
                "enabled": row["enabled"],
                "production": row["production"],
                "windows": [_window(w, row["row"]) for w in lines(row["windows"])],
            }
            recorded = _recorded_opt_in(current, row)
            if recorded is not None:
                env["opt_in"] = recorded.model_dump(mode="json")
            elif row["ticket"]:
                env["opt_in"] = {"by": editor, "at": today.isoformat(), "ticket": row["ticket"]}
            envs[row["name"]] = env
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

"""Masking rules (masking-rules/schema.json), validated on the collector side.

The recorder is the final judge of a selector (the browser parses it); here we check
the same shape as the JSON Schema plus what can be checked without a CSS parser:
balanced brackets and quotes, and no characters that end a selector (`{`, `}`, `;`).
Messages name the key and index, never the value: `rules.unmask[2]: unbalanced [ ]`.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from collector.exceptions import ConfigError

MAX_ITEMS = 500  # per list, as in schema.json
MAX_LENGTH = 1000  # per selector or route, as in schema.json
_ROUTE = re.compile(r"^/[^\s?#]*$")
_PAIRS = {"(": ")", "[": "]"}


def _check_selector(text: str) -> str:
    if not text.strip():
        raise ValueError("expected a CSS selector, got an empty string")
    if any(ord(c) < 0x20 and c not in "\t\n" for c in text):
        raise ValueError("control characters are not allowed in a selector")
    stack: list[str] = []
    quote = ""
    escaped = False
    for c in text:
        if escaped:
            escaped = False
        elif c == "\\":
            escaped = True
        elif quote:
            quote = "" if c == quote else quote
        elif c in "\"'":
            quote = c
        elif c in "{};":
            raise ValueError(f"'{c}' cannot appear in a selector")
        elif c in _PAIRS:
            stack.append(_PAIRS[c])
        elif c in ")]" and (not stack or stack.pop() != c):
            raise ValueError(f"unbalanced '{c}'")
    if quote:
        raise ValueError("unterminated string")
    if stack:
        raise ValueError(f"missing '{stack[-1]}'")
    return text


def _check_route(text: str) -> str:
    if not _ROUTE.match(text):
        raise ValueError("expected a path glob starting with '/', without spaces, '?' or '#'")
    return text


Selector = Annotated[str, Field(max_length=MAX_LENGTH), AfterValidator(_check_selector)]
Route = Annotated[str, Field(max_length=MAX_LENGTH), AfterValidator(_check_route)]


class MaskingRules(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    mask: Annotated[tuple[Selector, ...], Field(max_length=MAX_ITEMS)] = ()
    unmask: Annotated[tuple[Selector, ...], Field(max_length=MAX_ITEMS)] = ()
    block: Annotated[tuple[Selector, ...], Field(max_length=MAX_ITEMS)] = ()
    exclude_routes: Annotated[tuple[Route, ...], Field(max_length=MAX_ITEMS)] = ()


def describe(error: ValidationError, prefix: str = "rules") -> str:
    """`rules.unmask[2]: unbalanced ']'` — key paths and reasons, never values."""
    lines = []
    for item in error.errors(include_input=False, include_url=False):
        key = prefix
        for part in item["loc"]:
            key += f"[{part}]" if isinstance(part, int) else f".{part}"
        msg = item["msg"].removeprefix("Value error, ")
        lines.append(f"{key}: {msg}")
    return "; ".join(lines)


def parse_rules(doc: Any, prefix: str = "rules") -> MaskingRules:
    if not isinstance(doc, dict):
        raise ConfigError(
            f"{prefix}: expected a JSON object with mask, unmask, block, exclude_routes"
        )
    try:
        return MaskingRules.model_validate(doc)
    except ValidationError as exc:
        raise ConfigError(describe(exc, prefix)) from None


def load_rules(path: Path) -> MaskingRules:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"{path}: not valid JSON (line {exc.lineno} column {exc.colno})"
        ) from None
    return parse_rules(doc, prefix=f"{path}: rules")

"""Masking rules (masking-rules/schema.json), validated on the collector side.

The recorder is the final judge of a selector (the browser parses it); here we check
the same shape as the JSON Schema plus what can be checked without a CSS parser:
balanced brackets and quotes, and no characters that end a selector (`{`, `}`, `;`).
Route templates and interface strings are checked exactly as the recorder checks them
(sdk-js/src/rules.ts). Messages name the key and index, never the value:
`rules.unmask[2]: unbalanced [ ]`.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from collector.exceptions import ConfigError

MAX_ITEMS = 500  # per list, as in schema.json
MAX_LENGTH = 1000  # per selector or route, as in schema.json
# A translation catalogue is longer than a selector list: bounds of its own (schema.json).
MAX_UI_TEXT = 20_000
MAX_UI_TEXT_LENGTH = 500  # in UTF-16 code units, as the recorder counts a string's length
_ROUTE = re.compile(r"/[^\s?#]*")  # an excluded-route glob (fullmatch: no newline after it)
# A route template: literal segments of URL-safe characters, parameters `:name` or `*`.
ROUTE_TEMPLATE = re.compile(r"(/([A-Za-z0-9._~-]+|:[A-Za-z_][A-Za-z0-9_-]*|\*))+/?")
# What JavaScript's trim() removes (WhiteSpace and LineTerminator): a ui_text string made
# only of these is blank to the recorder, which refuses it.
_JS_SPACE = frozenset(
    "\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007"
    "\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
)
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
    if not _ROUTE.fullmatch(text):
        raise ValueError("expected a path glob starting with '/', without spaces, '?' or '#'")
    return text


def _check_route_template(text: str) -> str:
    if not ROUTE_TEMPLATE.fullmatch(text):
        raise ValueError(
            'expected a route like "/patients/:id/visits": literal segments of letters,'
            " digits and . _ ~ -, parameters as :name or *"
        )
    return text


def _check_ui_text(text: str) -> str:
    if all(c in _JS_SPACE for c in text):
        raise ValueError("expected interface text, got an empty or blank string")
    if len(text.encode("utf-16-le", "surrogatepass")) // 2 > MAX_UI_TEXT_LENGTH:
        raise ValueError(f"longer than {MAX_UI_TEXT_LENGTH} characters")
    return text


Selector = Annotated[str, Field(max_length=MAX_LENGTH), AfterValidator(_check_selector)]
Route = Annotated[str, Field(max_length=MAX_LENGTH), AfterValidator(_check_route)]
RouteTemplate = Annotated[str, Field(max_length=MAX_LENGTH), AfterValidator(_check_route_template)]
UiText = Annotated[str, AfterValidator(_check_ui_text)]
UiTextList = Annotated[tuple[UiText, ...], Field(max_length=MAX_UI_TEXT)]
_ui_text_list: TypeAdapter[tuple[str, ...]] = TypeAdapter(UiTextList)


class MaskingRules(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    mask: Annotated[tuple[Selector, ...], Field(max_length=MAX_ITEMS)] = ()
    unmask: Annotated[tuple[Selector, ...], Field(max_length=MAX_ITEMS)] = ()
    block: Annotated[tuple[Selector, ...], Field(max_length=MAX_ITEMS)] = ()
    exclude_routes: Annotated[tuple[Route, ...], Field(max_length=MAX_ITEMS)] = ()
    # Only the application's own rules can hold these two: each reveals something.
    routes: Annotated[tuple[RouteTemplate, ...], Field(max_length=MAX_ITEMS)] = ()
    ui_text: UiTextList = ()


def describe(error: ValidationError, prefix: str = "rules", where: str = "") -> str:
    """`rules.unmask[2]: unbalanced ']'` — key paths and reasons, never values. `where`
    follows the key: `rules.ui_text[3] (in en.json): ...`."""
    lines = []
    for item in error.errors(include_input=False, include_url=False):
        key = prefix
        for part in item["loc"]:
            key += f"[{part}]" if isinstance(part, int) else f".{part}"
        msg = item["msg"].removeprefix("Value error, ")
        lines.append(f"{key}{where}: {msg}")
    return "; ".join(lines)


def parse_rules(doc: Any, prefix: str = "rules") -> MaskingRules:
    if not isinstance(doc, dict):
        raise ConfigError(
            f"{prefix}: expected a JSON object with mask, unmask, block, exclude_routes,"
            " routes, ui_text"
        )
    try:
        return MaskingRules.model_validate(doc)
    except ValidationError as exc:
        raise ConfigError(describe(exc, prefix)) from None


def _read_json(path: Path, key: str = "") -> Any:
    """A JSON file, or ConfigError naming the key and the file (never its content)."""
    where = f"{key}: {path}" if key else str(path)
    try:
        return json.loads(path.read_text(encoding="utf-8-sig"))  # a BOM, as some exports write
    except FileNotFoundError:
        raise ConfigError(f"{where}: no such file") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"{where}: not valid JSON (line {exc.lineno} column {exc.colno})"
        ) from None
    except UnicodeDecodeError:
        raise ConfigError(f"{where}: not UTF-8 text") from None
    except OSError as exc:
        raise ConfigError(f"{where}: cannot be read ({exc.strerror})") from None


def _load_ui_text(rules_file: Path, name: str) -> tuple[str, ...]:
    """A rules file's `"ui_text": "catalogue.json"`: that file (relative to the rules
    file) holds the strings, as a JSON array, e.g. exported from a translation
    catalogue."""
    key = f"{rules_file}: rules.ui_text"
    if not name.strip() or Path(name).is_absolute():
        raise ConfigError(
            f"{key}: expected an array of strings, or the path of a JSON file relative to"
            " the rules file"
        )
    catalogue = rules_file.parent / name
    doc = _read_json(catalogue, key)
    if not isinstance(doc, list):
        raise ConfigError(f"{key}: {catalogue}: expected a JSON array of strings")
    try:
        return _ui_text_list.validate_python(doc)
    except ValidationError as exc:
        raise ConfigError(describe(exc, key, f" (in {catalogue})")) from None


def load_rules(path: Path) -> MaskingRules:
    """A rules file, as `phi-replay rules check` reads it. Its `ui_text` may name a JSON
    file instead of listing the strings (the recorder itself takes only the list)."""
    doc = _read_json(path)
    if isinstance(doc, dict) and isinstance(doc.get("ui_text"), str):
        doc = {**doc, "ui_text": _load_ui_text(path, doc["ui_text"])}
    return parse_rules(doc, prefix=f"{path}: rules")

"""Masking rules: the collector's pydantic model agrees with masking-rules/schema.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from collector.assets import REPO_ROOT
from collector.exceptions import ConfigError
from collector.rules import parse_rules
from collector.testing import cli

RULES_DIR = REPO_ROOT / "masking-rules"
SCHEMA = json.loads((RULES_DIR / "schema.json").read_text())


def schema_accepts(doc: Any) -> bool:
    try:
        jsonschema.validate(doc, SCHEMA)
    except jsonschema.ValidationError:
        return False
    return True


# Every rules file shipped; vocabulary.json and the shared test cases are not rules.
RULES_FILES = sorted(
    p
    for p in RULES_DIR.rglob("*.json")
    if p.name != "vocabulary.json" and p.parent != RULES_DIR / "tests"
)


def test_the_shipped_rules_files_are_found() -> None:
    names = {str(p.relative_to(RULES_DIR)) for p in RULES_FILES}
    assert {"default.json", "schema.json", "examples/clinical-app.json"} <= names


@pytest.mark.parametrize("path", RULES_FILES, ids=lambda p: str(p.relative_to(RULES_DIR)))
def test_shipped_rules_files_are_valid(path: Path) -> None:
    if path.name == "schema.json":
        jsonschema.Draft202012Validator.check_schema(SCHEMA)
        return
    doc = json.loads(path.read_text())
    assert schema_accepts(doc)
    parse_rules(doc)


@pytest.mark.parametrize(
    ("doc", "named"),
    [
        ({"unmask": ["nav", ""]}, "rules.unmask[1]"),
        ({"mask": "nav"}, "rules.mask"),
        ({"block": [3]}, "rules.block[0]"),
        ({"exclude_routes": ["volunteers/**"]}, "rules.exclude_routes[0]"),
        ({"exclude_routes": ["/a?b"]}, "rules.exclude_routes[0]"),
        ({"unmask": ["x" * 1001]}, "rules.unmask[0]"),
        ({"unmask": ["nav"] * 501}, "rules.unmask"),
        ({"maskAllInputs": False}, "rules.maskAllInputs"),
    ],
)
def test_invalid_rules_are_refused_by_both_naming_the_key(doc: Any, named: str) -> None:
    assert not schema_accepts(doc)
    with pytest.raises(ConfigError) as error:
        parse_rules(doc)
    assert named in str(error.value)


@pytest.mark.parametrize(
    ("selector", "problem"),
    [
        ("nav[data-x", "missing ']'"),
        ("div)", "unbalanced ')'"),
        ("a[title='x]", "unterminated string"),
        ("nav { color: red }", "'{' cannot appear"),
        ("p; body", "';' cannot appear"),
    ],
)
def test_selectors_that_cannot_parse_are_refused_without_echoing_them(
    selector: str, problem: str
) -> None:
    with pytest.raises(ConfigError) as error:
        parse_rules({"unmask": ["nav", selector]})
    assert f"rules.unmask[1]: {problem}" in str(error.value)
    assert selector not in str(error.value)


def test_valid_selectors_with_brackets_and_strings_pass() -> None:
    rules = parse_rules({"unmask": ['a[href="/x;y"]', "li:not(.phi)", r"#a\{b"]})
    assert len(rules.unmask) == 3


def test_rules_check_command_reports_each_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"unmask": ["nav["]}))
    good = RULES_DIR / "examples" / "clinical-app.json"
    result = cli("rules", "check", good, bad, check=False)
    assert result.returncode == 2
    assert f"{good}: ok" in result.stdout
    assert f"{bad}: rules.unmask[0]: missing ']'" in result.stderr

"""Masking rules: the collector's pydantic model agrees with masking-rules/schema.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from collector.assets import REPO_ROOT
from collector.exceptions import ConfigError
from collector.rules import load_rules, parse_rules
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
    if p.name != "vocabulary.json"
    and p.parent != RULES_DIR / "tests"
    and not p.name.endswith(".ui-text.json")  # a catalogue that a rules file names
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
    load_rules(path)


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
        ({"routes": ["patients/:id"]}, "rules.routes[0]"),
        ({"routes": ["/patients", "/patients/:id?x=1"]}, "rules.routes[1]"),
        ({"routes": ["/patients//visits"]}, "rules.routes[0]"),
        ({"routes": ["/pa tients"]}, "rules.routes[0]"),
        ({"routes": ["/patients/:1st"]}, "rules.routes[0]"),
        ({"routes": ["/patients/**"]}, "rules.routes[0]"),
        ({"routes": ["/p\u00e4tients"]}, "rules.routes[0]"),
        ({"routes": ["/a" * 501]}, "rules.routes[0]"),
        ({"routes": ["/a"] * 501}, "rules.routes"),
        ({"routes": "/patients"}, "rules.routes"),
        ({"ui_text": ["Save", ""]}, "rules.ui_text[1]"),
        ({"ui_text": ["Save", " \t\n"]}, "rules.ui_text[1]"),
        ({"ui_text": ["x" * 501]}, "rules.ui_text[0]"),
        ({"ui_text": [3]}, "rules.ui_text[0]"),
        ({"ui_text": ["Save"] * 20_001}, "rules.ui_text"),
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


def test_routes_and_ui_text_are_accepted_within_their_limits() -> None:
    doc = {
        "routes": ["/patients/:id/visits", "/wards/*/beds/", "/static/app.css", "/a"] * 125,
        "ui_text": ["Save visit", "  Patients  ", "x" * 500, "\U0001f600" * 250] * 5_000,
    }
    assert schema_accepts(doc)
    rules = parse_rules(doc)
    assert len(rules.routes) == 500
    assert len(rules.ui_text) == 20_000


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("\U0001f600" * 251, "longer than 500"),  # 502 UTF-16 code units: the recorder refuses it
        ("\ufeff\u00a0\u3000", "blank"),  # all whitespace to JavaScript's trim()
    ],
)
def test_ui_text_is_measured_and_trimmed_as_the_recorder_does(text: str, problem: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_rules({"ui_text": ["Save", text]})
    assert "rules.ui_text[1]: " in str(error.value)
    assert problem in str(error.value)


def test_a_bad_route_is_named_not_echoed() -> None:
    with pytest.raises(ConfigError) as error:
        parse_rules({"routes": ["/patients/:id", "/patients/CANARY JANE ROE"]})
    assert "rules.routes[1]: expected a route like" in str(error.value)
    assert "CANARY" not in str(error.value)


def test_a_glob_followed_by_a_newline_is_refused_as_the_recorder_refuses_it() -> None:
    with pytest.raises(ConfigError, match=r"rules\.exclude_routes\[0\]"):
        parse_rules({"exclude_routes": ["/volunteers/**\n"]})


def write_rules(tmp_path: Path, ui_text: object, catalogue: object = None) -> Path:
    (tmp_path / "i18n").mkdir(exist_ok=True)
    if catalogue is not None:
        text = catalogue if isinstance(catalogue, str) else json.dumps(catalogue)
        (tmp_path / "i18n" / "en.json").write_text(text, encoding="utf-8")
    rules = tmp_path / "rules" / "app.json"
    rules.parent.mkdir(exist_ok=True)
    rules.write_text(json.dumps({"unmask": ["nav"], "ui_text": ui_text}))
    return rules


def test_a_rules_file_may_read_ui_text_from_a_catalogue_beside_it(tmp_path: Path) -> None:
    rules_file = write_rules(tmp_path, "../i18n/en.json", ["Save visit", "Patients"])
    rules = load_rules(rules_file)
    assert rules.ui_text == ("Save visit", "Patients")
    assert rules.unmask == ("nav",)
    assert schema_accepts(json.loads(rules_file.read_text()))
    result = cli("rules", "check", rules_file, check=False)
    assert (result.returncode, result.stdout.strip()) == (0, f"{rules_file}: ok")


@pytest.mark.parametrize(
    ("ui_text", "catalogue", "problem"),
    [
        ("../i18n/missing.json", None, "missing.json: no such file"),
        ("../i18n/en.json", '["Save", "CANARY-JANE-ROE"', "en.json: not valid JSON (line 1"),
        ("../i18n/en.json", {"save": "CANARY-JANE-ROE"}, "en.json: expected a JSON array"),
        ("../i18n/en.json", ["Save", "CANARY-JANE-ROE", "  "], "ui_text[2] (in "),
        ("../i18n/en.json", ["Save", 42], "ui_text[1] (in "),
        ("../i18n/en.json", ["CANARY-JANE-ROE"] * 20_001, "ui_text (in "),
        ("/etc/en.json", None, "relative to the rules file"),
        ("", None, "relative to the rules file"),
    ],
)
def test_a_bad_catalogue_is_refused_naming_the_key_and_file_never_a_value(
    tmp_path: Path, ui_text: str, catalogue: object, problem: str
) -> None:
    rules_file = write_rules(tmp_path, ui_text, catalogue)
    with pytest.raises(ConfigError) as error:
        load_rules(rules_file)
    message = str(error.value)
    assert message.startswith(f"{rules_file}: rules.ui_text")
    assert problem in message
    assert "CANARY" not in message


def test_a_catalogue_is_read_only_from_a_rules_file() -> None:
    with pytest.raises(ConfigError, match=r"rules\.ui_text"):
        parse_rules({"ui_text": "en.json"})

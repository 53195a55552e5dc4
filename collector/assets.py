"""Files the collector serves from the source tree: the recorder bundle and masking rules.

The package is installed editable from the repository (`make setup`), so these live
beside it. PHI_REPLAY_SDK_DIR points elsewhere for an installation that ships the
bundle separately.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent


def sdk_dist_dir() -> Path:
    return Path(os.environ.get("PHI_REPLAY_SDK_DIR", REPO_ROOT / "sdk-js" / "dist"))


def recorder_bundle() -> Path:
    return sdk_dist_dir() / "phi-replay.min.js"


def masking_rules(name: str) -> dict[str, Any]:
    """A rules file from masking-rules/, e.g. `examples/clinical-app.json`."""
    doc = json.loads((REPO_ROOT / "masking-rules" / name).read_text(encoding="utf-8"))
    if not isinstance(doc, dict):
        raise ValueError(f"masking-rules/{name}: expected a JSON object")
    return doc


def url_vocabulary() -> tuple[frozenset[str], frozenset[str]]:
    """masking-rules/vocabulary.json: the path segments (`words`) and file extensions
    (`extensions`) that pass a URL without being declared, shared with the recorder."""
    doc = masking_rules("vocabulary.json")
    lists: list[frozenset[str]] = []
    for key in ("words", "extensions"):
        value = doc.get(key)
        if not isinstance(value, list) or not all(isinstance(w, str) and w for w in value):
            raise ValueError(f"masking-rules/vocabulary.json: {key} must be a list of strings")
        lists.append(frozenset(value))
    return lists[0], lists[1]

"""Just enough of the source map format (revision 3) to turn a bundle position into
`src/file.ts:line`: the `mappings` field's base64 VLQ segments, decoded once.
"""

from __future__ import annotations

import bisect
import json
from dataclasses import dataclass
from pathlib import Path

BASE64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
B64 = {c: i for i, c in enumerate(BASE64)}
# A VLQ digit carries 5 bits of value; the 6th says another digit follows.
VLQ_MORE = 32
VLQ_BITS = 5


def vlq(segment: str) -> list[int]:
    """The signed integers of one mapping segment (e.g. 'AAgBC' → [0, 0, 16, 1])."""
    values: list[int] = []
    value = shift = 0
    for char in segment:
        digit = B64[char]
        value += (digit & (VLQ_MORE - 1)) << shift
        if digit & VLQ_MORE:
            shift += VLQ_BITS
            continue
        values.append(-(value >> 1) if value & 1 else value >> 1)
        value = shift = 0
    return values


@dataclass(frozen=True)
class Origin:
    """Where a generated position came from: a source path and a 1-based line."""

    source: str
    line: int


class SourceMap:
    """Generated (0-based line, column) → original source and line."""

    def __init__(self, map_path: Path, root: Path) -> None:
        data = json.loads(map_path.read_text())
        base = map_path.parent
        self.sources: list[str] = []
        for source in data["sources"]:
            path = (base / source).resolve()
            try:
                self.sources.append(str(path.relative_to(root)))
            except ValueError:
                self.sources.append(source)
        contents = data.get("sourcesContent") or [None] * len(self.sources)
        self.text: dict[str, list[str]] = {
            s: c.splitlines() for s, c in zip(self.sources, contents, strict=False) if c
        }
        # Per generated line: the columns of its segments, and their (source, line).
        self.columns: list[list[int]] = []
        self.origins: list[list[tuple[int, int]]] = []
        source = line = column = 0
        for encoded in data["mappings"].split(";"):
            gen_col = 0
            cols: list[int] = []
            origins: list[tuple[int, int]] = []
            for segment in encoded.split(","):
                if not segment:
                    continue
                fields = vlq(segment)
                gen_col += fields[0]
                if len(fields) >= 4:
                    source += fields[1]
                    line += fields[2]
                    column += fields[3]
                    cols.append(gen_col)
                    origins.append((source, line))
            self.columns.append(cols)
            self.origins.append(origins)

    def lookup(self, line: int, column: int | None = None) -> Origin | None:
        """The origin of generated `line` (0-based) at `column`, or of its first mapping."""
        if not 0 <= line < len(self.columns) or not self.columns[line]:
            return None
        cols = self.columns[line]
        i = 0 if column is None else max(0, bisect.bisect_right(cols, column) - 1)
        source, original = self.origins[line][i]
        return Origin(self.sources[source], original + 1)

    def source_line(self, origin: Origin) -> str:
        lines = self.text.get(origin.source, [])
        return lines[origin.line - 1].strip() if 0 < origin.line <= len(lines) else ""

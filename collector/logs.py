"""Log lines as text (the default) or as JSON lines (`log_format = "json"`).

JSON lines carry the same events as the text lines, for a log shipper to parse: time,
level, logger, message. An exception is reduced to its type and its stack: an
exception's own text may quote what it was handed (a payload, a user name), and logs
carry events, never contents.
"""

from __future__ import annotations

import json
import logging
import time
import traceback
from datetime import UTC, datetime


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info and record.exc_info[0] is not None:
            line["exception"] = record.exc_info[0].__name__
            line["stack"] = "".join(traceback.format_tb(record.exc_info[2])).rstrip()
        return json.dumps(line, ensure_ascii=False)


def use_format(log_format: str) -> None:
    """Switch the root logger's handlers to JSON lines for "json"; "text" keeps the
    format `phi-replay` starts with (cli.main)."""
    if log_format != "json":
        return
    for handler in logging.getLogger().handlers:
        handler.setFormatter(JsonFormatter())


class Throttle:
    """At most one log line per `every` seconds for each kind of event, so that a flood
    (of refusals, say) is one line and a count, not a line per request."""

    def __init__(self, every: float) -> None:
        self.every = every
        self._last: dict[str, tuple[float, int]] = {}  # kind: (last logged, held back since)

    def due(self, kind: str = "") -> int | None:
        """None when this one is held back; else how many were held back since the last."""
        now = time.monotonic()
        last, held = self._last.get(kind, (-self.every, 0))
        if now - last < self.every:
            self._last[kind] = (last, held + 1)
            return None
        self._last[kind] = (now, 0)
        return held

"""Only the console's own requests may change anything or write an audit record.

The session cookie is SameSite=Strict, which keeps other sites out, but not the console's
own origin: the replay iframe shares it (rrweb builds the replay through
`allow-same-origin`), so a recorded `<img src="/console/sessions/ID/export">` that got
past the player would be a cookie-carrying export of someone else's session, audited as
the viewer's. So every side-effecting console route (each POST, and each GET that writes
an audit record) is wrapped in `OwnRequestsOnly`, which lets through only:

- a top-level navigation in the console itself: `Sec-Fetch-Site` same-origin (a link or
  form of the console) or none (typed, bookmarked), `Sec-Fetch-Mode` navigate and
  `Sec-Fetch-Dest` document, or empty for an `<a download>`; a sandboxed replay frame
  cannot navigate the top level or download;
- a request of the console's own scripts, which carry `X-Phi-Console` (a non-simple
  header: another origin would need a CORS preflight the console never grants, and the
  replay runs no script);
- without Fetch Metadata (a browser older than 2023, curl), a request with that header,
  or a POST, whose form token the handler checks as before.

Everything else (an image, stylesheet, frame or font load; anything from another site)
gets a 403 that says what was expected and what arrived.
"""

from __future__ import annotations

import html
import logging

from starlette.datastructures import Headers
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from collector.logs import Throttle
from collector.terminal import safe

log = logging.getLogger("phi_replay.console")

CONSOLE_HEADER = "x-phi-console"
OWN_SITES = frozenset({"same-origin", "none"})
# An <a download> navigates with no destination: the console's export link.
NAVIGATION_DESTS = frozenset({"document", "empty"})
# Fetch Metadata values, named in a refusal; anything else is "another kind".
_KNOWN = frozenset(
    [
        "same-origin",
        "same-site",
        "cross-site",
        "none",
        "navigate",
        "cors",
        "no-cors",
        "websocket",
        "document",
        "empty",
        "iframe",
        "frame",
        "image",
        "style",
        "script",
        "font",
        "audio",
        "video",
        "track",
        "object",
        "embed",
        "manifest",
        "worker",
        "report",
    ]
)

CONTINUE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Refused · phi-replay</title></head>
<body><h1>Refused</h1><p>{text}</p><p><a href="{href}">Continue in the console</a></p></body>
</html>
"""


LOG_EVERY_SECONDS = 10.0  # refusals are logged at most this often, with a count


class OwnRequestsOnly:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._throttle = Throttle(LOG_EVERY_SECONDS)

    def _log(self, scope: Scope, why: str) -> None:
        """One WARNING every LOG_EVERY_SECONDS at most (a page can send any number of
        these), the path as shown by collector.terminal.safe and cut short: it is the
        client's text, and a newline in it would forge a log line."""
        suppressed = self._throttle.due()
        if suppressed is None:
            return
        more = f" (and {suppressed} more since the last line)" if suppressed else ""
        path = safe(str(scope.get("path", "")))[:120]
        log.warning("console refused %s %s: %s%s", scope["method"], path, why, more)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        why = refusal(scope["method"], Headers(scope=scope))
        if why is None:
            await self.app(scope, receive, send)
            return
        self._log(scope, why)
        text = (
            f"Refused: {why}. Console pages are opened in the console itself and its "
            "scripts mark their requests; open the console and follow its links."
        )
        headers = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
        response: Response = PlainTextResponse(text, 403, headers=headers)
        if scope["method"] == "GET" and Headers(scope=scope).get("sec-fetch-dest") == "document":
            # A link from elsewhere (a ticket, a chat): one click in the console goes on.
            here = scope["path"] + (
                "?" + scope["query_string"].decode("latin-1") if scope["query_string"] else ""
            )
            page = CONTINUE.format(text=html.escape(text), href=html.escape(here, quote=True))
            headers["Content-Security-Policy"] = "default-src 'none'; frame-ancestors 'none'"
            response = HTMLResponse(page, 403, headers=headers)
        await response(scope, receive, send)


def refusal(method: str, headers: Headers) -> str | None:
    """Why a request is not the console's own, or None when it is."""
    marked = CONSOLE_HEADER in headers
    site = headers.get("sec-fetch-site")
    if site is None:
        if marked or method not in ("GET", "HEAD"):
            return None
        return (
            "expected a request of the console (Sec-Fetch-* headers, or X-Phi-Console), "
            "got one with neither"
        )
    if site not in OWN_SITES:
        return f"expected a request from the console's own pages, got one from {_name(site)}"
    mode, dest = headers.get("sec-fetch-mode", ""), headers.get("sec-fetch-dest", "")
    if mode == "navigate" and dest in NAVIGATION_DESTS:
        return None
    if marked and mode in ("cors", "same-origin") and dest == "empty":
        return None
    return (
        "expected a page opened in the console or a request of its scripts, got "
        f"{_name(mode)} for {_name(dest)}"
    )


def _name(value: str) -> str:
    """A Fetch Metadata value as sent by a browser; anything else is not repeated."""
    return repr(value) if value in _KNOWN else "another kind"

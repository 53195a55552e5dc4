"""A tiny static web server for e2e pages, on a free 127.0.0.1 port, in a thread.

Pages are files from one directory. A route table maps a path prefix to a file, so a
single-page app can be served under many paths (`/clinic/...`). `{{NAME}}` markers in
`.html` files are replaced by the values given, e.g. the collector URL the page loads
the recorder from. Every other path answers 404, quietly.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

TYPES = {".html": "text/html; charset=utf-8", ".css": "text/css", ".js": "text/javascript"}


class _Handler(BaseHTTPRequestHandler):
    server: _Site

    def do_GET(self) -> None:
        body, content_type = self.server.resolve(urlsplit(self.path).path)
        self.send_response(200 if body is not None else 404)
        self.send_header("Content-Type", content_type)
        self.send_header("Cache-Control", "no-store")
        self.send_header("Content-Length", str(len(body or b"")))
        self.end_headers()
        with contextlib.suppress(ConnectionError):
            self.wfile.write(body or b"")

    def log_message(self, format: str, *args: object) -> None:
        pass  # request lines carry canaries by design; the test reports what matters


class _Site(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, root: Path, routes: Mapping[str, str], values: Mapping[str, str]) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.root, self.routes, self.values = root, routes, values

    def resolve(self, path: str) -> tuple[bytes | None, str]:
        name = next((f for prefix, f in self.routes.items() if path.startswith(prefix)), None)
        if name is None and path.startswith("/assets/"):
            name = path.removeprefix("/assets/")
        file = (self.root / name).resolve() if name else None
        if file is None or file.parent != self.root.resolve() or not file.is_file():
            return None, "text/plain"
        data = file.read_bytes()
        if file.suffix == ".html":
            text = data.decode()
            for key, value in self.values.items():
                text = text.replace("{{" + key + "}}", value)
            data = text.encode()
        return data, TYPES.get(file.suffix, "application/octet-stream")


@contextlib.contextmanager
def serving(
    root: Path, routes: Mapping[str, str], values: Mapping[str, str] | None = None
) -> Iterator[str]:
    """Serve `root` until the block ends; yields the base URL (`http://127.0.0.1:PORT`)."""
    site = _Site(root, routes, values or {})
    thread = threading.Thread(target=site.serve_forever, name="e2e-static-site", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{site.server_address[1]}"
    finally:
        site.shutdown()
        site.server_close()
        thread.join(timeout=5)

"""A small HTTP server on loopback that replays recorded documents.

Used by `watcher demo` (so a newcomer sees alerts with no network) and by the tests (which
also make it misbehave: errors, slowness, huge or empty bodies). It honours conditional GET:
each route has an ETag and Last-Modified, and a matching request gets 304.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

_TYPES = {".xml": "application/xml", ".rss": "application/rss+xml", ".atom": "application/atom+xml",
          ".json": "application/json", ".html": "text/html; charset=utf-8"}


@dataclass
class Route:
    """What one path answers. `handler`, if set, takes over the whole response."""

    body: bytes = b""
    status: int = 200
    content_type: str = "application/xml"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering
    conditional: bool = True  # send ETag/Last-Modified and answer 304 when they match
    handler: Callable[[BaseHTTPRequestHandler], None] | None = None
    hits: int = 0

    @property
    def etag(self) -> str:
        return '"' + hashlib.sha1(self.body).hexdigest()[:16] + '"'


class ReplayServer:
    """`with ReplayServer(routes) as server:` serves on 127.0.0.1:<server.port> in a thread.

    Routes are keyed by path, or by "path?query" (exactly as requested) where the query matters."""

    def __init__(self, routes: dict[str, Route] | None = None, port: int = 0):
        self.routes: dict[str, Route] = dict(routes or {})
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.last_modified = formatdate(time.time() - 3600, usegmt=True)
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                server._serve(self)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @classmethod
    def from_folder(cls, folder: Path, port: int = 0) -> ReplayServer:
        routes = {
            f"/{p.name}": Route(body=p.read_bytes(), content_type=_TYPES.get(p.suffix, "application/octet-stream"))
            for p in sorted(folder.iterdir()) if p.is_file()
        }
        return cls(routes, port)

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self) -> ReplayServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> ReplayServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _serve(self, request: BaseHTTPRequestHandler) -> None:
        path = request.path.split("?", 1)[0]
        self.requests.append((request.path, {k.lower(): v for k, v in request.headers.items()}))
        route = self.routes.get(request.path) or self.routes.get(path)  # "path?query" first, then path
        if route is None:
            self._answer(request, 404, {"Content-Type": "text/plain"}, b"not found")
            return
        route.hits += 1
        if route.delay:
            time.sleep(route.delay)
        if route.handler is not None:
            route.handler(request)
            return
        headers = {"Content-Type": route.content_type, **route.headers}
        if route.conditional and route.status == 200:
            headers.setdefault("ETag", route.etag)
            headers.setdefault("Last-Modified", self.last_modified)
            if request.headers.get("If-None-Match") == headers["ETag"]:
                self._answer(request, 304, {"ETag": headers["ETag"]}, b"")
                return
        self._answer(request, route.status, headers, route.body)

    @staticmethod
    def _answer(request: BaseHTTPRequestHandler, status: int, headers: dict[str, str], body: bytes) -> None:
        try:
            request.send_response(status)
            for key, value in headers.items():
                request.send_header(key, value)
            if status != 304:
                request.send_header("Content-Length", str(len(body)))
            request.end_headers()
            if status != 304 and body:
                request.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass

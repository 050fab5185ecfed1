"""Many polls at once on one event loop: the gate between fetching and processing, and the
Fetcher's own sockets (asyncio streams under httpcore) that every direct fetch goes through.

A busy cycle is CPU-bound on the loop's thread. Without the gate, every response that came in at
once was parsed, matched and stored in one turn of the loop while the other polls' connects and
reads waited, until they timed out (at 256 connections with 10,000 watched people, 20 of 500
feeds timed out connecting); and every response could sit in memory waiting for the CPU."""

from __future__ import annotations

import asyncio
import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from conftest import Workspace, rss

from watcher.config import load_feeds
from watcher.http import Fetcher
from watcher.pipeline import Context, poll_source
from watcher.rules import load_rules
from watcher.sources import build_source
from watcher.store import Store
from watcher.workers import PollGate, Slots

# -- Slots: a FIFO semaphore --------------------------------------------------------------------


def test_slots_hand_a_freed_slot_to_the_first_waiter() -> None:
    order: list[str] = []

    async def go() -> None:
        slots = Slots(1)
        await slots.acquire()

        async def wait(name: str) -> None:
            await slots.acquire()
            order.append(name)
            slots.release()

        waiters = [asyncio.create_task(wait(n)) for n in ("a", "b", "c")]
        await asyncio.sleep(0)  # all three queue up
        slots.release()
        late = asyncio.create_task(wait("late"))  # came after the release: may not jump the queue
        await asyncio.gather(*waiters, late)

    asyncio.run(go())
    assert order == ["a", "b", "c", "late"]


def test_a_waiter_that_asks_first_goes_before_the_others() -> None:
    """Storing a parsed poll goes before parsing the next response: parsed items do not pile up."""
    order: list[str] = []

    async def go() -> None:
        slots = Slots(1)
        await slots.acquire()

        async def wait(name: str, first: bool) -> None:
            await slots.acquire(first=first)
            order.append(name)
            slots.release()

        tasks = [asyncio.create_task(wait(n, n.startswith("store"))) for n in ("parse 1", "store 1", "parse 2", "store 2")]
        await asyncio.sleep(0)
        slots.release()
        await asyncio.gather(*tasks)

    asyncio.run(go())
    assert order == ["store 1", "store 2", "parse 1", "parse 2"]


def test_a_waiter_cancelled_as_it_was_handed_a_slot_passes_it_on() -> None:
    got: list[str] = []

    async def go() -> None:
        slots = Slots(1)
        await slots.acquire()

        async def wait(name: str) -> None:
            await slots.acquire()
            got.append(name)
            slots.release()

        first, second = asyncio.create_task(wait("first")), asyncio.create_task(wait("second"))
        await asyncio.sleep(0)
        slots.release()  # handed to `first`, which has not run yet ...
        first.cancel()  # ... and is cancelled before it does
        await asyncio.gather(first, second, return_exceptions=True)
        assert await asyncio.wait_for(slots.acquire(), 1) is False  # the slot came back: free again

    asyncio.run(go())
    assert got == ["second"]


def test_slots_start_afresh_on_another_event_loop() -> None:
    slots = Slots(1)

    async def hold_and_queue() -> None:
        await slots.acquire()
        waiter = asyncio.create_task(slots.acquire())
        await asyncio.sleep(0)
        waiter.cancel()

    asyncio.run(hold_and_queue())  # leaves the slot taken and a waiter behind, on a loop now closed
    assert asyncio.run(slots.acquire()) is False


# -- PollGate: turns and polls in flight -------------------------------------------------------


def test_turns_run_one_at_a_time_each_in_a_turn_of_the_loop_of_its_own() -> None:
    """Three polls whose responses came in together: each one's processing runs in a turn of the
    loop of its own, so a socket that became readable meanwhile waits for one at most."""
    events: list[tuple[str, int]] = []
    ticks = 0

    async def go() -> None:
        gate = PollGate(10)
        loop = asyncio.get_running_loop()
        near, far = socket.socketpair()
        near.setblocking(False)

        def tick() -> None:  # runs once in every turn of the loop
            nonlocal ticks
            ticks += 1
            loop.call_soon(tick)

        def readable() -> None:
            loop.remove_reader(near)
            events.append(("socket", ticks))

        async def process(name: str) -> None:
            async with gate.turn():
                events.append((name, ticks))
                if name == "a":
                    far.send(b"x")  # a reply arrives while `a` holds the CPU

        loop.add_reader(near, readable)
        tick()
        try:
            await asyncio.gather(process("a"), process("b"), process("c"))
        finally:
            loop.remove_reader(near)
            near.close()
            far.close()

    asyncio.run(go())
    names = [name for name, _ in events]
    assert names.index("a") < names.index("b") < names.index("c")  # in the order they asked
    turns = [t for name, t in events if name != "socket"]
    assert len(set(turns)) == 3  # never two in one turn of the loop
    assert names.index("socket") < names.index("c")  # the reply was served after one more at most


def _sources(ws: Workspace, n: int) -> list:
    ws.write_feeds(*({"id": f"f{i}", "url": f"http://feed{i}.example/rss"} for i in range(n)))
    return [build_source(s) for s in load_feeds(ws.feeds)]


def test_no_more_polls_between_fetch_and_stored_than_the_gate_lets_in(ws: Workspace) -> None:
    """A CPU-bound cycle holds at most `size` responses: a new fetch starts when a poll is done."""
    sources = _sources(ws, 12)
    started = finished = peak = 0
    store = Store(ws.state / "watcher.db")

    def answer(request: httpx.Request) -> httpx.Response:
        nonlocal started, peak
        started += 1
        peak = max(peak, started - finished)
        return httpx.Response(200, content=rss(("a", f"Story of {request.url.host}", "x")),
                              headers={"content-type": "application/rss+xml"})

    async def go() -> list:
        async with Fetcher(transport=httpx.MockTransport(answer)) as fetcher:
            ctx = Context(store=store, fetcher=fetcher, rules=lambda: load_rules(ws.rules),
                          destinations=["console"], clock=fetcher.clock)
            ctx.gate = PollGate(3)

            async def one(source):  # type: ignore[no-untyped-def]
                nonlocal finished
                report = await poll_source(source, ctx)
                finished += 1
                return report

            return await asyncio.gather(*(one(s) for s in sources))

    try:
        reports = asyncio.run(go())
    finally:
        store.close()
    assert [r.state for r in reports] == ["ok"] * 12
    assert started == 12 and peak == 3


def _cycles(ws: Workspace, sources: list, gate: PollGate, answer, cycles: int) -> list[int]:  # type: ignore[no-untyped-def]
    """Poll every source `cycles` times over; per cycle, the most polls between fetch and done."""
    peaks: list[int] = []
    store = Store(ws.state / "watcher.db")
    count = {"started": 0, "finished": 0, "peak": 0}

    async def counted(request: httpx.Request) -> httpx.Response:
        count["started"] += 1
        count["peak"] = max(count["peak"], count["started"] - count["finished"])
        await asyncio.sleep(0.01)  # the network: polls overlap while they wait for it
        return answer(request)

    async def go() -> None:
        async with Fetcher(transport=httpx.MockTransport(counted)) as fetcher:
            ctx = Context(store=store, fetcher=fetcher, rules=lambda: load_rules(ws.rules),
                          destinations=["console"], clock=fetcher.clock)
            ctx.gate = gate

            async def one(source):  # type: ignore[no-untyped-def]
                report = await poll_source(source, ctx, respect_backoff=False)
                count["finished"] += 1
                return report

            for _ in range(cycles):
                count.update(started=0, finished=0, peak=0)
                reports = await asyncio.gather(*(one(s) for s in sources))
                assert all(r.error is None for r in reports), reports
                peaks.append(count["peak"])

    try:
        asyncio.run(go())
    finally:
        store.close()
    return peaks


def _feed(request: httpx.Request, etag: str) -> httpx.Response:
    return httpx.Response(200, content=rss(("a", f"Story of {request.url.host}", "x")),
                          headers={"content-type": "application/rss+xml", "etag": etag})


def test_first_polls_bring_at_most_the_gates_bodies_at_once_and_304s_use_every_slot(ws: Workspace) -> None:
    """A fresh cycle's bodies wait for the CPU: at most `bodies` of them at once. The next cycle,
    asked with validators and answered 304, is not held back."""
    sources = _sources(ws, 12)

    def answer(request: httpx.Request) -> httpx.Response:
        if request.headers.get("if-none-match") == '"v1"':
            return httpx.Response(304, headers={"etag": '"v1"'})
        return _feed(request, '"v1"')

    assert _cycles(ws, sources, PollGate(6, bodies=2), answer, 2) == [2, 6]


def test_a_server_that_answers_validators_with_the_whole_feed_counts_as_a_body_next_time(ws: Workspace) -> None:
    """Many servers send a new ETag with every answer: learnt after one poll, until it answers 304."""
    sources = _sources(ws, 12)
    cycle = 0

    def answer(request: httpx.Request) -> httpx.Response:
        if cycle == 3 and request.headers.get("if-none-match"):
            return httpx.Response(304, headers={"etag": request.headers["if-none-match"]})
        return _feed(request, f'"{request.url.host}-{cycle}-{len(request.headers.get("if-none-match", ""))}"')

    gate = PollGate(6, bodies=2)
    peaks = []
    for cycle in range(5):
        peaks += _cycles(ws, sources, gate, answer, 1)
    # 0: first polls (bodies); 1: validators, not yet known to be ignored; 2: learnt;
    # 3: the server answers 304 (still counted as bodies: learnt in 2); 4: forgotten, so 304s expected
    assert peaks == [2, 6, 2, 2, 6]


def test_the_gate_lets_as_many_polls_fetch_as_the_fetcher_has_connections(ws: Workspace) -> None:
    store = Store(ws.state / "watcher.db")
    try:
        fetcher = Fetcher()
        ctx = Context(store=store, fetcher=fetcher, rules=lambda: load_rules(ws.rules), destinations=[],
                      clock=fetcher.clock)
        assert fetcher.concurrency == 256 and ctx.gate._polls.size == 256
    finally:
        store.close()


# -- the Fetcher's own sockets -----------------------------------------------------------------


class Counting:
    """An HTTP/1.1 server on loopback that counts the connections it accepts; with `close_idle`
    it closes each connection after one answer (as a server's idle timeout does)."""

    def __init__(self, body: bytes, *, close_idle: bool = False):
        self.body, self.close_idle = body, close_idle
        self.connections = 0
        self.closed = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            buffered = b""
            while True:
                while b"\r\n\r\n" not in buffered:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    buffered += chunk
                buffered = buffered.split(b"\r\n\r\n", 1)[1]
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\n"
                             + f"Content-Length: {len(self.body)}\r\n\r\n".encode() + self.body)
                if self.close_idle:
                    break
        self.closed.set()

    def close(self) -> None:
        self._listener.close()


def test_a_kept_alive_connection_serves_the_next_request_to_its_host() -> None:
    server = Counting(rss(("k", "Kept", "z")))

    async def go() -> None:
        async with Fetcher(allow_private=True) as fetcher:
            for _ in range(3):
                response = await fetcher.get(f"http://127.0.0.1:{server.port}/rss")
                assert response.content == server.body

    try:
        asyncio.run(go())
    finally:
        server.close()
    assert server.connections == 1


def test_a_connection_the_server_closed_while_idle_is_not_reused() -> None:
    server = Counting(rss(("c", "Closed", "z")), close_idle=True)

    async def go() -> None:
        async with Fetcher(allow_private=True) as fetcher:
            url = f"http://127.0.0.1:{server.port}/rss"
            assert (await fetcher.get(url)).content == server.body
            await asyncio.to_thread(server.closed.wait, 10)  # the server has hung up on the idle connection
            assert (await fetcher.get(url)).content == server.body  # sent on a new one, not the dead one

    try:
        asyncio.run(go())
    finally:
        server.close()
    assert server.connections == 2


@pytest.fixture
def trusted_tls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, bytes]]:
    """An HTTPS server on loopback whose self-signed certificate the Fetcher trusts (SSL_CERT_FILE);
    its body is large enough to come in many TLS records."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    body = rss(*[(f"t{i}", f"Over TLS {i}", "z" * 2000) for i in range(200)])

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/rss+xml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        yield f"https://127.0.0.1:{httpd.server_address[1]}/rss", body
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_a_feed_over_tls_is_read_whole(trusted_tls: tuple[str, bytes]) -> None:
    url, body = trusted_tls

    async def go() -> bytes:
        async with Fetcher(allow_private=True) as fetcher:
            return (await fetcher.get(url)).content

    assert asyncio.run(go()) == body

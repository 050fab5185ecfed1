"""How a busy cycle's CPU work runs: paced on the event loop (`Slots`, `PollGate`), or parsed
and matched on the other cores (`ParsePool`).

Pacing: a busy cycle is CPU-bound on the loop's one thread. Without it, every response that came
in at once was parsed, matched and stored in one turn of the loop while the other polls' connects
and reads waited until they timed out, and every fetched body sat in memory waiting for the CPU.
pipeline.poll_source goes through the gate.

The pool:

A fresh cycle (a start after downtime, `watcher poll --once`, a long backfill) is CPU-bound in
the event loop's one thread: parsing the feeds and matching their items. `ParsePool` hands that
work for one poll's responses to worker processes, while fetching, the store and incidents stay
in the loop's process (one transaction per poll, as before). It is used only when it can pay:
the pool has workers (os.cpu_count() - 1: one core stays for the loop), enough polls are in
flight at once, and the responses are big enough that sending them costs less than parsing
them here. A lone poll, the scheduler's everyday case, parses in-process.

Why it is built this way:
- workers are started with 'spawn', never 'fork': the loop's process has threads (to_thread,
  the SQLite WAL checkpointer, httpx's DNS), and a fork copies their locks mid-use;
- each worker compiles the matcher itself from the rules it is given at start (memory: one
  matcher per worker); the rules object in force is remembered, and when the rules are reloaded
  the pool is replaced by one started with the new rules. A result says which rules matched it,
  and the pipeline only uses analyses made with the rules it files with;
- `parse` is pure and its inputs and outputs (Source, Response, Item, Analysis, SourceError
  with its status and retry_after) pickle, so a worker's ParseFailed, EmptyFeed or
  SourceBlocked reaches the pipeline as the same exception as in-process;
- a worker that dies (a crash in a C parser, the OOM killer) breaks the pool: every poll then
  in flight is parsed again in-process, one warning is logged, and the pool rests for
  `cooldown` seconds before it is tried again; no poll is lost;
- workers ignore SIGINT and SIGTERM (a terminal's Ctrl-C or systemd's stop reach the whole
  process group): the loop's process finishes its polls and stops them in `close`.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import signal
import time
from collections import deque
from collections.abc import AsyncIterator, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field

from watcher.matching import Analysis, Matcher, matcher_for
from watcher.models import Item, Response
from watcher.rules import Rules
from watcher.sources import Source

log = logging.getLogger(__name__)

MIN_POLLS = 8  # polls in flight at once before the pool is worth its round trips
MIN_BYTES = 16 * 1024  # smaller responses parse faster here than they travel to a worker
COOLDOWN = 600.0  # seconds without the pool after a worker died


class Slots:
    """A FIFO semaphore whose acquire and release cost the same however many wait: asyncio's
    scans all its waiters on every acquire (0.2 ms a poll with 1,000 polls queued). A freed slot
    is handed to the first waiter (those that asked `first` before the others), so a newcomer
    never jumps the queue. Bound to the running loop on first use and anew on another loop
    (tests run one asyncio.run after another)."""

    def __init__(self, size: int):
        self.size = size
        self._loop: asyncio.AbstractEventLoop | None = None
        self._free = size
        self._queues: tuple[deque[asyncio.Future[None]], deque[asyncio.Future[None]]] = (deque(), deque())

    async def acquire(self, *, first: bool = False) -> bool:
        """Take a slot; True if it had to wait for one (it then resumes in a later turn of the loop)."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._loop, self._free, self._queues = loop, self.size, (deque(), deque())
        if self._free and not (self._queues[0] or self._queues[1]):
            self._free -= 1
            return False
        waiter = loop.create_future()
        self._queues[0 if first else 1].append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():  # handed a slot just as it was cancelled: pass it on
                self.release()
            raise
        return True

    def release(self) -> None:
        for queue in self._queues:
            while queue:
                waiter = queue.popleft()
                if not waiter.done():  # a cancelled waiter is skipped
                    waiter.set_result(None)
                    return
        self._free += 1


BODY_POLLS = 64  # polls sure to bring a body at once (see PollGate.expects_body)


class PollGate:
    """How polls share the event loop with the fetches.

    - `poll`: at most `size` polls (the Fetcher's concurrency) between the start of their fetch and
      the end of their processing. A CPU-bound cycle then holds at most that many responses read
      and waiting, and starts a new fetch only when one is done, instead of fetching all 1,000 feeds
      while their bodies pile up behind the CPU;
    - of those, at most `bodies` polls that are sure to bring a body: a source's first poll, one
      without an ETag or Last-Modified to send, one whose server answered its validators with the
      whole feed last time (`expects_body`). A fresh cycle (a start on an empty database) held 251
      bodies of 46 KB waiting for the CPU at 256 polls; it now holds at most 64, while a cycle of
      304s still uses every connection. A poll expected to be unchanged that brings a body
      anyway counts under `size` only;
    - `turn`: the CPU-bound steps (parse here, store, match, file) one at a time, each in a turn of
      the loop of its own, after the loop has polled the sockets: a connect or read waits for at
      most one poll's processing, not for every response that came in at once. The waits come
      after the fetch's deadlines are over, so our own queueing never times a fetch out. Storing
      goes `first`, before parsing another response: parsed items (larger than the bytes they came
      from) do not pile up behind the parses of the responses waiting."""

    def __init__(self, size: int, bodies: int = BODY_POLLS):
        self._polls = Slots(size)
        self._bodies = Slots(max(1, min(size, bodies)))
        self._turn = Slots(1)
        self._ignores_validators: set[str] = set()  # sources whose server sent a body to our validators

    def expects_body(self, source_id: str, state: dict | None) -> tuple[bool, bool]:
        """(sure to bring a body, asks with validators), from the source's row before the poll."""
        state = state or {}
        validators = bool(state.get("etag") or state.get("last_modified"))
        sure = state.get("first_ok") is None or not validators or source_id in self._ignores_validators
        return sure, validators

    def learn(self, source_id: str, asked_with_validators: bool, *, unchanged: bool, changed: bool) -> None:
        """Remember a server that answers validators with the whole feed (many regenerate their
        ETag on every request), and forget it once it answers 304."""
        if unchanged:
            self._ignores_validators.discard(source_id)
        elif asked_with_validators and changed:
            self._ignores_validators.add(source_id)

    @asynccontextmanager
    async def poll(self, *, body: bool = False) -> AsyncIterator[None]:
        if body:
            await self._bodies.acquire()
        try:
            await self._polls.acquire()
            try:
                yield
            finally:
                self._polls.release()
        finally:
            if body:
                self._bodies.release()

    @asynccontextmanager
    async def turn(self, *, first: bool = False) -> AsyncIterator[None]:
        if not await self._turn.acquire(first=first):
            await asyncio.sleep(0)  # not waited: let the loop poll the sockets first
        try:
            yield
        finally:
            self._turn.release()


def default_workers() -> int:
    """One worker per core but the one the event loop keeps: 1 on a 2-core machine, 0 on one core."""
    return max(0, (os.cpu_count() or 1) - 1)


@dataclass
class Parsed:
    """One poll's items, and (when a worker matched them) their analyses by text, made with `rules`."""

    items: list[Item]
    analyses: dict[str, Analysis] = field(default_factory=dict)
    rules: Rules | None = None

    def analysis(self, text: str, rules: Rules) -> Analysis | None:
        """The worker's analysis of `text`, if it was made with `rules` (the rules may have been
        reloaded while the worker matched: then the pipeline matches again)."""
        return self.analyses.get(text) if rules is self.rules else None


def parse_here(source: Source, responses: Sequence[Response]) -> Parsed:
    return Parsed([item for response in responses for item in source.parse(response)])


# -- in the worker process ---------------------------------------------------------------------

_matcher: Matcher | None = None


def _start_worker(rules: Rules) -> None:
    global _matcher
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _matcher = matcher_for(rules)


def _work(source: Source, responses: list[Response], match: bool) -> tuple[list[Item], list[Analysis] | None]:
    items = [item for response in responses for item in source.parse(response)]
    if not match or _matcher is None:
        return items, None
    return items, [_matcher.analyse(item.text()) for item in items]


# -- in the event loop's process -----------------------------------------------------------------


class ParsePool:
    """Decides, per poll, whether its parse (and match) goes to a worker, and runs the pool."""

    def __init__(self, workers: int | None = None, *, min_polls: int = MIN_POLLS, min_bytes: int = MIN_BYTES,
                 cooldown: float = COOLDOWN):
        self.workers = default_workers() if workers is None else max(0, workers)
        self.min_polls, self.min_bytes, self.cooldown = min_polls, min_bytes, cooldown
        self._executor: ProcessPoolExecutor | None = None
        self._rules: Rules | None = None
        self._active = 0  # polls in progress (fetching or parsing)
        self._queued = 0  # parses sent to the workers and not back yet
        self._resting_until = 0.0
        self.sent = 0  # polls parsed by a worker (for benchmarks and tests)

    @contextmanager
    def polling(self) -> Iterator[None]:
        """Count one poll in flight: how busy the cycle is decides whether the pool pays."""
        self._active += 1
        try:
            yield
        finally:
            self._active -= 1

    def worth_it(self, responses: Sequence[Response]) -> bool:
        if self.workers == 0 or self._active < self.min_polls or time.monotonic() < self._resting_until:
            return False
        if self._queued >= 4 * self.workers:  # the workers are behind: this loop parses too
            return False
        return sum(len(r.content) for r in responses) >= self.min_bytes

    async def parse(self, source: Source, responses: Sequence[Response], rules: Rules, *, match: bool) -> Parsed:
        """Parse (and with `match`, analyse every item) in a worker if it pays, else here.
        Raises what `source.parse` raises, wherever it ran."""
        if not self.worth_it(responses):
            return parse_here(source, responses)
        executor = self._executor_for(rules)
        self._queued += 1
        try:
            future = asyncio.get_running_loop().run_in_executor(executor, _work, source, list(responses), match)
            items, analyses = await future
        except BrokenProcessPool as exc:
            self._broken(executor, exc)
            return parse_here(source, responses)
        finally:
            self._queued -= 1
        self.sent += 1
        if analyses is None:
            return Parsed(items)
        return Parsed(items, {item.text(): a for item, a in zip(items, analyses)}, rules)

    def _executor_for(self, rules: Rules) -> ProcessPoolExecutor:
        if self._executor is not None and rules is not self._rules:
            self._executor.shutdown(wait=False)  # what it is doing finishes; its results are not used for filing
            self._executor = None
        if self._executor is None:
            self._executor = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"),
                                                 initializer=_start_worker, initargs=(rules,))
            self._rules = rules
        return self._executor

    def _broken(self, executor: ProcessPoolExecutor, exc: BaseException) -> None:
        if self._executor is executor:
            log.warning("a parse worker process died (%s): parsing in-process, the pool is tried again in %gs",
                        exc, self.cooldown)
            executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None
            self._resting_until = time.monotonic() + self.cooldown

    def pids(self) -> list[int]:
        """The worker processes' ids (benchmarks add up their CPU time)."""
        processes = getattr(self._executor, "_processes", None) or {}
        return list(processes)

    async def close(self) -> None:
        """Stop the workers: waits for the parse each one is doing, drops what is queued."""
        executor, self._executor = self._executor, None
        if executor is not None:
            await asyncio.to_thread(executor.shutdown, wait=True, cancel_futures=True)

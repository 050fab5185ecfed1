"""Parse and match on the other cores: a process pool for the CPU work of a busy cycle.

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
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass, field

from watcher.matching import Analysis, Matcher, matcher_for
from watcher.models import Item, Response
from watcher.rules import Rules
from watcher.sources import Source

log = logging.getLogger(__name__)

MIN_POLLS = 8  # polls in flight at once before the pool is worth its round trips
MIN_BYTES = 16 * 1024  # smaller responses parse faster here than they travel to a worker
COOLDOWN = 600.0  # seconds without the pool after a worker died


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

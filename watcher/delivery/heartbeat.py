"""The heartbeat: someone outside learns that watcher is down (healthchecks.io, Uptime Kuma).

WATCHER_HEARTBEAT_URL is requested (GET) after a cycle in which delivery works; when delivery is
stuck (alerts still pending after three attempts to a destination) the fail URL is requested
instead: WATCHER_HEARTBEAT_FAIL_URL, by default the heartbeat URL with `/fail` appended
(healthchecks.io's convention; for Uptime Kuma give `...?status=down` explicitly). The monitor
on the other side raises the alarm when pings stop coming, which is what happens when watcher
dies, the server is off or the network is down.

Pings are sent at most every WATCHER_HEARTBEAT_EVERY (default 60s) while nothing changes, at
once when the state changes, and always at the end of `watcher poll --once`. A ping that fails
is logged (once per kind of failure) and never stops watcher. The URL usually carries a secret
token: logs name its host only.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from urllib.parse import urlsplit

import httpx

from watcher.durations import parse_duration
from watcher.errors import ConfigError, ConfigProblem
from watcher.store import Store

log = logging.getLogger(__name__)
STUCK_AFTER = 3  # attempts after which a pending alert counts as stuck delivery


@dataclass
class Heartbeat:
    url: str
    fail_url: str
    every: timedelta = timedelta(seconds=60)
    transport: httpx.AsyncBaseTransport | None = None
    clock: Callable[[], float] = time.monotonic
    _last: tuple[bool, float] | None = field(default=None, repr=False)  # (ok, when) of the last ping sent
    _problem: str = field(default="", repr=False)

    @classmethod
    def from_env(cls, env: Mapping[str, str], transport: httpx.AsyncBaseTransport | None = None) -> Heartbeat | None:
        url = env.get("WATCHER_HEARTBEAT_URL", "").strip()
        if not url:
            return None
        problems = []
        fail = env.get("WATCHER_HEARTBEAT_FAIL_URL", "").strip() or url.rstrip("/") + "/fail"
        for name, value in (("WATCHER_HEARTBEAT_URL", url), ("WATCHER_HEARTBEAT_FAIL_URL", fail)):
            parts = urlsplit(value)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                problems.append(ConfigProblem("environment", None, f"{name}: not an http(s) URL"))
        every = timedelta(seconds=60)
        raw = env.get("WATCHER_HEARTBEAT_EVERY", "").strip()
        if raw:
            try:
                every = parse_duration(raw)
            except ValueError as exc:
                problems.append(ConfigProblem("environment", None, f"WATCHER_HEARTBEAT_EVERY: {exc}"))
        if problems:
            raise ConfigError(problems)
        return cls(url, fail, every, transport)

    @staticmethod
    def delivery_ok(store: Store, destinations: list[str]) -> bool:
        """Delivery works: no destination has alerts pending after STUCK_AFTER attempts."""
        stuck = {d: n for d, n, _ in store.stuck_deliveries(STUCK_AFTER)}
        return not any(stuck.get(d, 0) for d in destinations)

    async def beat(self, ok: bool, *, force: bool = False) -> bool:
        """Ping (the fail URL when not `ok`) if due; returns whether a ping was sent and answered."""
        now = self.clock()
        if not force and self._last is not None:
            last_ok, when = self._last
            if last_ok == ok and now - when < self.every.total_seconds():
                return False
        target = self.url if ok else self.fail_url
        host = urlsplit(target).hostname
        try:
            async with httpx.AsyncClient(transport=self.transport, timeout=10.0, follow_redirects=True) as client:
                response = await client.get(target, headers={"User-Agent": "watcher-heartbeat"})
            response.raise_for_status()
        except httpx.HTTPError as exc:
            problem = f"{type(exc).__name__}"
            if problem != self._problem:
                self._problem = problem
                log.warning("heartbeat to %s failed (%s); watcher goes on, the next ping is tried later", host, problem)
            return False
        if self._problem:
            log.info("heartbeat to %s works again", host)
        self._problem = ""
        if self._last is None or self._last[0] != ok:
            log.info("heartbeat to %s: %s", host, "delivery works" if ok else "delivery is stuck (fail ping)")
        self._last = (ok, now)
        return True

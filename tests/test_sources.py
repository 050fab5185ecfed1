"""Every source module against its recorded fixtures: fetch (over a mock transport) then parse.

Layout, one folder per case: tests/fixtures/sources/<type>/<case>/
- source.yaml: the source's settings as in feeds.yaml (id and type may be left out);
- responses.yaml: the recorded answers, a list of {path, query?, file?, status?, headers?};
  a request gets the first entry whose path equals its path and whose query items it has;
  anything else gets a 404 "no recorded response";
- context.json (optional): {"now", "first_run", "state", "known"} as the pipeline would pass,
  and "env": environment variables set for the run (a token);
- expected.json: {"requests": [...], "items": [...]} or {"requests": [...], "error": {...}}.
A missing expected.json fails the test; run with WATCHER_WRITE_EXPECTED=1 to have it written
from the current output, then review it (as juriscraper does). A source module without at
least two cases fails too.
"""

from __future__ import annotations

import asyncio
import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
from ruamel.yaml import YAML

from watcher.errors import SourceError
from watcher.http import Fetcher, Validators
from watcher.models import Item
from watcher.sources import build_source, source_types
from watcher.sources.base import FetchContext

ROOT = Path(__file__).parent / "fixtures" / "sources"
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)


def _cases() -> list[Path]:
    return sorted(p for p in ROOT.glob("*/*") if p.is_dir())


def _load(path: Path) -> Any:
    return YAML(typ="safe").load(path.read_text(encoding="utf-8")) if path.exists() else None


class Replay:
    """httpx transport answering from a case's responses.yaml, remembering what was asked."""

    def __init__(self, case: Path):
        self.case = case
        self.routes = _load(case / "responses.yaml") or []
        self.requests: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        query = dict(request.url.params)
        pairs = sorted(request.url.params.multi_items())
        shown = request.url.path + (("?" + "&".join(f"{k}={v}" for k, v in pairs)) if pairs else "")
        self.requests.append(shown)
        for route in self.routes:
            wanted = {str(k): str(v) for k, v in (route.get("query") or {}).items()}
            if route["path"] == request.url.path and all(query.get(k) == v for k, v in wanted.items()):
                body = (self.case / route["file"]).read_bytes() if route.get("file") else b""
                return httpx.Response(route.get("status", 200), headers=route.get("headers") or {}, content=body)
        return httpx.Response(404, content=b"no recorded response")


def _serialise(item: Item) -> dict[str, Any]:
    return {
        "key": item.key, "title": item.title, "summary": item.summary, "url": item.url,
        "published": item.published.isoformat(), "language": item.language, "fields": item.fields,
    }


def _run(case: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    kind = case.parent.name
    settings = {"id": f"{kind}-test", "type": kind, **(_load(case / "source.yaml") or {})}
    source = build_source(source_types()[kind].Settings.model_validate(settings))
    context = json.loads((case / "context.json").read_text(encoding="utf-8")) if (case / "context.json").exists() else {}
    now = datetime.fromisoformat(context["now"]) if "now" in context else NOW
    for name in ("WATCHER_COURTLISTENER_TOKEN",):
        monkeypatch.delenv(name, raising=False)
    for name, value in (context.get("env") or {}).items():
        monkeypatch.setenv(name, value)
    replay = Replay(case)

    async def no_sleep(seconds: float) -> None:
        return None

    async def go() -> list[Item]:
        fetcher = Fetcher(transport=httpx.MockTransport(replay), clock=lambda: now, sleep=no_sleep)
        ctx = FetchContext(
            validators=Validators(), now=now, first_run=context.get("first_run", False),
            state=context.get("state", {}), known=lambda keys: set(keys) & set(context.get("known", [])),
            sleep=no_sleep, delay=source.delay.total_seconds(),
        )
        try:
            responses = await source.fetch(fetcher, ctx)
        finally:
            await fetcher.aclose()
        return [item for response in responses for item in source.parse(response)]

    try:
        items = asyncio.run(go())
    except SourceError as exc:
        return {"requests": replay.requests,
                "error": {"type": type(exc).__name__, "health": exc.health, "message": str(exc)}}
    return {"requests": replay.requests, "items": [_serialise(i) for i in items]}


def test_every_source_type_has_at_least_two_fixture_cases() -> None:
    for kind in source_types():
        cases = [p for p in (ROOT / kind).glob("*") if p.is_dir()]
        assert len(cases) >= 2, f"source type {kind!r} needs at least two cases in {ROOT / kind}"


def test_every_fixture_folder_belongs_to_a_source_type() -> None:
    assert {p.name for p in ROOT.iterdir() if p.is_dir()} <= set(source_types())


@pytest.mark.parametrize("case", _cases(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_source_fixture(case: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    got = _run(case, monkeypatch)
    expected_path = case / "expected.json"
    if not expected_path.exists():
        if os.environ.get("WATCHER_WRITE_EXPECTED") == "1":
            expected_path.write_text(json.dumps(got, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
            pytest.fail(f"wrote {expected_path}: review it, then run the test again")
        pytest.fail(f"{expected_path} is missing: run with WATCHER_WRITE_EXPECTED=1 to write it, then review it")
    expected = json.loads(expected_path.read_text(encoding="utf-8"))
    assert got == expected

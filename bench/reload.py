"""Benchmark: loading the rules, compiling the matcher, and what a reload costs the event loop.

At 10,000 watched people (bench/match.py's generator whose names collide like real ones,
`make_people_colliding`, when it is there; `--plain` for `make_people`) in a rules folder
written the way monitors write it (block style, `aliases: [..]`, next to the repo's
rules/incidents.yaml), measures:

- `load_rules(folder)`: YAML parsing and pydantic validation;
- the matcher's compile (`Matcher(rules)`);
- in a running event loop with a ticker task (`asyncio.sleep(0.01)` in a loop, recording how
  late each tick wakes up), the longest stall while `RulesHolder.refresh_async` reloads and
  recompiles after people.yaml changed (a person appended), against the loop idle, and against
  the old way (the whole reload on the loop's thread, `refresh()`).

Prints a table; writes nothing. The machine is shared: note the load average printed with it.

    .venv/bin/python bench/reload.py                 # 10,000 people, 3 runs each
    .venv/bin/python bench/reload.py --people 1000 --runs 1 [--plain] [--no-inline]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import match  # noqa: E402  (bench/match.py: the synthetic watchlists)

from watcher.matching import Matcher, matcher_for  # noqa: E402
from watcher.rules import RulesHolder, load_rules  # noqa: E402

SEED = 20241123


def people(count: int, plain: bool) -> list:
    make = getattr(match, "make_people_colliding", None)
    if plain or make is None:
        make = match.make_people
    return make(count, random.Random(SEED))


def entry_lines(person) -> list[str]:
    lines = [f"  - name: {person.name}"]
    if person.aliases:
        lines.append(f"    aliases: [{', '.join(person.aliases)}]")
    if person.country:
        lines.append(f"    country: {person.country}")
    if person.not_:
        lines.append(f"    not: [{', '.join(person.not_)}]")
    return lines


def write_rules(folder: Path, watched: list) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "rules" / "incidents.yaml", folder / "incidents.yaml")
    lines = ["# synthetic watchlist (bench/reload.py)", "people:"]
    for person in watched:
        lines += entry_lines(person)
    (folder / "people.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")


def append_person(folder: Path, index: int) -> None:
    """A monitor's /watch, as far as the folder is concerned: one more entry in people.yaml."""
    path = folder / "people.yaml"
    extra = f"  - name: Benchmark Person{'x' * index}ov\n    aliases: [Бенчмарк Персонов]\n"
    path.write_text(path.read_text(encoding="utf-8") + extra, encoding="utf-8")


def timed(fn, *args) -> tuple[float, object]:
    start = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - start, out


async def ticker(stop: asyncio.Event, lateness: list[float], every: float = 0.01) -> None:
    """Ticks every `every` s; records how late each wake-up is (the loop's stall)."""
    while not stop.is_set():
        start = time.perf_counter()
        await asyncio.sleep(every)
        lateness.append(time.perf_counter() - start - every)


async def stall_during(action, seconds_idle: float = 0.0) -> tuple[float, float, int]:
    """(longest stall in s, wall time of `action` in s, ticks) with a ticker running."""
    stop = asyncio.Event()
    lateness: list[float] = []
    tick = asyncio.create_task(ticker(stop, lateness))
    await asyncio.sleep(0.05)
    lateness.clear()
    start = time.perf_counter()
    if seconds_idle:
        await asyncio.sleep(seconds_idle)
    else:
        await action()
    wall = time.perf_counter() - start
    await asyncio.sleep(0.03)  # a tick that was due during the action's last moments lands now
    stop.set()
    await tick
    return (max(lateness) if lateness else wall), wall, len(lateness)


async def reload_stalls(folder: Path, runs: int, inline: bool, freeze: bool = True) -> dict[str, list[tuple[float, float, int]]]:
    holder = RulesHolder(folder, prepare=matcher_for)
    if freeze:
        holder.keep_heap_frozen()  # as `watcher run` does
    out: dict[str, list[tuple[float, float, int]]] = {"idle": [], "thread": [], "inline": []}
    for run in range(runs):
        out["idle"].append(await stall_during(None, seconds_idle=1.0))
        append_person(folder, 2 * run + 1)

        async def in_thread() -> None:
            assert await holder.refresh_async(wait=True)

        out["thread"].append(await stall_during(in_thread))
        if inline:
            append_person(folder, 2 * run + 2)

            async def on_loop() -> None:
                assert holder.refresh()

            out["inline"].append(await stall_during(on_loop))
    return out


def ms(value: float) -> str:
    return f"{value * 1000:,.0f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--plain", action="store_true", help="bench/match.py's make_people (names rarely collide)")
    parser.add_argument("--no-inline", dest="inline", action="store_false",
                        help="skip the old way (the whole reload on the loop's thread)")
    parser.add_argument("--no-freeze", dest="freeze", action="store_false",
                        help="without `keep_heap_frozen` (full collections walk the whole heap)")
    args = parser.parse_args()
    load = open("/proc/loadavg").read().split()[:3]
    generator = "make_people" if args.plain or not hasattr(match, "make_people_colliding") else "make_people_colliding"
    work = Path(tempfile.mkdtemp(prefix="watcher-reload-"))
    try:
        folder = work / "rules"
        write_rules(folder, people(args.people, args.plain))
        size = (folder / "people.yaml").stat().st_size
        loads, compiles = [], []
        for _ in range(args.runs):
            gc.collect()
            seconds, rules = timed(load_rules, folder)
            loads.append(seconds)
            gc.collect()
            compiles.append(timed(Matcher, rules)[0])
        stalls = asyncio.run(reload_stalls(folder, args.runs, args.inline, args.freeze))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"{args.people:,} people ({generator}), people.yaml {size / 1e6:.1f} MB, {args.runs} run(s); "
          f"heap frozen: {'yes' if args.freeze else 'no'}; load average at start {' / '.join(load)}, switch interval {sys.getswitchinterval() * 1000:.0f} ms")
    rows = [("load_rules (s)", [f"{v:.2f}" for v in loads]),
            ("Matcher compile (s)", [f"{v:.2f}" for v in compiles]),
            ("load + compile (s)", [f"{a + b:.2f}" for a, b in zip(loads, compiles)])]
    for kind, label in (("idle", "loop idle 1 s"), ("thread", "reload in a thread"), ("inline", "reload on the loop (old)")):
        if stalls[kind]:
            rows.append((f"{label}: longest stall (ms)", [ms(s) for s, _, _ in stalls[kind]]))
            if kind != "idle":
                rows.append((f"{label}: wall (s)", [f"{w:.2f}" for _, w, _ in stalls[kind]]))
    width = max(len(r[0]) for r in rows)
    print(f"| {'':{width}} | " + " | ".join(f"run {i + 1:>3}" for i in range(args.runs)) + " | median |")
    print(f"|{'-' * (width + 2)}|" + "|".join("--------:" for _ in range(args.runs)) + "|-------:|")
    for label, values in rows:
        median = statistics.median(float(v.replace(",", "")) for v in values)
        print(f"| {label:{width}} | " + " | ".join(f"{v:>7}" for v in values) + f" | {median:>6g} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

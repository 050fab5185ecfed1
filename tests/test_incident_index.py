"""The incident candidate index (m011, issue #16): a new report reads only the window's incidents
that share a block of a key or a watched person with it, and joins exactly the incident it would
have joined by reading every incident of its window."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

from watcher.incidents import Report, choose, place
from watcher.incidents.cluster import reported_at
from watcher.incidents.salience import _PRIORITY, WEIGHTS, Overlap, overlap, same_name
from watcher.models import Item
from watcher.store import Store

NOW = datetime(2026, 11, 2, 12, 0, tzinfo=timezone.utc)
WINDOW = timedelta(hours=72)
PEOPLE = ["Bakhodir Karimov", "Dilnoza Karimova", "Aziz Yusupov", "Ruslan Bekov", "Zarina Yusupova", "Ilhom Sobirov"]
NAMES = ["Istanbul", "Moscow", "Sobirov", "Karimova", "Petrov", "Mirsobir", "Mirosobir", "Almaty", "Hamraev",
         "Hamraevu", "Nazarbekov", "Tashkent", "Vnukovo", "Sheremetyevo", "Rakhimov", "Umarova", "Yusupovoy"]
TYPES = ["detention", "extradition", "deportation", "abduction", "red_notice"]


def _store_item(store: Store, n: int, when: datetime) -> int:
    added = store.add_items([Item("news", f"k{n}", f"t{n}", "s", f"https://news.example.org/{n}", when)], when)
    return added.new[0].id


def _random_report(rng: random.Random, item_id: int) -> Report:
    people = rng.sample(PEOPLE, rng.choice([0, 0, 1, 1, 1, 2]))
    names = rng.sample(NAMES, rng.randint(1, 5))
    numbers = [str(rng.randint(10, 99)) for _ in range(rng.randint(0, 2))]
    words = ["Reports", "said", *[f"that {n} was named" for n in names], *[f"on {x} March" for x in numbers]]
    summary = " ".join(words) + "."
    return Report(item_id, "news", "", summary, NOW - timedelta(hours=rng.uniform(0, 900)), people=people,
                  incident_types=rng.sample(TYPES, rng.choice([0, 1, 1, 2])),
                  origin=rng.sample(["UZ", "TJ", "RU"], rng.choice([0, 1])), host=rng.sample(["TR", "KZ"], rng.choice([0, 1])))


def test_a_report_joins_what_reading_the_whole_window_would_choose() -> None:
    """400 reports whose names collide (shared surnames, a declension, a one-letter typo, shared
    numbers), in random order: every placement through the index equals the choice made over
    every incident of the window, read without the index."""
    rng = random.Random(16)
    store = Store(":memory:")
    joined, reasons = 0, set()
    for n in range(400):
        with store.transaction():
            report = _random_report(rng, 0)
            report = Report(_store_item(store, n, report.published), *list(report.__dict__.values())[1:])
            when = reported_at(report.published, NOW)
            expected = choose(report, store.incidents_near(when - WINDOW, when + WINDOW))
            placement = place(store, report, NOW, WINDOW)
        if expected is None:
            assert not placement.joined, (n, placement)
        else:
            joined += 1
            assert placement.joined and placement.incident_id == int(expected[0]["id"]), (n, placement, expected[1])
            assert placement.reason == expected[1]
            reasons.add(expected[1].split(":")[0])
    assert 100 < joined < 380, joined  # the set exercises both: joining and starting incidents
    assert reasons == {"shared person", "shared names, places and numbers"}
    assert store.conn.execute("SELECT count(*) FROM incidents WHERE indexed = 0").fetchone()[0] == 0


def test_the_index_leaves_out_incidents_that_share_nothing() -> None:
    store = Store(":memory:")
    with store.transaction():
        a = store.create_incident(title="a", people=["Aziz Yusupov"], incident_types=[], origin=[], host=[],
                                  keys={"istanbul": "name"}, reported=NOW, now=NOW, blocks={"ist", "bul", "azi", "yus", "pov"})
        b = store.create_incident(title="b", people=[], incident_types=[], origin=[], host=[],
                                  keys={"almaty": "name"}, reported=NOW, now=NOW, blocks={"alm", "aty"})
    near = [i["id"] for i in store.incidents_near(NOW - WINDOW, NOW + WINDOW, blocks={"ist"}, people=[])]
    assert near == [a]
    near = [i["id"] for i in store.incidents_near(NOW - WINDOW, NOW + WINDOW, blocks=set(), people=["Aziz Yusupov"])]
    assert near == [a]
    assert {i["id"] for i in store.incidents_near(NOW - WINDOW, NOW + WINDOW)} == {a, b}  # without blocks: all
    assert store.incidents_near(NOW + 2 * WINDOW, NOW + 3 * WINDOW, blocks={"alm"}) == []  # an empty window


def test_an_incident_filed_without_blocks_stays_a_candidate_for_every_report() -> None:
    """Incidents from before m011 (or written by a caller that gave no blocks) have no index
    rows: they are read for every report of their window, so nothing that could join is missed."""
    store = Store(":memory:")
    with store.transaction():
        first = _store_item(store, 1, NOW)
        old = store.create_incident(title="Karimov detained", people=["Bakhodir Karimov"], incident_types=["detention"],
                                    origin=["UZ"], host=["TR"], keys={"istanbul": "name"}, reported=NOW, now=NOW)
        store.add_report(old, first, source_id="news", reported=NOW, reason="first report", score=None, now=NOW)
        indexed = store.create_incident(title="x", people=[], incident_types=[], origin=[], host=[], keys={},
                                        reported=NOW, now=NOW, blocks=set())
        store.add_report(indexed, first + 0, source_id="news", reported=NOW, reason="r", score=None, now=NOW,
                         keys={"almaty": "name"})  # keys added without blocks: the incident falls back to unindexed
    assert [r[0] for r in store.conn.execute("SELECT indexed FROM incidents ORDER BY id")] == [0, 0]
    assert {i["id"] for i in store.incidents_near(NOW - WINDOW, NOW + WINDOW, blocks=set())} == {old, indexed}
    with store.transaction():
        second = _store_item(store, 2, NOW)
        placement = place(store, Report(second, "news", "Bakhodir Karimov detained in Istanbul", "", NOW,
                                        people=["Bakhodir Karimov"], incident_types=["detention"]), NOW, WINDOW)
    assert placement.joined and placement.incident_id == old


def _overlap_by_every_pair(report: dict[str, str], incident: dict[str, str], exclude: frozenset[str]) -> Overlap:
    """The definition `overlap` must equal: each report key, in order, takes the first unused
    incident key (in the incident's order) that is the same name."""
    shared: dict[str, str] = {}
    used: set[str] = set()
    for key, kind in report.items():
        for other, other_kind in incident.items():
            if other in exclude or other in used or not same_name(key, other):
                continue
            shared[key] = kind if _PRIORITY[kind] <= _PRIORITY[other_kind] else other_kind
            used.add(other)
            break
    pairs = tuple(sorted(shared.items(), key=lambda kv: (_PRIORITY[kv[1]], kv[0])))
    return Overlap(pairs, sum(WEIGHTS[kind] for _, kind in pairs))


def test_overlap_equals_comparing_every_pair() -> None:
    """Keys built to collide: declensions, one letter more at the start, middle and end, one
    letter changed, shared starts and ends, numbers; 3,000 random report/incident pairs."""
    rng = random.Random(7)
    stems = ["karimov", "mirsobir", "hamraev", "israilov", "yusupov", "abdulloev", "nazarov", "sobirov"]
    pool: list[str] = []
    for stem in stems:
        pool += [stem, stem + "a", stem + "u", stem + "ym", "x" + stem, stem[:3] + "x" + stem[3:], stem + "x",
                 stem[:-1] + "q", "zz" + stem[-3:], stem[:3] + "zz"]
    pool += ["#12", "#2024", "#7", "#120"]
    kinds = ["person", "name", "number", "year"]
    for _ in range(3000):
        report = {k: rng.choice(kinds) for k in rng.sample(pool, rng.randint(0, 12))}
        incident = {k: rng.choice(kinds) for k in rng.sample(pool, rng.randint(0, 40))}
        exclude = frozenset(rng.sample(sorted(incident), min(len(incident), rng.randint(0, 3))))
        assert overlap(report, incident, exclude) == _overlap_by_every_pair(report, incident, exclude)


def test_the_window_is_found_through_the_last_seen_index_not_the_history() -> None:
    """A year of incidents lies before the window: its lowest id must be read from the window's
    rows (the last_seen index), not by walking every incident from the first."""
    from watcher.store.incidents import WINDOW_FIRST_ID

    store = Store(":memory:")
    with store.transaction():
        for day in range(365):
            when = NOW - timedelta(days=365 - day)
            store.create_incident(title="t", people=[], incident_types=[], origin=[], host=[], keys={}, reported=when,
                                  now=when, blocks=set())
    store.conn.execute("ANALYZE")
    plan = " ".join(str(tuple(r)) for r in store.conn.execute("EXPLAIN QUERY PLAN " + WINDOW_FIRST_ID, ("a", "b")))
    assert "incidents_last_seen" in plan, plan
    first = store.conn.execute(WINDOW_FIRST_ID, ((NOW - WINDOW).isoformat(), NOW.isoformat())).fetchone()[0]
    assert first == 363  # the last three days' incidents are the window's

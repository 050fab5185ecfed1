"""The store wing: the SQLite database (watcher.db) and its schema.

- store.py: `Store`, the one place that reads and writes the database (items, sightings,
  matches, the alerts outbox, sources' health, audit, feedback, mutes, digests), and the ISO
  timestamp helpers every table uses.
- incidents.py, evidence.py: the incident and evidence tables (mixins of `Store`).
- times.py: the one timestamp format (`iso`, `parse_iso`).
- migrations.py: the schema, as numbered sqlite-utils migrations applied on open.

May import only the core (models); every other wing reaches the database through `Store`.
"""

from watcher.store.store import NewItem, Store
from watcher.store.times import iso, parse_iso

__all__ = ["NewItem", "Store", "iso", "parse_iso"]

"""Migrations from m011 on, registered on the same `Migrations` as watcher/store/migrations.py
(which imports this module at its end, so they run after m010 and in the order written here).

Tables added here:
- incident_blocks: which incident holds which "block" (the first and last three letters of a
  spelling key of its names, places and numbers, and of its watched people's name parts), so a
  new report's candidate incidents are found by lookup instead of by reading every incident of
  its window (m011). Incidents filed before m011 (or by a caller that gave no blocks) have
  `indexed = 0` and stay candidates for every report until they leave the window.
"""

from __future__ import annotations

from sqlite_utils import Database

from watcher.store.migrations import migrations


@migrations()
def m011_incident_blocks(db: Database) -> None:
    """The incident candidate index. An incident's blocks are added by `create_incident` and
    `add_report` as its reports arrive; `indexed` says whether the rows are complete for it."""
    db.executescript(
        """
        CREATE TABLE incident_blocks (
            block TEXT NOT NULL,
            incident_id INTEGER NOT NULL REFERENCES incidents (id),
            PRIMARY KEY (block, incident_id)
        ) WITHOUT ROWID;
        ALTER TABLE incidents ADD COLUMN indexed INTEGER NOT NULL DEFAULT 0;
        """
    )

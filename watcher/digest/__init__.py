"""The digest wing: the daily email that summarises a day's incidents and sources' health.

- model.py: what a digest says, as plain data: one entry per incident, with all its reports.
- gather.py: the window's alerted incidents read from the store (an alert row without an
  incident still becomes an entry of its own: nothing is lost silently).
- service.py: which day a digest covers (DST-safe windows), building it from the store, and
  sending it exactly once per recipient and day.
- render.py + templates/: the text and HTML parts (Jinja2, autoescaped).

May import the core, `watcher.store`, `watcher.rules`, `watcher.matching` and `watcher.delivery`
(the email notifier); never bot or cli.
"""

from watcher.digest.model import Digest, DigestEntry, EntryReport, SourceProblem
from watcher.digest.service import DigestReport, DigestSchedule, DigestService, build_digest

__all__ = ["Digest", "DigestEntry", "DigestReport", "DigestSchedule", "DigestService", "EntryReport",
           "SourceProblem", "build_digest"]

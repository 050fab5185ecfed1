"""The incidents wing: one story, however many outlets and languages report it, is one incident.

- salience.py: what two reports share whatever their language (names, numbers by spelling key).
- cluster.py: which incident a newly matched item joins, or which case a new incident follows.

Imports the core, matching/ and store/; delivery/, digest/ and the assembly read its results
from the store.
"""

from watcher.incidents.cluster import DEFAULT_WINDOW, Placement, Report, alert_kind, choose, place, reported_at

__all__ = ["DEFAULT_WINDOW", "Placement", "Report", "alert_kind", "choose", "place", "reported_at"]

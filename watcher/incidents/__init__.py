"""The incidents wing: one story, however many outlets and languages report it, is one incident.

- salience.py: what two reports share whatever their language (names, numbers by spelling key).
- cluster.py: which incident a newly matched item joins, or which case a new incident follows.
- alerting.py: filing a matched item: its incident, and its outbox rows to the routes' destinations.

Imports the core, matching/ and store/; delivery/, digest/ and the assembly read its results
from the store.
"""

from watcher.incidents.alerting import Filed, Filing, alert_worthy, file_item
from watcher.incidents.cluster import DEFAULT_WINDOW, Placement, Report, alert_kind, choose, place, reported_at

__all__ = ["DEFAULT_WINDOW", "Filed", "Filing", "Placement", "Report", "alert_kind", "alert_worthy", "choose",
           "file_item", "place", "reported_at"]

"""The evidence wing: the pages that reported an incident, kept as fetched.

Why: outlets delete or edit articles under pressure, and a monitor then has nothing left to
show a court or a UN rapporteur. The Berkeley Protocol on Digital Open Source Investigations
asks for the page, its hash, the time and the URL; this wing keeps exactly that.

When an incident alerts, and for each later report, the pipeline asks for the item's page
(`Store.want_evidence`, inside the poll's transaction). `collect.py` fetches it afterwards,
off the alert path, through the same guarded Fetcher as the source (SSRF guard, size cap, the
source's proxy, timeouts), and stores the raw bytes (compressed) with the response headers,
final URL, fetch time, SHA-256 and the main text (`page.py`: trafilatura, and telling a block
or captcha page from an article). `archive.py` asks the Internet Archive for a copy of its own
when switched on (WATCHER_ARCHIVE_SAVE=1). `bundle.py` writes what `watcher evidence` hands to
a lawyer or a rapporteur. Imports primitives and store/ only; app.py passes each source's
fetch settings in.
"""

from watcher.evidence.archive import ArchiveSettings
from watcher.evidence.bundle import BundleError, write_bundle
from watcher.evidence.collect import EvidenceReport, FetchSettings, collect_evidence

__all__ = ["ArchiveSettings", "BundleError", "EvidenceReport", "FetchSettings", "collect_evidence", "write_bundle"]

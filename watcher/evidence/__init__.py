"""The evidence wing: the pages that reported an incident, kept as fetched.

When an incident alerts, and for each later report, the pipeline asks for the item's page
(`Store.want_evidence`, inside the poll's transaction). `collect.py` fetches it afterwards, off
the alert path, through the same guarded Fetcher as the source (SSRF guard, size cap, the
source's proxy, timeouts), and stores the raw bytes (compressed) with the response headers,
final URL, fetch time, SHA-256 and the main text (trafilatura), as the Berkeley Protocol on
Digital Open Source Investigations asks; optionally the Internet Archive is asked to save it.
`bundle.py` writes what `watcher evidence` hands to a lawyer or a UN rapporteur.
"""

from watcher.evidence.bundle import write_bundle
from watcher.evidence.collect import ArchiveSettings, EvidenceReport, collect_evidence

__all__ = ["ArchiveSettings", "EvidenceReport", "collect_evidence", "write_bundle"]

"""Asking the Internet Archive to keep its own copy of a reported page (Save Page Now).

Off by default: a save request tells the Archive (and anyone who reads its public index)
which page a monitor cared about, and when. WATCHER_ARCHIVE_SAVE=1 switches it on;
WATCHER_ARCHIVE_API points it at another base URL (a loopback emulator in the tests, or a
mirror). A copy kept by a third party is worth having beside our own: a court can check it
without trusting watcher's database.

The request is `GET <api>/save/<url>`, anonymous. The Archive answers with the archived page
after redirecting to it (`/web/<timestamp>/<url>`), or says where the copy is in
Content-Location; an answer that names no copy is a failure to retry, not a success.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import quote, urldefrag, urlsplit

from watcher.errors import ConfigError, ConfigProblem, WatcherError
from watcher.http import ALLOW_PRIVATE, Fetcher

ARCHIVE_API = "https://web.archive.org"
_ON = ("1", "on", "yes", "true")


class ArchiveRefused(WatcherError):
    """The Archive answered, but named no archived copy."""


@dataclass(frozen=True)
class ArchiveSettings:
    """Where Save Page Now is. `allow_private` is set when the operator chose the address
    (WATCHER_ARCHIVE_API), which may then be a loopback emulator; the public default is
    reached under the SSRF guard like any site."""

    api: str = ARCHIVE_API
    allow_private: bool = False

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ArchiveSettings | None:
        """None unless WATCHER_ARCHIVE_SAVE is 1 (on, yes, true). Raises ConfigError for a
        WATCHER_ARCHIVE_API that is not an http(s) URL."""
        if env.get("WATCHER_ARCHIVE_SAVE", "").strip().lower() not in _ON:
            return None
        api = (env.get("WATCHER_ARCHIVE_API") or "").strip().rstrip("/")
        if not api:
            return cls()
        if urlsplit(api).scheme not in ("http", "https") or not urlsplit(api).hostname:
            raise ConfigError([ConfigProblem("environment", None,
                                             f"WATCHER_ARCHIVE_API: {api!r} is not a URL like https://web.archive.org")])
        return cls(api=api, allow_private=True)

    def save_url(self, url: str) -> str:
        """The Save Page Now request for `url` (its fragment dropped: the Archive keeps pages)."""
        return f"{self.api}/save/{quote(urldefrag(url).url, safe=':/?&=%;+,@!$~*()')}"


@dataclass(frozen=True)
class ArchivedCopy:
    """What the Archive answered: where its copy is, and the answer's status and headers."""

    archive_url: str
    final_url: str
    http_status: int
    headers: dict[str, str]


def copy_location(settings: ArchiveSettings, save_url: str, final_url: str, content_location: str) -> str | None:
    """The archived copy's URL: Content-Location (made absolute), else where the redirects
    ended, unless that is still the save request itself."""
    if content_location:
        return f"{settings.api}{content_location}" if content_location.startswith("/") else content_location
    if final_url and final_url != save_url and not urlsplit(final_url).path.startswith("/save/"):
        return final_url
    return None


async def save_page(fetcher: Fetcher, settings: ArchiveSettings, url: str) -> ArchivedCopy:
    """Ask the Archive to save `url`. Raises the Fetcher's errors, or ArchiveRefused."""
    request = settings.save_url(url)
    private = ALLOW_PRIVATE.set(settings.allow_private)
    try:
        response = await fetcher.get(request)
    finally:
        ALLOW_PRIVATE.reset(private)
    where = copy_location(settings, request, response.url, response.header("content-location"))
    if where is None:
        raise ArchiveRefused(f"the Internet Archive answered HTTP {response.status} without naming a saved copy")
    return ArchivedCopy(archive_url=where, final_url=response.url, http_status=response.status,
                        headers=response.headers)

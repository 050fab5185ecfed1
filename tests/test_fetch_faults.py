"""Faults an outside black-box battery found (issue 11, items 2 and 11), each on loopback.

Like tests/test_hostile_sources.py, every end-to-end case is one `poll_sources` over the hostile
source and a healthy one (`good`, which must stay unaffected), through the real pipeline:
- a windows-1251 or KOI8-R feed that declares no encoding is decoded right and matched, and text
  that still reads as mojibake is flagged on its items (`looks_like_mojibake`, unit-tested with
  genuine French, German, Turkish, Azerbaijani and Uzbek text that must not be flagged);
- a connection reset or closed before (or during) the response says so in the source's health;
- an HTML block page that starts with a byte-order mark is blocked, not a zombie;
- a gzip stream cut short, or a body shorter than its Content-Length, is failing, nothing stored.
"""

from __future__ import annotations

import asyncio
import codecs
import gzip
import re
import socket
import struct
import threading
from collections.abc import Callable, Iterator
from datetime import datetime, timezone

import httpx
import pytest

from conftest import Workspace
from test_hostile_sources import KARIMOV, RU_TITLE, assert_refused, entry, feed, items, person_matches, poll_pair
from watcher.errors import FetchFailed
from watcher.http import Fetcher
from watcher.models import Response
from watcher.sources.rss import parse_feed
from watcher.text import looks_like_mojibake

Behaviour = Callable[[socket.socket], None]


# -- a raw socket server: what an HTTP server library would never do ------------------------------


@pytest.fixture
def raw_server() -> Iterator[Callable[[Behaviour], str]]:
    """`url = raw_server(behaviour)`: a loopback server that reads one request per connection and
    then hands the socket to `behaviour` (reset it, close it, send half an answer...)."""
    listeners: list[socket.socket] = []

    def start(behaviour: Behaviour) -> str:
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listeners.append(listener)

        def run() -> None:
            while True:
                try:
                    conn, _ = listener.accept()
                except OSError:
                    return
                with conn:
                    conn.recv(65536)
                    try:
                        behaviour(conn)
                    except OSError:
                        pass

        threading.Thread(target=run, daemon=True).start()
        return f"http://127.0.0.1:{listener.getsockname()[1]}/rss"

    yield start
    for listener in listeners:
        listener.close()


def reset(conn: socket.socket) -> None:
    """Close with SO_LINGER 0: the peer gets a TCP RST (ECONNRESET), not an orderly FIN."""
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()


HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\nConnection: close\r\n"
TWENTY = feed(*[entry(f"Story {i}", link=f"https://odd.example.org/{i}", description="z" * 60)
                for i in range(20)]).encode()


# -- item 2: undeclared code pages -----------------------------------------------------------------


def _assert_matched_and_alerted(ws: Workspace, reports: dict, title: str = RU_TITLE) -> None:
    assert (reports["odd"].state, reports["odd"].new, reports["odd"].alerts) == ("ok", 1, 1), reports["odd"]
    assert person_matches(ws, "odd") == {title: ["person:Bakhodir Karimov"]}


def test_undeclared_windows_1251_feed_matches_the_watched_name(ws: Workspace) -> None:
    ws.write_rules(KARIMOV)
    body = feed(entry(RU_TITLE, link="https://odd.example.org/1"), declaration=False).encode("cp1251")
    url = ws.serve("/cp1251-silent", body, content_type="application/rss+xml")  # no charset, no encoding=
    _assert_matched_and_alerted(ws, poll_pair(ws, {"id": "odd", "url": url, "backfill": "alert"}))
    assert "Áàõ" not in items(ws, "odd")[0]["title"]


def test_undeclared_koi8_r_feed_matches_the_watched_name(ws: Workspace) -> None:
    ws.write_rules(KARIMOV)
    body = feed(entry(RU_TITLE, link="https://odd.example.org/1", description="Задержан в Стамбуле по запросу"),
                declaration=False).encode("koi8_r")
    url = ws.serve("/koi8-silent", body, content_type="text/xml")
    _assert_matched_and_alerted(ws, poll_pair(ws, {"id": "odd", "url": url, "backfill": "alert"}))


def test_windows_1251_feed_under_a_utf8_header_and_no_declaration_matches_the_watched_name(ws: Workspace) -> None:
    # the header's utf-8 is demonstrably wrong (the body is not UTF-8): detected like silence
    ws.write_rules(KARIMOV)
    body = feed(entry(RU_TITLE, link="https://odd.example.org/1"), declaration=False).encode("cp1251")
    url = ws.serve("/cp1251-liar", body, content_type="application/rss+xml; charset=utf-8")
    _assert_matched_and_alerted(ws, poll_pair(ws, {"id": "odd", "url": url, "backfill": "alert"}))


def _parsed(body: bytes, content_type: str = "application/rss+xml") -> list:
    response = Response(url="https://odd.example.org/rss", status=200, headers={"content-type": content_type},
                        content=body, fetched_at=datetime(2026, 11, 3, tzinfo=timezone.utc))
    return parse_feed(response, "odd")


def test_feed_whose_text_is_still_mojibake_flags_its_items() -> None:
    # a site that stored its cp1251 text mis-decoded serves the mojibake itself, as valid UTF-8
    body = feed(entry("Áàõîäèð Êàðèìîâ çàäåðæàí", link="https://odd.example.org/1"),
                entry("Ð¡ÑƒÐ´ Ð¿Ñ€Ð¾Ð´Ð»Ð¸Ð» Ð°Ñ€ÐµÑÑ‚", link="https://odd.example.org/2"),
                entry("Court hears the case", link="https://odd.example.org/3")).encode()
    flagged = {item.title.split()[0]: "mojibake" in item.flags for item in _parsed(body)}
    assert flagged == {"Áàõîäèð": True, "Ð¡ÑƒÐ´": True, "Court": False}


def test_decoded_undeclared_feed_is_not_flagged_as_mojibake() -> None:
    body = feed(entry(RU_TITLE, link="https://odd.example.org/1"), declaration=False).encode("cp1251")
    [item] = _parsed(body)
    assert (item.title, item.flags) == (RU_TITLE, ())


RU = "Суд продлил арест Баходира Каримова, задержанного в Стамбуле по запросу Ташкента"


@pytest.mark.parametrize("text", [
    RU.encode("cp1251").decode("cp1252"),  # "Ñóä ïðîäëèë àðåñò Áàõîäèðà"
    RU.encode("koi8_r").decode("latin-1"),
    RU.encode("utf-8").decode("cp1252", "replace"),  # "Ð¡ÑƒÐ´ Ð¿Ñ€Ð¾Ð´Ð»Ð¸Ð»"
    RU.encode("utf-8").decode("latin-1"),
    RU.encode("utf-8").decode("cp1251"),  # "РЎСѓРґ РїСЂРѕРґР»РёР»"
    "Áàõîäèð Êàðèìîâ",
    "Ð¡Ð¾",
    "CafÃ© rÃ©sumÃ©: the UTF-8 of French read as Latin-1",
], ids=["cp1251-as-cp1252", "koi8r-as-latin1", "utf8-as-cp1252", "utf8-as-latin1", "utf8-as-cp1251",
        "name", "two-letters", "french-utf8-as-latin1"])
def test_looks_like_mojibake_flags_text_read_in_the_wrong_code_page(text: str) -> None:
    assert looks_like_mojibake(text)


@pytest.mark.parametrize("text", [
    "L’été à Paris : « la journée » de l’élève, où ça ? Noël, naïveté, Hôtel-Dieu, “LIBERTÉ”, ÉGALITÉ",
    "Der Spaß“ und „Fuß“: Grüße über Größe, Bär, Öl, Äpfel und Straße aus Köln — „Groß“",
    "Türkiye’de gözaltına alınan gazeteci üçüncü kez mahkemeye çıkarıldı; İstanbul’da düğün, ölçü",
    "Azərbaycan Respublikası: Bakıda həbs edilən jurnalist üçün məhkəmə, ölkə, Gəncə, şəhər, çağırış",
    "O‘zbekiston Respublikasi: Toshkentda hibsga olingan jurnalist, g‘oya, oʻzbek tili, Gʻafur Gʻulom",
    "Ўзбекистон: Тошкентда ҳибсга олинган журналист, ғоя, қўшиқ",
    RU + ": «ТАСС» сообщает, всё её",
    "Україна: їжак, Євген, ґанок, «Укрінформ»",
    "Łódź, żółć, Říčany; Việt Nam: Hà Nội; ESPAÑA, AÑO, señor; Þjóðin; jäääär",
    "Plain English with an apostrophe’s curl",
], ids=["french", "german", "turkish", "azerbaijani", "uzbek-latin", "uzbek-cyrillic", "russian", "ukrainian",
        "other-latin", "english"])
def test_looks_like_mojibake_leaves_genuine_text_with_diacritics_alone(text: str) -> None:
    assert not looks_like_mojibake(text)


# -- item 11: health that says what happened -------------------------------------------------------


def test_connection_reset_before_response_says_so_in_health(ws: Workspace, raw_server) -> None:
    reports = poll_pair(ws, {"id": "bad", "url": raw_server(reset)}, timeout=3.0)
    error = assert_refused(ws, reports, "failing", "the server closed the connection before sending a response",
                           "Connection reset by peer")
    assert not re.search(r"\w+Error:\s*(\)|$)", error), error  # never "ReadError: " and nothing


def test_connection_closed_before_response_says_so_in_health(ws: Workspace, raw_server) -> None:
    reports = poll_pair(ws, {"id": "bad", "url": raw_server(lambda conn: conn.close())}, timeout=3.0)
    assert_refused(ws, reports, "failing", "the server closed the connection before sending a response")


def test_connection_reset_mid_body_says_the_response_ended_early(ws: Workspace, raw_server) -> None:
    def half_then_reset(conn: socket.socket) -> None:
        conn.sendall(HEAD + b"Content-Length: %d\r\n\r\n" % len(TWENTY) + TWENTY[:700])
        reset(conn)

    reports = poll_pair(ws, {"id": "bad", "url": raw_server(half_then_reset)}, timeout=3.0)
    assert_refused(ws, reports, "failing", f"the response ended early: 700 of {len(TWENTY):,} bytes",
                   "before the response ended", "Connection reset by peer")


def test_body_shorter_than_its_content_length_is_failing_and_stores_nothing(ws: Workspace, raw_server) -> None:
    def short(conn: socket.socket) -> None:
        conn.sendall(HEAD + b"Content-Length: %d\r\n\r\n" % len(TWENTY) + TWENTY[:900])
        conn.shutdown(socket.SHUT_WR)

    reports = poll_pair(ws, {"id": "bad", "url": raw_server(short)}, timeout=3.0)
    assert_refused(ws, reports, "failing", f"the response ended early: 900 of {len(TWENTY):,} bytes")


def test_truncated_gzip_body_is_failing_and_stores_nothing(ws: Workspace, raw_server) -> None:
    # a complete HTTP message (Content-Length matches what is sent) carrying a cut gzip stream
    packed = gzip.compress(TWENTY)[: len(gzip.compress(TWENTY)) * 2 // 3]

    def cut(conn: socket.socket) -> None:
        conn.sendall(HEAD + b"Content-Encoding: gzip\r\nContent-Length: %d\r\n\r\n" % len(packed) + packed)

    reports = poll_pair(ws, {"id": "bad", "url": raw_server(cut)}, timeout=3.0)
    assert_refused(ws, reports, "failing", "the gzip stream ended early")


def test_multi_member_gzip_body_is_read_whole(ws: Workspace) -> None:
    half = len(TWENTY) // 2
    body = gzip.compress(TWENTY[:half]) + gzip.compress(TWENTY[half:])  # what `cat a.gz b.gz` makes
    reports = poll_pair(ws, {"id": "odd", "url": ws.serve("/members", body, headers={"Content-Encoding": "gzip"})})
    assert (reports["odd"].state, reports["odd"].new) == ("ok", 20)


BLOCK_PAGE = "<!DOCTYPE html><html><head><title>Доступ ограничен</title></head><body>blocked</body></html>"


@pytest.mark.parametrize("bom, codec", [(codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"),
                                        (codecs.BOM_UTF16_BE, "utf-16-be")], ids=["utf8", "utf16le", "utf16be"])
def test_html_block_page_with_a_byte_order_mark_is_blocked(ws: Workspace, bom: bytes, codec: str) -> None:
    url = ws.serve("/bom-page", bom + BLOCK_PAGE.encode(codec), content_type="text/html")
    reports = poll_pair(ws, {"id": "bad", "url": url})
    assert_refused(ws, reports, "blocked", "HTML page instead of a feed", "Доступ ограничен")


_HTTPX_ERRORS = [httpx.ReadError, httpx.WriteError, httpx.CloseError, httpx.ConnectError, httpx.NetworkError,
                 httpx.RemoteProtocolError, httpx.LocalProtocolError, httpx.ProtocolError, httpx.ProxyError,
                 httpx.UnsupportedProtocol, httpx.ReadTimeout, httpx.WriteTimeout, httpx.ConnectTimeout,
                 httpx.PoolTimeout, httpx.TimeoutException, httpx.DecodingError, httpx.TooManyRedirects,
                 httpx.TransportError, httpx.RequestError]


@pytest.mark.parametrize("error", _HTTPX_ERRORS, ids=lambda e: e.__name__)
def test_no_httpx_error_reads_as_an_empty_message(error: type[httpx.RequestError]) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise error("", request=request)

    async def go() -> None:
        async with Fetcher(transport=httpx.MockTransport(handler)) as fetcher:
            await fetcher.get("https://feeds.example.org/rss")

    with pytest.raises(FetchFailed) as caught:
        asyncio.run(go())
    message = str(caught.value)
    assert message.strip() and not re.search(r":\s*(\)|$)", message), message
    assert message.strip() not in (error.__name__, f"{error.__name__}:"), message

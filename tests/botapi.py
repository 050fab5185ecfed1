"""A loopback fake of the Telegram Bot API, for tests that must not touch the internet.

    with FakeBotApi(token="123:abc") as api:
        bot = telegram.Bot("123:abc", base_url=api.base_url)   # PTB appends the token
        app = ApplicationBuilder().token("123:abc").base_url(api.base_url).build()

Like `watcher.demo.replay.ReplayServer` it is a stdlib `ThreadingHTTPServer` in a daemon thread
(poll_interval=0.05 so it stops fast). It serves GET and POST `/bot<token>/<method>`.

Real-shaped (PTB de-serialises these, and the errors map to the same PTB exceptions as Telegram's):
- envelopes `{"ok":true,"result":...}` / `{"ok":false,"error_code":N,"description":...[,"parameters":{...}]}`;
  wrong token -> 401 "Unauthorized"; unknown method -> 404 "Not Found" (method names are
  case-insensitive, as in Telegram);
- request bodies in every form clients send: application/x-www-form-urlencoded and multipart/form-data
  (what PTB's HTTPXRequest posts: each value JSON-encoded except plain strings, so `reply_markup`
  arrives as a JSON string), application/json, and the query string;
- User, Chat, Message, Update, CallbackQuery, BotCommand, WebhookInfo objects with their required fields;
  message ids increase per chat (pushed user messages and bot messages share the counter);
- limits: text over 4096 characters (counted after HTML parsing, as Telegram does) -> 400 "Bad Request:
  message is too long"; empty text -> 400 "Bad Request: message text is empty"; malformed HTML
  (unsupported tag, unbalanced tags, broken tag syntax) -> 400 "Bad Request: can't parse entities: ...";
  callback_data over 64 bytes -> 400 "Bad Request: BUTTON_DATA_INVALID"; a reply to a missing message ->
  400 "Bad Request: message to be replied not found"; editing/deleting a missing message, an edit that
  changes nothing, answering an unknown or already answered callback query -> Telegram's 400 texts;
- flood control on sendMessage: > 1 message/s to the same private chat (positive id), or > 20 messages in
  any 60 s window to the same group/channel (negative id) -> 429 "Too Many Requests: retry after N" with
  parameters.retry_after = N, the whole seconds until a slot frees (at least 1). Only accepted messages
  count. `api.strict_rate = False` turns it off; the clock is injectable (`clock=`, default
  time.monotonic) so tests can move time instead of sleeping.

Simplified (not like Telegram):
- chat type comes from the id alone: -100... -> "channel", other negative -> "group", positive ->
  "private" (override per chat with `api.chat_types[chat_id] = "supergroup"`). "@username" chat ids are
  accepted and mapped to invented channel ids (`api.usernames`); Telegram would need a real channel.
- no overall 30 msg/s limit; edits are not rate-limited; long messages don't hit limits sooner.
- the length limit counts Python characters (code points), not UTF-16 units; MarkdownV2/Markdown text
  is not validated; HTML entities (`&...;`) are not validated; `entities` are never returned for sent
  messages (pushed messages do carry bot_command entities, with UTF-16 offsets).
- only the methods below exist; files (multipart parts with a filename) are parsed but nothing sends them.
- getUpdates waits at most `max_poll_wait` (1 s) however large `timeout` is, so polling tests stay
  fast; allowed_updates is remembered between calls and filters (and drops) queued updates.
- `delay_next` applies the request at once and holds only the answer (the "Telegram did it but the
  client timed out" case); `fail_next` answers before applying anything; `drop_next` applies the
  request and then closes the connection without answering (httpx: RemoteProtocolError "Server
  disconnected without sending a response"), or with `reset=True` resets it (httpx: ReadError).
- `FakeBotApi(listening=False)` holds its port but refuses connections (the Bot API is down, e.g.
  unreachable at `watcher run`'s start) until `api.come_up()`.

Methods: getMe, sendMessage, editMessageText, editMessageReplyMarkup, deleteMessage, answerCallbackQuery,
setMyCommands, getMyCommands, deleteMyCommands, getUpdates, deleteWebhook, setWebhook, getWebhookInfo,
getChat, getChatMember, sendChatAction, close, logOut.

getChatMember of the bot itself answers `api.member_status[chat_id]` (a status: "creator",
"administrator", "member", "restricted", "left", "kicked"; or a dict with "status" and the rights to
override, e.g. {"status": "administrator", "can_post_messages": False}); by default the bot is an
administrator with every right in groups and channels (so it may post, as sendMessage assumes) and a
member of private chats. Any other user is a plain member.
"""

from __future__ import annotations

import itertools
import json
import math
import re
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Callable
from email import policy
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qsl, urlsplit

MAX_TEXT_LENGTH = 4096
GROUP_PER_MINUTE = 20
PRIVATE_INTERVAL = 1.0
BOT_USERNAME = "watcher_test_bot"

# Values that stay strings even when they look like JSON ("123", "true", "[x]").
_STRING_FIELDS = {"text", "parse_mode", "callback_query_id", "url", "inline_message_id", "caption",
                  "description", "short_description", "name", "language_code", "action", "secret_token",
                  "ip_address", "business_connection_id", "message_effect_id", "data"}

_HTML_TAGS = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "pre", "blockquote",
              "tg-spoiler", "span", "tg-emoji"}
_TAG_RE = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9-]*)((?:\s+[A-Za-z][A-Za-z0-9_-]*"
                     r"(?:\s*=\s*(?:\"[^\"]*\"|'[^']*'|[^\s\"'>]+))?)*)\s*(/?)>")
_ATTR_RE = re.compile(r"([A-Za-z][A-Za-z0-9_-]*)(?:\s*=\s*(?:\"([^\"]*)\"|'([^']*)'|([^\s\"'>]+)))?")
_ENTITY_RE = re.compile(r"&(#\d+|#x[0-9a-fA-F]+|lt|gt|amp|quot);")
_COMMAND_RE = re.compile(r"(?<![\w/])/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,})?")


class ApiError(Exception):
    """Raised inside a method handler; becomes an error envelope."""

    def __init__(self, status: int, description: str, retry_after: int | None = None):
        super().__init__(description)
        self.status, self.description, self.retry_after = status, description, retry_after


def bad_request(what: str) -> ApiError:
    return ApiError(400, f"Bad Request: {what}")


def html_to_text(text: str) -> str:
    """The visible text of Telegram-HTML, or ApiError 400 "can't parse entities" if it is malformed."""
    out: list[str] = []
    stack: list[tuple[str, int]] = []
    i = 0
    while i < len(text):
        lt = text.find("<", i)
        if lt < 0:
            out.append(text[i:])
            break
        out.append(text[i:lt])
        offset = len(text[:lt].encode())
        m = _TAG_RE.match(text, lt)
        if m is None:
            raise bad_request(f"can't parse entities: Unexpected end of name token at byte offset {offset}"
                              if text[lt + 1:lt + 2].strip() == "" or text[lt + 1:lt + 2] == "/" else
                              f"can't parse entities: Unclosed start tag at byte offset {offset}")
        closing, name, attrs, selfclose = m.group(1), m.group(2).lower(), m.group(3), m.group(4)
        if closing:
            if not stack:
                raise bad_request(f"can't parse entities: Unexpected end tag at byte offset {offset}")
            if stack[-1][0] != name:
                raise bad_request(f"can't parse entities: Can't find end tag corresponding to start tag "
                                  f"\"{stack[-1][0]}\"")
            stack.pop()
        else:
            if name not in _HTML_TAGS or selfclose:
                raise bad_request(f"can't parse entities: Unsupported start tag \"{name}\" at byte offset {offset}")
            values = {a.group(1).lower(): next((v for v in a.groups()[1:] if v is not None), "")
                      for a in _ATTR_RE.finditer(attrs)}
            if name == "span" and values.get("class") != "tg-spoiler":
                raise bad_request(f"can't parse entities: Unsupported start tag \"span\" at byte offset {offset}")
            if name == "a" and "href" in values and not values["href"].strip():
                raise bad_request("can't parse entities: Empty URL in a link")
            stack.append((name, offset))
        i = m.end()
    if stack:
        raise bad_request(f"can't parse entities: Can't find end tag corresponding to start tag \"{stack[-1][0]}\"")

    def unescape(m: re.Match[str]) -> str:
        ref = m.group(1)
        if ref.startswith("#x"):
            return chr(int("0" + ref[1:], 0))
        if ref.startswith("#"):
            return chr(int(ref[1:]))
        return {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}[ref]

    return _ENTITY_RE.sub(unescape, "".join(out))


def _utf16_len(s: str) -> int:
    return len(s.encode("utf-16-le")) // 2


def _decode_value(name: str, value: Any) -> Any:
    if not isinstance(value, str) or name in _STRING_FIELDS:
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def _member_defaults(status: str, chat_type: str) -> dict[str, Any]:
    """The fields Telegram's ChatMember of `status` carries (PTB needs every required one), all rights on."""
    if status == "administrator":
        rights = dict.fromkeys(("can_manage_chat", "can_delete_messages", "can_manage_video_chats",
                                "can_restrict_members", "can_change_info", "can_invite_users", "can_post_stories",
                                "can_edit_stories", "can_delete_stories"), True)
        rights.update(can_be_edited=False, is_anonymous=False, can_promote_members=False)
        if chat_type == "channel":
            rights.update(can_post_messages=True, can_edit_messages=True)
        else:
            rights.update(can_pin_messages=True)
        return rights
    if status == "restricted":
        rights = dict.fromkeys(("is_member", "can_change_info", "can_invite_users", "can_pin_messages",
                                "can_send_messages", "can_send_polls", "can_send_other_messages",
                                "can_add_web_page_previews", "can_manage_topics", "can_send_audios",
                                "can_send_documents", "can_send_photos", "can_send_videos", "can_send_video_notes",
                                "can_send_voice_notes", "can_edit_tag", "can_react_to_messages"), True)
        return {**rights, "until_date": 0}
    if status == "creator":
        return {"is_anonymous": False}
    if status == "kicked":
        return {"until_date": 0}
    return {}


def parse_body(content_type: str, body: bytes, query: str = "") -> dict[str, Any]:
    """Request parameters from the query string and a urlencoded, multipart or JSON body.

    Form values are JSON-decoded (PTB JSON-encodes everything but plain strings) except known text
    fields. Multipart parts with a filename become {"filename", "content_type", "content"}."""
    params: dict[str, Any] = {k: _decode_value(k, v) for k, v in parse_qsl(query, keep_blank_values=True)}
    ctype = content_type.split(";", 1)[0].strip().lower()
    if not body:
        return params
    if ctype == "application/json":
        data = json.loads(body.decode("utf-8"))
        if isinstance(data, dict):
            params.update(data)
    elif ctype == "multipart/form-data":
        msg = BytesParser(policy=policy.HTTP).parsebytes(
            b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body)
        for part in msg.iter_parts():
            name = part.get_param("name", header="content-disposition")
            if not name:
                continue
            payload = part.get_payload(decode=True) or b""
            filename = part.get_filename()
            if filename is not None:
                params[name] = {"filename": filename, "content_type": part.get_content_type(), "content": payload}
            else:
                charset = part.get_content_charset() or "utf-8"
                params[name] = _decode_value(name, payload.decode(charset, "replace"))
    else:  # application/x-www-form-urlencoded (also the guess when no type is given)
        for k, v in parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True):
            params[k] = _decode_value(k, v)
    return params


class _Server(ThreadingHTTPServer):
    """The HTTP server, able to end a connection with a reset: the stdlib's usual end sends FIN
    (shutdown) first, which a client reads as a clean end of stream before the reset arrives."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.reset: set[socket.socket] = set()

    def shutdown_request(self, request: Any) -> None:
        if request in self.reset:
            self.reset.discard(request)
            request.close()
            return
        super().shutdown_request(request)


class FakeBotApi:
    """`with FakeBotApi(token="123:abc") as api:` serves the Bot API on 127.0.0.1:<api.port>.

    Test helpers: `sent`, `messages(chat_id)`, `edits`, `deleted`, `push_message`, `push_callback`,
    `callback_answers`, `commands`, `requests`, `counts`, `errors`, `fail_next`, `delay_next`,
    `drop_next`, `dropped`, `come_up`, `strict_rate`, `chat_types`, `member_status`."""

    def __init__(self, token: str = "123:abc", *, port: int = 0, clock: Callable[[], float] = time.monotonic,
                 bot_id: int | None = None, max_poll_wait: float = 1.0, listening: bool = True):
        self.token = token
        self.listening = listening
        self.clock = clock
        self.max_poll_wait = max_poll_wait
        self.strict_rate = True
        head = token.split(":", 1)[0]
        self.bot_user: dict[str, Any] = {
            "id": bot_id if bot_id is not None else (int(head) if head.isdigit() else 123),
            "is_bot": True, "first_name": "Watcher Test", "username": BOT_USERNAME,
            "can_join_groups": True, "can_read_all_group_messages": False, "supports_inline_queries": False,
            "can_connect_to_business": False, "has_main_web_app": False,
        }
        # Records (read them in tests; mutate under `lock` if at all).
        self.sent: list[dict[str, Any]] = []  # sendMessage log; entries follow later edits/deletes
        self.edits: list[dict[str, Any]] = []
        self.deleted: list[tuple[int | str, int]] = []
        self.callback_answers: list[dict[str, Any]] = []
        self.requests: list[tuple[str, dict[str, Any]]] = []  # (method, params) of every routed call
        self.counts: dict[str, int] = {}
        self.errors: list[dict[str, Any]] = []  # every error answer: method, status, description, retry_after
        self.dropped: list[dict[str, Any]] = []  # every call applied but left unanswered: method, reset, at
        self.commands: dict[str, list[dict[str, Any]]] = {}  # scope/language key -> BotCommand list
        self.chat_types: dict[int, str] = {}
        self.member_status: dict[int, str | dict[str, Any]] = {}  # chat id -> the bot's status (getChatMember)
        self.usernames: dict[str, int] = {}
        self.webhook_url = ""
        self.lock = threading.RLock()
        self._updates_cv = threading.Condition(self.lock)
        self._updates: list[dict[str, Any]] = []
        self._update_ids = itertools.count(1)
        self._allowed_updates: list[str] = []
        self._next_message_id: dict[int, int] = {}
        self._messages: dict[tuple[int, int], dict[str, Any]] = {}  # (chat id, message id) -> Message
        self._records: dict[tuple[int, int], dict[str, Any]] = {}  # (chat id, message id) -> sent entry
        self._users: dict[int, dict[str, Any]] = {}
        self._open_callbacks: dict[str, dict[str, Any]] = {}
        self._callback_ids = itertools.count(1)
        self._rate: dict[int, deque[float]] = {}
        self._faults: list[dict[str, Any]] = []
        self._delays: list[dict[str, Any]] = []
        self._drops: list[dict[str, Any]] = []
        self._stopping = threading.Event()
        self._methods: dict[str, Callable[[dict[str, Any]], Any]] = {
            name.lower(): getattr(self, "_m_" + name) for name in (
                "getMe", "sendMessage", "editMessageText", "editMessageReplyMarkup", "deleteMessage",
                "answerCallbackQuery", "setMyCommands", "getMyCommands", "deleteMyCommands", "getUpdates",
                "deleteWebhook", "setWebhook", "getWebhookInfo", "getChat", "getChatMember", "sendChatAction", "close",
                "logOut")
        }
        self._canonical = {name.lower(): name for name in (m.__name__[3:] for m in self._methods.values())}
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out in two writes; avoid 40 ms stalls

            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                api._serve(self)

            def do_POST(self) -> None:
                api._serve(self)

        # Bound at once (the port is known and held), listening only once up: until then a
        # connection is refused, as by a host where nothing serves the Bot API.
        self._httpd = _Server(("127.0.0.1", port), Handler, bind_and_activate=False)
        self._httpd.daemon_threads = True
        try:
            self._httpd.server_bind()
        except OSError:
            self._httpd.server_close()
            raise
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    # ----------------------------------------------------------------- lifecycle
    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        """What to give PTB's `base_url`; PTB appends the token."""
        return f"http://127.0.0.1:{self.port}/bot"

    def url(self, method: str) -> str:
        return f"{self.base_url}{self.token}/{method}"

    def start(self) -> Self:
        if self.listening:
            self._serve_forever()
        return self

    def come_up(self) -> None:
        """Start accepting connections (for a server made with `listening=False`)."""
        self.listening = True
        if not self._thread.is_alive():
            self._serve_forever()

    def _serve_forever(self) -> None:
        self._httpd.server_activate()
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        with self._updates_cv:
            self._updates_cv.notify_all()
        if self._thread.is_alive():
            self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ----------------------------------------------------------------- test helpers
    def messages(self, chat_id: int | str) -> list[dict[str, Any]]:
        """The bot's messages in a chat still present (not deleted), as `sent` entries, oldest first."""
        cid = self._resolve_chat(chat_id)
        with self.lock:
            return [r for r in self.sent if r["chat_id"] == cid and not r.get("deleted")]

    def fail_next(self, method: str, status: int, description: str | None = None, retry_after: int | None = None,
                  times: int = 1, without_parameters: bool = False, body: bytes | None = None) -> None:
        """The next `times` calls of `method` ("*" = any) answer `status` with an error envelope.

        With `retry_after`, the envelope carries parameters.retry_after unless `without_parameters`
        (then the wait is only in the description). `body` replaces the envelope with raw bytes
        (e.g. an nginx HTML page for a 502). Default descriptions follow Telegram's wording."""
        if description is None:
            description = {
                429: f"Too Many Requests: retry after {retry_after if retry_after is not None else 5}",
                400: "Bad Request", 401: "Unauthorized", 403: "Forbidden: bot was blocked by the user",
                404: "Not Found", 409: "Conflict", 500: "Internal Server Error", 502: "Bad Gateway",
            }.get(status, f"Error {status}")
        with self.lock:
            self._faults.append({"method": method.lower(), "status": status, "description": description,
                                 "retry_after": None if without_parameters else retry_after, "left": times,
                                 "body": body})

    def delay_next(self, method: str, seconds: float, times: int = 1) -> None:
        """The next `times` calls of `method` ("*" = any) are applied at once but answered `seconds` later."""
        with self.lock:
            self._delays.append({"method": method.lower(), "seconds": seconds, "left": times})

    def drop_next(self, method: str, times: int = 1, *, reset: bool = False) -> None:
        """The next `times` calls of `method` ("*" = any) are applied, then the connection is closed
        without an answer: Telegram took the message but the answer was lost on the way back.

        `reset=True` sends a TCP reset instead of a clean close (the client's read fails with
        ECONNRESET rather than seeing the end of the stream)."""
        with self.lock:
            self._drops.append({"method": method.lower(), "left": times, "reset": reset})

    def push_message(self, user_id: int, chat_id: int | None = None, text: str = "", *,
                     username: str | None = None, first_name: str | None = None) -> dict[str, Any]:
        """Queue an Update with a text Message from a user (chat defaults to the private chat with them).

        /commands carry bot_command entities. In a channel the Update is a channel_post (no `from`)."""
        cid = self._resolve_chat(user_id if chat_id is None else chat_id)
        user = self._user(user_id, username, first_name)
        with self.lock:
            message: dict[str, Any] = {"message_id": self._new_message_id(cid), "date": int(time.time()),
                                       "chat": self._chat(cid), "text": text}
            entities = [{"type": "bot_command", "offset": _utf16_len(text[:m.start()]),
                         "length": _utf16_len(m.group())} for m in _COMMAND_RE.finditer(text)]
            if entities:
                message["entities"] = entities
            kind = "message"
            if message["chat"]["type"] == "channel":
                kind = "channel_post"
                message["sender_chat"] = message["chat"]
            else:
                message["from"] = user
            self._messages[(cid, message["message_id"])] = message
            return self._queue({kind: message})

    def push_callback(self, user_id: int, message_id: int, chat_id: int | str, data: str, *,
                      username: str | None = None) -> dict[str, Any]:
        """Queue an Update with a CallbackQuery (a button press) on a message the bot sent earlier."""
        cid = self._resolve_chat(chat_id)
        user = self._user(user_id, username, None)
        with self.lock:
            message = self._messages.get((cid, message_id))
            if message is None:
                raise KeyError(f"no message {message_id} in chat {cid}")
            query = {"id": str(next(self._callback_ids) * 1000003 + 400000000000), "from": user,
                     "message": json.loads(json.dumps(message)), "chat_instance": str(abs(cid) * 7 + 1), "data": data}
            self._open_callbacks[query["id"]] = query
            return self._queue({"callback_query": query})

    def push_update(self, update: dict[str, Any]) -> dict[str, Any]:
        """Queue any Update body (without update_id); returns it with its id."""
        with self.lock:
            return self._queue(dict(update))

    @property
    def pending_updates(self) -> list[dict[str, Any]]:
        with self.lock:
            return list(self._updates)

    # ----------------------------------------------------------------- internals
    def _queue(self, body: dict[str, Any]) -> dict[str, Any]:
        update = {"update_id": next(self._update_ids), **body}
        self._updates.append(update)
        self._updates_cv.notify_all()
        return update

    def _user(self, user_id: int, username: str | None, first_name: str | None) -> dict[str, Any]:
        with self.lock:
            user = self._users.setdefault(user_id, {"id": user_id, "is_bot": False, "first_name": f"User{user_id}",
                                                    "language_code": "en"})
            if username:
                user["username"] = username
            if first_name:
                user["first_name"] = first_name
            return dict(user)

    def _resolve_chat(self, chat_id: Any) -> int:
        if isinstance(chat_id, bool):
            raise bad_request("chat not found")
        if isinstance(chat_id, int):
            return chat_id
        if isinstance(chat_id, float) and chat_id.is_integer():
            return int(chat_id)
        if isinstance(chat_id, str):
            s = chat_id.strip()
            if re.fullmatch(r"-?\d+", s):
                return int(s)
            if re.fullmatch(r"@[A-Za-z][A-Za-z0-9_]{3,31}", s):
                with self.lock:
                    return self.usernames.setdefault(s.lower(), -1009000000000 - len(self.usernames))
            if not s:
                raise bad_request("chat_id is empty")
        raise bad_request("chat not found")

    def _chat_type(self, cid: int) -> str:
        if cid in self.chat_types:
            return self.chat_types[cid]
        if cid < 0:
            return "channel" if str(cid).startswith("-100") else "group"
        return "private"

    def _chat(self, cid: int) -> dict[str, Any]:
        kind = self._chat_type(cid)
        chat: dict[str, Any] = {"id": cid, "type": kind}
        if kind == "private":
            user = self._users.get(cid, {"first_name": f"User{cid}"})
            chat["first_name"] = user["first_name"]
            if "username" in user:
                chat["username"] = user["username"]
        else:
            chat["title"] = f"Test {kind} {cid}"
            names = [n for n, i in self.usernames.items() if i == cid]
            if names:
                chat["username"] = names[0][1:]
        return chat

    def _new_message_id(self, cid: int) -> int:
        self._next_message_id[cid] = self._next_message_id.get(cid, 0) + 1
        return self._next_message_id[cid]

    def _take(self, queue: list[dict[str, Any]], method: str) -> dict[str, Any] | None:
        with self.lock:
            for entry in queue:
                if entry["method"] in (method, "*") and entry["left"] > 0:
                    entry["left"] -= 1
                    if entry["left"] == 0:
                        queue.remove(entry)
                    return entry
        return None

    def _serve(self, request: BaseHTTPRequestHandler) -> None:
        split = urlsplit(request.path)
        length = int(request.headers.get("Content-Length") or 0)
        body = request.rfile.read(length) if length else b""
        m = re.fullmatch(r"/bot([^/]*)/([A-Za-z_]+)/?", split.path)
        if m is None:
            self._error(request, "", 404, "Not Found")
            return
        token, method = m.group(1), m.group(2)
        name = self._canonical.get(method.lower(), method)
        with self.lock:
            self.counts[name] = self.counts.get(name, 0) + 1
        if token != self.token:
            self._error(request, name, 401, "Unauthorized")
            return
        handler = self._methods.get(method.lower())
        if handler is None:
            self._error(request, name, 404, "Not Found")
            return
        try:
            params = parse_body(request.headers.get("Content-Type", ""), body, split.query)
        except (ValueError, UnicodeDecodeError):
            self._error(request, name, 400, "Bad Request: can't parse request body")
            return
        with self.lock:
            self.requests.append((name, params))
        fault = self._take(self._faults, method.lower())
        if fault is not None:
            self._error(request, name, fault["status"], fault["description"], fault["retry_after"],
                        raw=fault["body"], injected=True)
            return
        try:
            result = handler(params)
        except ApiError as err:
            self._error(request, name, err.status, err.description, err.retry_after)
            return
        drop = self._take(self._drops, method.lower())
        if drop is not None:
            with self.lock:
                self.dropped.append({"method": name, "reset": drop["reset"], "at": self.clock()})
            self._hang_up(request, reset=drop["reset"])
            return
        delay = self._take(self._delays, method.lower())
        if delay is not None:
            self._stopping.wait(delay["seconds"])
        self._send(request, 200, {"ok": True, "result": result})

    def _hang_up(self, request: BaseHTTPRequestHandler, *, reset: bool) -> None:
        """Close the connection without writing a byte of the answer (a reset if `reset`)."""
        request.close_connection = True
        if reset:
            try:  # SO_LINGER with a zero timeout: close() sends RST instead of FIN
                request.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            except OSError:
                return
            self._httpd.reset.add(request.connection)

    def _error(self, request: BaseHTTPRequestHandler, method: str, status: int, description: str,
               retry_after: int | None = None, raw: bytes | None = None, injected: bool = False) -> None:
        envelope: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
        if retry_after is not None:
            envelope["parameters"] = {"retry_after": retry_after}
        with self.lock:
            self.errors.append({"method": method, "status": status, "description": description,
                                "retry_after": retry_after, "injected": injected, "at": self.clock()})
        if raw is not None:
            self._send_bytes(request, status, raw, "text/html")
        else:
            self._send(request, status, envelope)

    def _send(self, request: BaseHTTPRequestHandler, status: int, payload: Any) -> None:
        self._send_bytes(request, status, json.dumps(payload, ensure_ascii=False).encode(), "application/json")

    @staticmethod
    def _send_bytes(request: BaseHTTPRequestHandler, status: int, body: bytes, ctype: str) -> None:
        try:
            request.send_response(status)
            request.send_header("Content-Type", ctype)
            request.send_header("Content-Length", str(len(body)))
            request.end_headers()
            request.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError, ValueError, OSError):
            pass

    # ----------------------------------------------------------------- checks
    def _text(self, params: dict[str, Any]) -> str:
        text = params.get("text")
        if text is None or str(text) == "":
            raise bad_request("message text is empty")
        text = str(text)
        mode = str(params.get("parse_mode") or "").lower()
        visible = html_to_text(text) if mode == "html" else text
        if not visible.strip():
            raise bad_request("message text is empty")
        if len(visible) > MAX_TEXT_LENGTH:
            raise bad_request("message is too long")
        return text

    @staticmethod
    def _markup(params: dict[str, Any]) -> Any:
        markup = params.get("reply_markup")
        if isinstance(markup, str) and markup:
            try:
                markup = json.loads(markup)
            except ValueError:
                raise bad_request("can't parse reply keyboard markup JSON object") from None
        if markup is None or markup == "":
            return None
        if not isinstance(markup, dict):
            raise bad_request("can't parse reply keyboard markup JSON object")
        for row in markup.get("inline_keyboard", []):
            for button in row:
                if not isinstance(button, dict) or not button.get("text"):
                    raise bad_request("BUTTON_TEXT_INVALID" if isinstance(button, dict) else
                                      "can't parse inline keyboard button")
                data = button.get("callback_data")
                if data is not None and not 1 <= len(str(data).encode()) <= 64:
                    raise bad_request("BUTTON_DATA_INVALID")
        return markup

    def _check_rate(self, cid: int) -> None:
        if not self.strict_rate:
            return
        now = self.clock()
        window, limit = (60.0, GROUP_PER_MINUTE) if cid < 0 else (PRIVATE_INTERVAL, 1)
        times = self._rate.setdefault(cid, deque())
        while times and times[0] <= now - window:
            times.popleft()
        if len(times) >= limit:
            wait = max(1, math.ceil(times[0] + window - now))
            raise ApiError(429, f"Too Many Requests: retry after {wait}", retry_after=wait)

    def _message(self, params: dict[str, Any], what: str) -> tuple[int, int, dict[str, Any]]:
        if "inline_message_id" in params:
            raise bad_request("inline messages are not supported by the fake")
        if params.get("chat_id") in (None, ""):
            raise bad_request("chat_id is empty")
        cid = self._resolve_chat(params["chat_id"])
        try:
            mid = int(params.get("message_id"))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise bad_request("message identifier is not specified") from None
        message = self._messages.get((cid, mid))
        if message is None:
            raise bad_request(f"message to {what} not found")
        return cid, mid, message

    # ----------------------------------------------------------------- methods
    def _m_getMe(self, params: dict[str, Any]) -> Any:
        return dict(self.bot_user)

    def _m_sendMessage(self, params: dict[str, Any]) -> Any:
        if params.get("chat_id") in (None, ""):
            raise bad_request("chat_id is empty")
        cid = self._resolve_chat(params["chat_id"])
        text = self._text(params)
        markup = self._markup(params)
        with self.lock:
            reply_to = params.get("reply_to_message_id")
            allow_missing = bool(params.get("allow_sending_without_reply"))
            reply = params.get("reply_parameters")
            if isinstance(reply, dict):
                reply_to = reply.get("message_id")
                allow_missing = bool(reply.get("allow_sending_without_reply"))
            replied = None
            if reply_to is not None:
                replied = self._messages.get((cid, int(reply_to)))
                if replied is None and not allow_missing:
                    raise bad_request("message to be replied not found")
            self._check_rate(cid)
            self._rate.setdefault(cid, deque()).append(self.clock())
            mid = self._new_message_id(cid)
            chat = self._chat(cid)
            message: dict[str, Any] = {"message_id": mid, "date": int(time.time()), "chat": chat, "text": text}
            if chat["type"] == "channel":
                message["sender_chat"] = chat
            else:
                message["from"] = {k: self.bot_user[k] for k in ("id", "is_bot", "first_name", "username")}
            if replied is not None:
                message["reply_to_message"] = {k: v for k, v in replied.items() if k != "reply_to_message"}
            if markup and "inline_keyboard" in markup:
                message["reply_markup"] = markup
            self._messages[(cid, mid)] = message
            record = {"chat_id": cid, "text": text, "parse_mode": params.get("parse_mode"), "reply_markup": markup,
                      "message_id": mid, "at": self.clock(), "params": params}
            self.sent.append(record)
            self._records[(cid, mid)] = record
            return message

    def _m_editMessageText(self, params: dict[str, Any]) -> Any:
        text = self._text(params)
        markup = self._markup(params)
        with self.lock:
            cid, mid, message = self._message(params, "edit")
            new_markup = markup if markup and "inline_keyboard" in markup else None
            if message.get("text") == text and message.get("reply_markup") == new_markup:
                raise bad_request("message is not modified: specified new message content and reply markup are "
                                  "exactly the same as a content and reply markup of the current message")
            message["text"] = text
            message["edit_date"] = int(time.time())
            if new_markup is None:
                message.pop("reply_markup", None)
            else:
                message["reply_markup"] = new_markup
            record = self._records.get((cid, mid))
            if record is not None:
                record.update(text=text, parse_mode=params.get("parse_mode"), reply_markup=markup, edited=True)
            self.edits.append({"method": "editMessageText", "chat_id": cid, "message_id": mid, "text": text,
                               "parse_mode": params.get("parse_mode"), "reply_markup": markup, "at": self.clock()})
            return dict(message)

    def _m_editMessageReplyMarkup(self, params: dict[str, Any]) -> Any:
        markup = self._markup(params)
        with self.lock:
            cid, mid, message = self._message(params, "edit")
            new_markup = markup if markup and "inline_keyboard" in markup else None
            if message.get("reply_markup") == new_markup:
                raise bad_request("message is not modified: specified new message content and reply markup are "
                                  "exactly the same as a content and reply markup of the current message")
            if new_markup is None:
                message.pop("reply_markup", None)
            else:
                message["reply_markup"] = new_markup
            message["edit_date"] = int(time.time())
            record = self._records.get((cid, mid))
            if record is not None:
                record.update(reply_markup=markup, edited=True)
            self.edits.append({"method": "editMessageReplyMarkup", "chat_id": cid, "message_id": mid,
                               "reply_markup": markup, "at": self.clock()})
            return dict(message)

    def _m_deleteMessage(self, params: dict[str, Any]) -> Any:
        with self.lock:
            cid, mid, _ = self._message(params, "delete")
            del self._messages[(cid, mid)]
            record = self._records.get((cid, mid))
            if record is not None:
                record["deleted"] = True
            self.deleted.append((cid, mid))
            return True

    def _m_answerCallbackQuery(self, params: dict[str, Any]) -> Any:
        qid = str(params.get("callback_query_id") or "")
        with self.lock:
            if self._open_callbacks.pop(qid, None) is None:
                raise bad_request("query is too old and response timeout expired or query ID is invalid")
            text = params.get("text")
            if text is not None and len(str(text)) > 200:
                raise bad_request("MESSAGE_TOO_LONG")
            self.callback_answers.append({"callback_query_id": qid, "text": text,
                                          "show_alert": bool(params.get("show_alert", False)),
                                          "url": params.get("url"), "cache_time": params.get("cache_time"),
                                          "at": self.clock()})
            return True

    @staticmethod
    def _commands_key(params: dict[str, Any]) -> str:
        scope = params.get("scope") or {"type": "default"}
        return json.dumps([scope, params.get("language_code") or ""], sort_keys=True)

    def _m_setMyCommands(self, params: dict[str, Any]) -> Any:
        commands = params.get("commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise bad_request("can't parse commands JSON object" if not isinstance(commands, list)
                              else "too many commands")
        for cmd in commands:
            if not (isinstance(cmd, dict) and re.fullmatch(r"[a-z0-9_]{1,32}", str(cmd.get("command", "")))):
                raise bad_request("BOT_COMMAND_INVALID")
            if not 1 <= len(str(cmd.get("description", ""))) <= 256:
                raise bad_request("BOT_COMMAND_DESCRIPTION_INVALID" if cmd.get("description") else
                                  "command description is empty")
        with self.lock:
            self.commands[self._commands_key(params)] = [{"command": c["command"], "description": c["description"]}
                                                         for c in commands]
        return True

    def _m_getMyCommands(self, params: dict[str, Any]) -> Any:
        with self.lock:
            return list(self.commands.get(self._commands_key(params), []))

    def _m_deleteMyCommands(self, params: dict[str, Any]) -> Any:
        with self.lock:
            self.commands.pop(self._commands_key(params), None)
        return True

    def _m_getUpdates(self, params: dict[str, Any]) -> Any:
        if self.webhook_url:
            raise ApiError(409, "Conflict: can't use getUpdates method while webhook is active; "
                                "use deleteWebhook to delete the webhook first")
        offset = int(params.get("offset") or 0)
        limit = max(1, min(100, int(params.get("limit") or 100)))
        timeout = float(params.get("timeout") or 0)
        allowed = params.get("allowed_updates")
        deadline = time.monotonic() + min(max(timeout, 0.0), self.max_poll_wait)
        with self._updates_cv:
            if isinstance(allowed, list):
                self._allowed_updates = [str(a) for a in allowed]
            while True:
                if offset > 0:  # confirms everything before `offset`
                    self._updates = [u for u in self._updates if u["update_id"] >= offset]
                if self._allowed_updates:
                    self._updates = [u for u in self._updates
                                     if any(k in self._allowed_updates for k in u if k != "update_id")]
                ready = self._updates[offset:] if offset < 0 else self._updates
                ready = ready[:limit]
                left = deadline - time.monotonic()
                if ready or left <= 0 or self._stopping.is_set():
                    return json.loads(json.dumps(ready))
                self._updates_cv.wait(left)

    def _m_deleteWebhook(self, params: dict[str, Any]) -> Any:
        with self.lock:
            self.webhook_url = ""
            if params.get("drop_pending_updates"):
                self._updates.clear()
        return True

    def _m_setWebhook(self, params: dict[str, Any]) -> Any:
        with self.lock:
            self.webhook_url = str(params.get("url") or "")
            if params.get("drop_pending_updates"):
                self._updates.clear()
        return True

    def _m_getWebhookInfo(self, params: dict[str, Any]) -> Any:
        with self.lock:
            return {"url": self.webhook_url, "has_custom_certificate": False,
                    "pending_update_count": len(self._updates)}

    def _m_getChat(self, params: dict[str, Any]) -> Any:
        cid = self._resolve_chat(params.get("chat_id"))
        with self.lock:
            chat = self._chat(cid)
        chat.update(accent_color_id=0, max_reaction_count=11, accepted_gift_types={
            "unlimited_gifts": False, "limited_gifts": False, "unique_gifts": False, "premium_subscription": False,
            "gifts_from_channels": False})
        return chat

    def _m_getChatMember(self, params: dict[str, Any]) -> Any:
        cid = self._resolve_chat(params.get("chat_id"))
        try:
            user_id = int(params.get("user_id"))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise bad_request("invalid user_id specified") from None
        with self.lock:
            if user_id != self.bot_user["id"]:
                return {"status": "member", "user": self._user(user_id, None, None)}
            kind = self._chat_type(cid)
            wanted = self.member_status.get(cid, "member" if kind == "private" else "administrator")
            member = dict(wanted) if isinstance(wanted, dict) else {"status": wanted}
        user = {k: self.bot_user[k] for k in ("id", "is_bot", "first_name", "username")}
        return {**_member_defaults(str(member["status"]), kind), **member, "user": user}

    def _m_sendChatAction(self, params: dict[str, Any]) -> Any:
        self._resolve_chat(params.get("chat_id"))
        return True

    def _m_close(self, params: dict[str, Any]) -> Any:
        return True

    def _m_logOut(self, params: dict[str, Any]) -> Any:
        return True

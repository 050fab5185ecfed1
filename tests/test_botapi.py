"""Tests of the fake Telegram Bot API (tests/botapi.py), driven through python-telegram-bot 22.8.

Plain tests with asyncio.run (no pytest-asyncio). What PTB raises for each kind of error answer
(see telegram/request/_baserequest.py, BaseRequest._request_wrapper):
- 429 with parameters.retry_after  -> telegram.error.RetryAfter (retry_after is a timedelta or int).
- 429 WITHOUT parameters           -> plain telegram.error.NetworkError whose message is the description
                                      ("Too Many Requests: retry after 30"); not RetryAfter, so a client
                                      must parse the number out of the text itself.
- 500, 502 (JSON or raw HTML body) -> telegram.error.NetworkError (for a non-JSON body the message is
                                      "Bad Gateway (502). Parsing the server response ... failed").
- 400                              -> telegram.error.BadRequest; PTB drops the "Bad Request: " prefix and
                                      capitalises: str(err) == "Message is too long".
- 403                              -> telegram.error.Forbidden.
- 401 (wrong token)                -> telegram.error.InvalidToken.
- 404 unknown method               -> telegram.error.EndPointNotFound via Bot.do_api_request
                                      (InvalidToken if a built-in method got 404).
- slow answer beyond read_timeout  -> telegram.error.TimedOut (a NetworkError subclass).
"""

from __future__ import annotations

import asyncio
import datetime as dtm
import json

import httpx
import pytest
from botapi import FakeBotApi, html_to_text, parse_body
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import (
    BadRequest,
    EndPointNotFound,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TimedOut,
)
from telegram.ext import (
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
)

TOKEN = "123:abc"
CHANNEL = -1001234567890


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def run(api: FakeBotApi, body):  # body: async (Bot) -> result
    async def main():
        async with Bot(TOKEN, base_url=api.base_url) as bot:
            return await body(bot)
    return asyncio.run(main())


def seconds(value: int | dtm.timedelta) -> float:
    return value.total_seconds() if isinstance(value, dtm.timedelta) else float(value)


def test_get_me_and_urls():
    with FakeBotApi(token=TOKEN) as api:
        assert api.base_url == f"http://127.0.0.1:{api.port}/bot"
        me = run(api, lambda bot: bot.get_me())
        assert me.is_bot and me.username == "watcher_test_bot" and me.id == 123 and me.can_join_groups
        assert api.counts["getMe"] >= 1 and api.errors == []


def test_send_message_html_with_keyboard_is_recorded():
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("Mute", callback_data="mute:42"),
                                    InlineKeyboardButton("Open", url="https://example.org/a")]])
    with FakeBotApi(token=TOKEN) as api:
        async def body(bot: Bot):
            first = await bot.send_message(CHANNEL, "<b>Alert</b> &amp; <a href=\"https://x.org\">link</a>",
                                           parse_mode="HTML", reply_markup=markup)
            second = await bot.send_message(CHANNEL, "plain")
            private = await bot.send_message(42, "hi")
            return first, second, private
        first, second, private = run(api, body)
        assert (first.message_id, second.message_id, private.message_id) == (1, 2, 1)  # per chat
        assert first.chat.id == CHANNEL and first.chat.type == "channel" and private.chat.type == "private"
        assert first.reply_markup == markup and first.text.startswith("<b>Alert</b>")
        rec = api.sent[0]
        assert rec["chat_id"] == CHANNEL and rec["parse_mode"] == "HTML" and rec["message_id"] == 1
        assert rec["reply_markup"] == {"inline_keyboard": [[{"text": "Mute", "callback_data": "mute:42"},
                                                            {"text": "Open", "url": "https://example.org/a"}]]}
        assert [m["text"] for m in api.messages(CHANNEL)] == [rec["text"], "plain"]
        assert api.messages(42)[0]["text"] == "hi"


def test_message_too_long_and_bad_html_are_bad_requests():
    with FakeBotApi(token=TOKEN) as api:
        async def body(bot: Bot):
            with pytest.raises(BadRequest, match="(?i)message is too long"):
                await bot.send_message(CHANNEL, "x" * 4097)
            ok = await bot.send_message(CHANNEL, "<b>" + "x" * 4096 + "</b>", parse_mode="HTML")  # tags don't count
            for bad in ("<b>unclosed", "<b><i>x</b></i>", "<div>x</div>", "a < b", "x</b>", "<span>x</span>",
                        "<br/>"):
                with pytest.raises(BadRequest, match="(?i)can't parse entities"):
                    await bot.send_message(CHANNEL, bad, parse_mode="HTML")
            await bot.send_message(CHANNEL, "a < b")  # no parse_mode: not markup
            with pytest.raises(BadRequest, match="(?i)chat not found"):
                await bot.send_message("not a chat", "x")
            return ok
        assert run(api, body).message_id == 1
        assert len(api.sent) == 2 and all(e["status"] == 400 for e in api.errors)


def test_html_checker():
    assert html_to_text('<b>a</b> <tg-spoiler>s</tg-spoiler> <span class="tg-spoiler">t</span> '
                        '<pre><code class="language-py">x</code></pre> &lt;&#65;&gt;') == "a s t x <A>"
    assert html_to_text("<blockquote expandable>q</blockquote><s><strike><del>d</del></strike></s>") == "qd"


def test_channel_flood_limit_raises_retry_after_then_frees(monkeypatch):
    monkeypatch.setenv("PTB_TIMEDELTA", "1")  # RetryAfter.retry_after as timedelta, no deprecation warning
    clock = Clock()
    with FakeBotApi(token=TOKEN, clock=clock) as api:
        async def body(bot: Bot):
            for i in range(20):
                await bot.send_message(CHANNEL, f"m{i}")
                clock.now += 0.5
            with pytest.raises(RetryAfter) as err:
                await bot.send_message(CHANNEL, "m20")
            assert seconds(err.value.retry_after) == 50  # the first slot frees 60 s after message 0
            clock.now += 50
            await bot.send_message(CHANNEL, "m20")
            # private chat: 1 message per second
            await bot.send_message(7, "a")
            with pytest.raises(RetryAfter) as err:
                await bot.send_message(7, "b")
            assert seconds(err.value.retry_after) == 1
            clock.now += 1
            await bot.send_message(7, "b")
            api.strict_rate = False
            for _ in range(5):
                await bot.send_message(7, "burst")
        run(api, body)
        assert [e["status"] for e in api.errors] == [429, 429]
        assert api.errors[0]["retry_after"] == 50 and len(api.messages(CHANNEL)) == 21


def test_injected_faults_map_to_ptb_exceptions(monkeypatch):
    monkeypatch.setenv("PTB_TIMEDELTA", "1")
    with FakeBotApi(token=TOKEN) as api:
        api.strict_rate = False
        async def body(bot: Bot):
            api.fail_next("sendMessage", 429, retry_after=30)
            with pytest.raises(RetryAfter) as err:
                await bot.send_message(1, "x")
            assert seconds(err.value.retry_after) == 30
            api.fail_next("sendMessage", 429, retry_after=30, without_parameters=True)
            with pytest.raises(NetworkError) as err2:
                await bot.send_message(1, "x")
            assert type(err2.value) is NetworkError and "retry after 30" in str(err2.value)
            api.fail_next("sendMessage", 500, times=2)
            for _ in range(2):
                with pytest.raises(NetworkError) as err3:
                    await bot.send_message(1, "x")
                assert type(err3.value) is NetworkError and "Internal Server Error" in str(err3.value)
            api.fail_next("*", 502, body=b"<html>502 Bad Gateway</html>")
            with pytest.raises(NetworkError, match=r"(?i)Bad Gateway \(502\)"):
                await bot.send_message(1, "x")
            api.fail_next("sendMessage", 400, "Bad Request: chat not found")
            with pytest.raises(BadRequest, match="(?i)chat not found"):
                await bot.send_message(1, "x")
            api.fail_next("sendMessage", 403)
            with pytest.raises(Forbidden):
                await bot.send_message(1, "x")
            api.delay_next("sendMessage", 1.0)
            with pytest.raises(TimedOut):
                await bot.send_message(1, "late", read_timeout=0.2)
            with pytest.raises(EndPointNotFound):
                await bot.do_api_request("noSuchMethod")
            return await bot.send_message(1, "finally")
        assert run(api, body).message_id == 2  # "late" was applied although the client gave up
        assert [e["status"] for e in api.errors] == [429, 429, 500, 500, 502, 400, 403, 404]
        assert api.errors[0]["retry_after"] == 30 and api.errors[1]["retry_after"] is None
        assert api.counts["sendMessage"] == 9 and api.counts["noSuchMethod"] == 1


def test_wrong_token_is_unauthorized():
    with FakeBotApi(token=TOKEN) as api:
        async def main():
            bot = Bot("999:wrong", base_url=api.base_url)
            with pytest.raises(InvalidToken):
                await bot.get_me()
        asyncio.run(main())
        assert api.errors[0]["status"] == 401
        r = httpx.get(f"{api.base_url}999:wrong/getMe")
        assert r.status_code == 401 and r.json() == {"ok": False, "error_code": 401, "description": "Unauthorized"}
        r = httpx.post(api.url("nope"))
        assert r.json() == {"ok": False, "error_code": 404, "description": "Not Found"}


def test_body_forms_json_multipart_query():
    with FakeBotApi(token=TOKEN) as api:
        markup = {"inline_keyboard": [[{"text": "A", "callback_data": "a"}]]}
        r = httpx.post(api.url("sendMessage"), json={"chat_id": 5, "text": "json", "reply_markup": markup})
        assert r.json()["result"]["reply_markup"] == markup
        form = {"chat_id": "-100777", "text": "123", "reply_markup": json.dumps(markup)}
        r = httpx.post(api.url("sendMessage"), data=form, files={"doc": ("a.txt", b"hello", "text/plain")})
        assert r.status_code == 200 and r.json()["result"]["chat"]["type"] == "channel"
        r = httpx.get(api.url("sendMessage"), params={"chat_id": "-5", "text": "true"})
        assert r.json()["result"]["chat"]["type"] == "group"
        assert [(m["chat_id"], m["text"]) for m in api.sent] == [(5, "json"), (-100777, "123"), (-5, "true")]
        assert api.sent[1]["reply_markup"] == markup and api.sent[1]["params"]["doc"]["content"] == b"hello"
    assert parse_body("application/x-www-form-urlencoded", b"chat_id=1&text=%5B1%5D&show_alert=true") == {
        "chat_id": 1, "text": "[1]", "show_alert": True}


def test_edit_delete_commands_and_get_updates():
    with FakeBotApi(token=TOKEN) as api:
        async def body(bot: Bot):
            msg = await bot.send_message(5, "v1")
            edited = await bot.edit_message_text("v2", chat_id=5, message_id=msg.message_id)
            assert edited.text == "v2" and edited.edit_date is not None
            with pytest.raises(BadRequest, match="(?i)message is not modified"):
                await bot.edit_message_text("v2", chat_id=5, message_id=msg.message_id)
            kb = InlineKeyboardMarkup([[InlineKeyboardButton("x", callback_data="x")]])
            assert (await bot.edit_message_reply_markup(5, msg.message_id, reply_markup=kb)).reply_markup == kb
            with pytest.raises(BadRequest, match="(?i)message to be replied not found"):
                await bot.send_message(5, "r", reply_to_message_id=99)
            assert await bot.delete_message(5, msg.message_id)
            with pytest.raises(BadRequest, match="(?i)message to delete not found"):
                await bot.delete_message(5, msg.message_id)
            await bot.set_my_commands([("watch", "Watch a name"), ("start", "Start")])
            assert [c.command for c in await bot.get_my_commands()] == ["watch", "start"]
            with pytest.raises(BadRequest, match="(?i)BUTTON_DATA_INVALID"):
                await bot.send_message(5, "k", reply_markup=InlineKeyboardMarkup(
                    [[InlineKeyboardButton("x", callback_data="d" * 65)]]))
            # getUpdates: offset confirms, allowed_updates filters, timeout waits for a push
            api.push_message(9, text="/watch Ivanov Ivan", username="mon")
            api.push_message(9, text="hello")
            ups = await bot.get_updates(timeout=0)
            assert [u.message.text for u in ups] == ["/watch Ivanov Ivan", "hello"]
            ent = ups[0].message.entities[0]
            assert (ent.type, ent.offset, ent.length) == ("bot_command", 0, 6)
            assert ups[0].message.from_user.username == "mon" and ups[0].message.chat.type == "private"
            assert await bot.get_updates(offset=ups[-1].update_id + 1, timeout=0) == ()
            loop = asyncio.get_running_loop()
            loop.call_later(0.2, api.push_message, 9, None, "late")
            late = await bot.get_updates(offset=ups[-1].update_id + 1, timeout=5)
            assert [u.message.text for u in late] == ["late"]
            api.push_message(9, text="dropped")
            none = await bot.get_updates(offset=late[-1].update_id + 1, timeout=0, allowed_updates=["callback_query"])
            assert none == () and api.pending_updates == []
        run(api, body)
        assert api.edits[0]["text"] == "v2" and api.deleted == [(5, 1)] and api.messages(5) == []
        assert api.sent[0]["deleted"] and api.sent[0]["text"] == "v2"


def test_application_polling_command_and_callback():
    with FakeBotApi(token=TOKEN) as api:
        api.max_poll_wait = 0.2

        async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
            kb = InlineKeyboardMarkup([[InlineKeyboardButton("Ack", callback_data="ack:1")]])
            await update.effective_message.reply_text(f"hello {update.effective_user.username}", reply_markup=kb)

        async def button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
            await update.callback_query.answer(f"got {update.callback_query.data}")
            await update.callback_query.edit_message_text("acknowledged")

        async def wait_for(cond, limit=3.0):
            for _ in range(int(limit / 0.02)):
                if cond():
                    return
                await asyncio.sleep(0.02)
            raise AssertionError("timed out waiting")

        async def main():
            app = ApplicationBuilder().token(TOKEN).base_url(api.base_url).build()
            app.add_handler(CommandHandler("start", start))
            app.add_handler(CallbackQueryHandler(button))
            await app.initialize()
            await app.start()
            await app.updater.start_polling(poll_interval=0.05)
            try:
                api.push_message(77, text="/start", username="alice")
                await wait_for(lambda: api.messages(77))
                reply = api.messages(77)[0]
                assert reply["text"] == "hello alice"
                assert reply["reply_markup"]["inline_keyboard"][0][0]["text"] == "Ack"
                api.push_callback(77, reply["message_id"], 77, "ack:1")
                await wait_for(lambda: api.callback_answers and api.edits)
            finally:
                await app.updater.stop()
                await app.stop()
                await app.shutdown()

        asyncio.run(main())
        assert api.callback_answers[0]["text"] == "got ack:1"
        assert api.messages(77)[0]["text"] == "acknowledged"
        assert api.counts["deleteWebhook"] == 1 and api.errors == []

"""The digest by email, against a real SMTP server on loopback (aiosmtpd): MIME structure and
non-ASCII names, STARTTLS and implicit TLS with a private CA, login, a server that is down, and
which failures are retried (transient) or dropped (permanent)."""

from __future__ import annotations

import asyncio
import email
import shutil
import socket
import ssl
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from email import policy
from pathlib import Path
from typing import Any

import pytest
from conftest import free_port
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from watcher.errors import ConfigError, DeliveryError
from watcher.models import Message
from watcher.delivery.notifiers.email import EmailNotifier, SmtpSettings

SENDER = "Watcher digest <digest@watcher.example.org>"
TO = "monitor@example.org"
USER, PASSWORD = "digest", "s3cret"
TEXT = "Баходир Каримов — Jo'rayev, Oʻzbekiston\nDetained in Istanbul."
HTML = "<b>Баходир Каримов</b> — Jo'rayev, Oʻzbekiston\n<i>Detained</i> in Istanbul."
MESSAGE = Message(text=TEXT, html=HTML, subject="Digest: Баходир Каримов (1 alert)")


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes
    tls: bool
    login: bytes | None


class Collector:
    """An aiosmtpd handler that keeps every envelope and can refuse chosen recipients."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.refuse: dict[str, str] = {}

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: list[str]) -> str:
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        tls = server.transport.get_extra_info("ssl_object") is not None
        self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.content, tls,
                                      getattr(session.auth_data, "login", None)))
        return "250 OK"


def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and auth_data == (USER.encode(), PASSWORD.encode())
    # handled=False: aiosmtpd answers "535 ... credentials invalid" itself
    return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)




@contextmanager
def smtp_server(port: int | None = None, **kwargs: Any) -> Iterator[tuple[int, Collector]]:
    handler = Collector()
    controller = Controller(handler, hostname="127.0.0.1", port=port or free_port(), **kwargs)
    controller.start()
    try:
        yield controller.port, handler
    finally:
        controller.stop()


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, generated once for the module."""
    if not shutil.which("openssl"):
        pytest.skip("openssl CLI not found")
    folder = tmp_path_factory.mktemp("smtp-tls")
    certfile, keyfile = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(keyfile), "-out", str(certfile)], check=True, capture_output=True)
    return certfile, keyfile


@pytest.fixture(scope="module")
def server_tls(cert: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*cert)
    return context


def settings(port: int, **kwargs: Any) -> SmtpSettings:
    base = SmtpSettings(host="127.0.0.1", port=port, sender=SENDER, recipients=(TO,), security="none", timeout=5)
    return replace(base, **kwargs)


def send(notifier: EmailNotifier, message: Message = MESSAGE) -> str | None:
    return asyncio.run(notifier.send(message))


def failure(notifier: EmailNotifier, message: Message = MESSAGE) -> DeliveryError:
    with pytest.raises(DeliveryError) as caught:
        send(notifier, message)
    return caught.value


# -- the message ------------------------------------------------------------------------------


def test_digest_arrives_as_multipart_alternative_utf8_with_both_parts() -> None:
    with smtp_server() as (port, handler):
        notifier = EmailNotifier(settings(port), TO)
        message_id = send(notifier)
    assert notifier.name == "email:monitor@example.org" and notifier.unknown_outcome == "resend"
    [got] = handler.received
    assert got.mail_from == "digest@watcher.example.org" and got.rcpt_tos == [TO]
    assert max(got.content) < 128  # 7-bit on the wire: old relays cannot mangle the names

    parsed = email.message_from_bytes(got.content, policy=policy.default)
    assert parsed.get_content_type() == "multipart/alternative"
    assert parsed["Subject"] == "Digest: Баходир Каримов (1 alert)"
    assert parsed["From"] == SENDER and parsed["To"] == TO and parsed["Date"]
    assert parsed["Message-ID"] == message_id and message_id.endswith("@watcher.example.org>")
    text, html = parsed.iter_parts()
    assert (text.get_content_type(), html.get_content_type()) == ("text/plain", "text/html")
    assert text.get_content_charset() == html.get_content_charset() == "utf-8"
    assert text.get_content().replace("\r\n", "\n").rstrip("\n") == TEXT  # CRLF: canonical form
    body = html.get_content()
    assert "<b>Баходир Каримов</b> — Jo'rayev, Oʻzbekiston<br>" in body and "<i>Detained</i>" in body
    assert body.lstrip().startswith("<!DOCTYPE html>") and '<meta charset="utf-8">' in body


def test_text_only_message_full_html_document_and_unsafe_subject() -> None:
    notifier = EmailNotifier(settings(25), TO)
    plain = notifier.build(Message(text="Nothing new today.\nSources: 12 healthy.", subject=""))
    assert plain.get_content_type() == "text/plain" and plain["Subject"] == "Nothing new today."
    document = "<!DOCTYPE html>\n<html><body><p>Баходир</p></body></html>\n"
    full = notifier.build(Message(text="x", html=document, subject="a\r\nBcc: evil@example.org"))
    assert full.get_body(("html",)).get_content().replace("\r\n", "\n") == document
    assert full["Subject"] == "a Bcc: evil@example.org" and full["Bcc"] is None


# -- TLS ----------------------------------------------------------------------------------------


def test_starttls_trusting_a_private_ca_through_cafile(cert: tuple[Path, Path], server_tls: ssl.SSLContext) -> None:
    with smtp_server(tls_context=server_tls, require_starttls=True) as (port, handler):
        send(EmailNotifier(settings(port, security="starttls", cafile=str(cert[0])), TO))
    assert [r.tls for r in handler.received] == [True]


def test_starttls_without_cafile_fails_on_the_certificate_and_is_retried(server_tls: ssl.SSLContext) -> None:
    with smtp_server(tls_context=server_tls, require_starttls=True) as (port, handler):
        error = failure(EmailNotifier(settings(port, security="starttls"), TO))
    assert "certificate" in str(error) and "WATCHER_SMTP_CAFILE" in str(error)
    assert not error.permanent and handler.received == []


def test_a_server_without_starttls_is_refused_for_good() -> None:
    with smtp_server() as (port, handler):
        error = failure(EmailNotifier(settings(port, security="starttls"), TO))
    assert "STARTTLS" in str(error) and error.permanent and handler.received == []


def test_implicit_tls_with_login(cert: tuple[Path, Path], server_tls: ssl.SSLContext) -> None:
    with smtp_server(ssl_context=server_tls, authenticator=authenticator, auth_require_tls=False) as (port, handler):
        send(EmailNotifier(settings(port, security="ssl", cafile=str(cert[0]), user=USER, password=PASSWORD), TO))
    [got] = handler.received
    assert got.tls and got.login == USER.encode()


# -- login ----------------------------------------------------------------------------------------


def test_login_over_starttls_and_a_wrong_password_is_transient_and_not_shown(
        cert: tuple[Path, Path], server_tls: ssl.SSLContext) -> None:
    kwargs = {"tls_context": server_tls, "authenticator": authenticator, "auth_required": True}
    with smtp_server(**kwargs) as (port, handler):
        good = settings(port, security="starttls", cafile=str(cert[0]), user=USER, password=PASSWORD)
        send(EmailNotifier(good, TO))
        error = failure(EmailNotifier(replace(good, password="wr0ng-s3cret"), TO))
    assert [r.login for r in handler.received] == [USER.encode()]
    assert "login refused" in str(error) and "'digest'" in str(error) and "WATCHER_SMTP_PASSWORD" in str(error)
    assert not error.permanent
    assert "s3cret" not in str(error) and "wr0ng" not in str(error)
    assert "s3cret" not in repr(good) and "s3cret" not in repr(EmailNotifier(good, TO))


# -- availability and refusals ----------------------------------------------------------------------


def test_a_server_that_is_down_is_transient_and_the_next_send_succeeds() -> None:
    port = free_port()
    notifier = EmailNotifier(settings(port), TO)
    error = failure(notifier)
    assert str(error).startswith("SMTP server unreachable: 127.0.0.1:") and not error.permanent
    with smtp_server(port) as (_, handler):
        assert send(notifier)
    assert len(handler.received) == 1


def test_a_server_that_never_answers_times_out() -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        error = failure(EmailNotifier(settings(silent.getsockname()[1], timeout=0.2), TO))
    assert "unreachable" in str(error) and "timed out" in str(error) and not error.permanent


def test_recipient_refused_5xx_is_permanent_4xx_is_transient() -> None:
    with smtp_server() as (port, handler):
        handler.refuse = {"gone@example.org": "550 5.1.1 No such user", "full@example.org": "452 4.2.2 Mailbox full"}
        gone = failure(EmailNotifier(settings(port), "gone@example.org"))
        full = failure(EmailNotifier(settings(port), "full@example.org"))
    assert gone.permanent and "gone@example.org" in str(gone) and "550" in str(gone)
    assert not full.permanent and "452" in str(full)


# -- configuration ------------------------------------------------------------------------------------


ENV = {"WATCHER_SMTP_HOST": "smtp.example.org", "WATCHER_DIGEST_FROM": SENDER,
       "WATCHER_DIGEST_TO": "a@example.org, Manager <b@example.org>,a@example.org"}


def test_settings_from_env_defaults() -> None:
    assert SmtpSettings.from_env({}) is None
    s = SmtpSettings.from_env({**ENV, "WATCHER_SMTP_USER": USER, "WATCHER_SMTP_PASSWORD": PASSWORD})
    assert s is not None
    assert (s.host, s.port, s.security, s.timeout, s.cafile) == ("smtp.example.org", 587, "starttls", 30.0, None)
    assert s.recipients == ("a@example.org", "b@example.org") and s.sender_address == "digest@watcher.example.org"
    assert PASSWORD not in repr(s) and PASSWORD not in str(s)
    assert SmtpSettings.from_env({**ENV, "WATCHER_SMTP_SECURITY": "SSL"}).port == 465  # type: ignore[union-attr]
    assert SmtpSettings.from_env({**ENV, "WATCHER_SMTP_SECURITY": "none"}).port == 25  # type: ignore[union-attr]
    assert SmtpSettings.from_env({**ENV, "WATCHER_SMTP_PORT": "2525"}).port == 2525  # type: ignore[union-attr]


@pytest.mark.parametrize(("change", "variable"), [
    ({"WATCHER_DIGEST_FROM": ""}, "WATCHER_DIGEST_FROM"),
    ({"WATCHER_DIGEST_TO": " "}, "WATCHER_DIGEST_TO"),
    ({"WATCHER_SMTP_PORT": "smtp"}, "WATCHER_SMTP_PORT"),
    ({"WATCHER_SMTP_PORT": "70000"}, "WATCHER_SMTP_PORT"),
    ({"WATCHER_SMTP_SECURITY": "tls"}, "WATCHER_SMTP_SECURITY"),
    ({"WATCHER_DIGEST_FROM": "watcher"}, "WATCHER_DIGEST_FROM"),
    ({"WATCHER_DIGEST_TO": "a@example.org, managers"}, "WATCHER_DIGEST_TO"),
    ({"WATCHER_SMTP_USER": USER}, "WATCHER_SMTP_PASSWORD"),
    ({"WATCHER_SMTP_CAFILE": "/nonexistent/ca.pem"}, "WATCHER_SMTP_CAFILE"),
    ({"WATCHER_SMTP_SECURITY": "none", "WATCHER_SMTP_USER": USER, "WATCHER_SMTP_PASSWORD": PASSWORD},
     "WATCHER_SMTP_USER"),
])
def test_settings_from_env_errors_name_the_variable(change: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigError) as caught:
        SmtpSettings.from_env({**ENV, **change})
    [problem] = caught.value.problems
    assert problem.file == "environment" and variable in problem.message
    assert PASSWORD not in str(caught.value)


def test_settings_from_env_reports_every_problem_at_once() -> None:
    with pytest.raises(ConfigError) as caught:
        SmtpSettings.from_env({"WATCHER_SMTP_HOST": "smtp.example.org", "WATCHER_SMTP_PORT": "x"})
    assert len(caught.value.problems) == 3

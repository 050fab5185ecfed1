"""The daily digest by email (SMTP), for monitors and managers who do not read Telegram.

Why a notifier: email goes through the same interface as the console and Telegram (`send`
returns an id or raises DeliveryError), so the outbox gives it the same retries, backoff and
crash recovery. One EmailNotifier serves one recipient ("email:<address>"): a refused or
failing address never holds back the others, and each has its own row in the outbox.

TLS by default: WATCHER_SMTP_SECURITY is "starttls" unless set otherwise, and the certificate
is verified (system CAs, or WATCHER_SMTP_CAFILE for a private relay). A server that does not
offer STARTTLS is refused rather than sent the digest in clear. "ssl" is implicit TLS (465);
"none" is for a relay on the same host or network only.

A crash between the server's "250 accepted" and the outbox's 'sent' mark is resolved as
"resend" (`unknown_outcome`): a second copy of a digest in someone's inbox is an annoyance,
a missing digest can hide an arrest from the people who must react to it.

Transient (retried with backoff) or permanent (dropped and logged), by what fixes it:
  - unreachable, timeout, disconnected, any 4xx ........................ transient
  - certificate not trusted / TLS handshake / unreadable CA file ......... transient: an
    operator fixes WATCHER_SMTP_CAFILE or renews the certificate, then the digest goes out
  - login refused (535 ...), AUTH not offered, 530 "authentication required" ... transient:
    credentials are configuration and get fixed; retrying never sends anything unprotected
  - 5xx for MAIL FROM / RCPT TO / DATA (recipient unknown, message refused) ... permanent
  - server offers no STARTTLS while "starttls" is configured .............. permanent
The password never appears in a message, an error or a repr.

Environment (SmtpSettings.from_env): WATCHER_SMTP_HOST (unset: no email), WATCHER_SMTP_PORT
(587 starttls, 465 ssl, 25 none), WATCHER_SMTP_SECURITY, WATCHER_SMTP_USER,
WATCHER_SMTP_PASSWORD, WATCHER_SMTP_CAFILE, WATCHER_DIGEST_FROM, WATCHER_DIGEST_TO
(comma-separated).
"""

from __future__ import annotations

import asyncio
import html as html_lib
import os
import smtplib
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses, make_msgid, parseaddr
from typing import Literal

from watcher.errors import ConfigError, ConfigProblem, DeliveryError
from watcher.models import Message

SECURITY = ("starttls", "ssl", "none")
DEFAULT_PORTS = {"starttls": 587, "ssl": 465, "none": 25}
# 7bit: non-ASCII bodies go out as quoted-printable or base64, whichever is shorter, so an old
# relay without 8BITMIME cannot mangle them.
_POLICY = policy.SMTP.clone(cte_type="7bit")
_AUTH_CODES = {530, 534, 535, 538}  # authentication required / refused: configuration, not the message


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    sender: str  # "digest@example.org" or "Watcher <digest@example.org>"
    recipients: tuple[str, ...]  # bare addresses
    user: str = ""
    password: str = field(default="", repr=False)
    security: Literal["starttls", "ssl", "none"] = "starttls"
    cafile: str | None = None
    timeout: float = 30.0

    @property
    def sender_address(self) -> str:
        return parseaddr(self.sender)[1]

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> SmtpSettings | None:
        """Settings from WATCHER_SMTP_* / WATCHER_DIGEST_*; None when WATCHER_SMTP_HOST is unset.

        Every problem found is reported at once, as ConfigError (file "environment")."""
        host = env.get("WATCHER_SMTP_HOST", "").strip()
        if not host:
            return None
        problems: list[str] = []

        security = env.get("WATCHER_SMTP_SECURITY", "").strip().lower() or "starttls"
        if security not in SECURITY:
            problems.append(f"WATCHER_SMTP_SECURITY: {security!r} is not one of {', '.join(SECURITY)}")
            security = "starttls"

        port_text = env.get("WATCHER_SMTP_PORT", "").strip()
        port = DEFAULT_PORTS[security]
        if port_text:
            if port_text.isdigit() and 1 <= int(port_text) <= 65535:
                port = int(port_text)
            else:
                problems.append(f"WATCHER_SMTP_PORT: {port_text!r} is not a port number (1-65535)")

        sender = env.get("WATCHER_DIGEST_FROM", "").strip()
        if not sender:
            problems.append("WATCHER_DIGEST_FROM is not set (the digest's From address)")
        elif "@" not in parseaddr(sender)[1] or "\n" in sender or "\r" in sender:
            problems.append(f"WATCHER_DIGEST_FROM: {sender!r} is not an email address")

        recipients: list[str] = []
        to_text = env.get("WATCHER_DIGEST_TO", "").strip()
        if not to_text:
            problems.append("WATCHER_DIGEST_TO is not set (comma-separated addresses of the digest)")
        else:
            parts = [p.strip() for p in to_text.split(",") if p.strip()]
            for part in parts:
                address = parseaddr(part)[1] if len(getaddresses([part])) == 1 else ""
                if "@" not in address or any(c.isspace() for c in address):
                    problems.append(f"WATCHER_DIGEST_TO: {part!r} is not an email address")
                elif address.lower() not in (r.lower() for r in recipients):
                    recipients.append(address)

        user = env.get("WATCHER_SMTP_USER", "").strip()
        password = env.get("WATCHER_SMTP_PASSWORD", "")
        if user and not password:
            problems.append("WATCHER_SMTP_USER is set but WATCHER_SMTP_PASSWORD is not")
        if password and not user:
            problems.append("WATCHER_SMTP_PASSWORD is set but WATCHER_SMTP_USER is not")
        if user and security == "none":
            problems.append("WATCHER_SMTP_USER: refusing to send the password unencrypted with "
                            "WATCHER_SMTP_SECURITY=none; use starttls or ssl")

        cafile = env.get("WATCHER_SMTP_CAFILE", "").strip() or None
        if cafile and not os.path.isfile(cafile):
            problems.append(f"WATCHER_SMTP_CAFILE: {cafile!r} is not a file")

        if problems:
            raise ConfigError([ConfigProblem("environment", None, p) for p in problems])
        return cls(host=host, port=port, sender=sender, recipients=tuple(recipients), user=user,
                   password=password, security=security, cafile=cafile)  # type: ignore[arg-type]


class EmailNotifier:
    """Sends each message as one email to one recipient.

    Errors follow the module docstring: a refused login (535) is *transient* on purpose — it is
    a configuration problem an operator fixes, after which the waiting digest should still go
    out — while a 5xx refusal of the sender, recipient or message is permanent for that message.
    """

    # Resend: a duplicate digest is less harmful than a lost one (see the module docstring).
    unknown_outcome: Literal["resend", "assume_sent"] = "resend"

    def __init__(self, settings: SmtpSettings, recipient: str):
        if "@" not in recipient:
            raise ValueError(f"{recipient!r} is not an email address")
        self.settings = settings
        self.recipient = recipient
        self.name = f"email:{recipient}"

    def __repr__(self) -> str:
        return f"EmailNotifier({self.settings!r}, {self.recipient!r})"

    async def send(self, message: Message) -> str | None:
        """Deliver `message`; returns its Message-ID, or raises DeliveryError."""
        email = self.build(message)
        await asyncio.to_thread(self._transmit, email)
        return str(email["Message-ID"])

    def build(self, message: Message) -> EmailMessage:
        """multipart/alternative: text/plain first, then text/html when the message has HTML."""
        settings = self.settings
        email = EmailMessage(policy=_POLICY)
        email["Subject"] = _subject(message)
        email["From"] = settings.sender
        email["To"] = self.recipient
        email["Date"] = format_datetime(datetime.now(UTC))
        email["Message-ID"] = make_msgid(domain=settings.sender_address.rpartition("@")[2] or None)
        email.set_content(message.text, subtype="plain", charset="utf-8")
        if message.html:
            email.add_alternative(_html_document(message.html, email["Subject"]), subtype="html", charset="utf-8")
        return email

    # -- the SMTP session, in a worker thread ------------------------------------------------

    def _transmit(self, email: EmailMessage) -> None:
        self._session(email)

    def check_login(self) -> None:
        """Connect, EHLO, STARTTLS or SSL as configured and AUTH if a user is set, then QUIT
        without sending: `watcher doctor`'s SMTP check. Raises DeliveryError as `send` would."""
        self._session(None)

    def _session(self, email: EmailMessage | None) -> None:
        """One SMTP session; sends `email` when given, else stops after the login."""
        s = self.settings
        stage = "connect"
        smtp: smtplib.SMTP | None = None
        done = False
        try:
            context = None
            if s.security != "none":
                stage = "cafile"
                context = ssl.create_default_context(cafile=s.cafile)
                stage = "connect"
            if s.security == "ssl":
                smtp = smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout, context=context)
            else:
                smtp = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
            smtp.ehlo()
            if s.security == "starttls":
                stage = "starttls"
                if not smtp.has_extn("starttls"):
                    raise DeliveryError(
                        f"SMTP server {s.host}:{s.port} does not offer STARTTLS: refusing to send in clear "
                        "(WATCHER_SMTP_SECURITY=ssl for implicit TLS; none only for a local relay)",
                        permanent=True)
                smtp.starttls(context=context)
                smtp.ehlo()
            if s.user:
                stage = "login"
                smtp.login(s.user, s.password)
            if email is not None:
                stage = "send"
                smtp.send_message(email, from_addr=s.sender_address, to_addrs=[self.recipient])
            done = True
        except DeliveryError as exc:
            raise DeliveryError(self._scrub(str(exc)), permanent=exc.permanent) from None
        except (smtplib.SMTPException, OSError, ValueError) as exc:
            raise self._error(exc, stage) from None
        finally:
            if smtp is not None:
                _close(smtp, polite=done)

    def _error(self, exc: BaseException, stage: str) -> DeliveryError:
        s = self.settings
        where = f"{s.host}:{s.port}"

        def error(text: str, permanent: bool = False) -> DeliveryError:
            return DeliveryError(self._scrub(text), permanent=permanent)

        if stage == "cafile":
            return error(f"cannot load the CA bundle WATCHER_SMTP_CAFILE={s.cafile!r}: {exc}")
        if isinstance(exc, ssl.SSLCertVerificationError):
            hint = "" if s.cafile else "; set WATCHER_SMTP_CAFILE to the CA bundle that signed it"
            return error(f"TLS certificate of SMTP server {where} not trusted "
                         f"(certificate verify failed: {exc.verify_message}){hint}")
        if isinstance(exc, ssl.SSLError):
            return error(f"TLS with SMTP server {where} failed: {exc}")
        if isinstance(exc, smtplib.SMTPAuthenticationError):
            return error(f"SMTP login refused for user {s.user!r} on {where} ({_reply(exc)}); check "
                         "WATCHER_SMTP_USER and WATCHER_SMTP_PASSWORD (retried until fixed)")
        if isinstance(exc, smtplib.SMTPNotSupportedError):
            if stage == "login":
                return error(f"SMTP server {where} offers no login (AUTH) on this connection: {exc}")
            return error(f"SMTP server {where} cannot take this message: {exc}", permanent=True)
        if isinstance(exc, smtplib.SMTPServerDisconnected):
            return error(f"SMTP server unreachable: {where} closed the connection ({exc or 'no reason given'})")
        if isinstance(exc, smtplib.SMTPRecipientsRefused):
            code, text = next(iter(exc.recipients.values()), (0, b""))
            return self._refused(f"SMTP server {where} refused recipient {self.recipient}", code, text, stage)
        if isinstance(exc, smtplib.SMTPResponseException):
            what = {"send": "refused the message", "login": "refused the login",
                    "starttls": "refused STARTTLS"}.get(stage, "refused the session")
            return self._refused(f"SMTP server {where} {what}", exc.smtp_code, exc.smtp_error, stage)
        if isinstance(exc, (TimeoutError, OSError)):
            what = f"timed out after {s.timeout:g}s" if isinstance(exc, TimeoutError) else str(exc)
            return error(f"SMTP server unreachable: {where}: {what}")
        return error(f"SMTP error with {where}: {type(exc).__name__}: {exc}")

    def _refused(self, what: str, code: int, text: bytes | str, stage: str) -> DeliveryError:
        """5xx to MAIL/RCPT/DATA is permanent for the message; 4xx, and anything about
        authentication or the session, is transient."""
        reply = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
        permanent = stage == "send" and 500 <= code < 600 and code not in _AUTH_CODES
        return DeliveryError(self._scrub(f"{what}: {code} {reply}".strip()), permanent=permanent)

    def _scrub(self, text: str) -> str:
        password = self.settings.password
        return text.replace(password, "********") if password else text


def _close(smtp: smtplib.SMTP, polite: bool) -> None:
    """QUIT after a delivery (its failure does not undo the delivery); just close after an error,
    so a dead server is not waited on twice."""
    if polite:
        try:
            smtp.quit()
            return
        except (smtplib.SMTPException, OSError):
            pass
    try:
        smtp.close()
    except OSError:
        pass


def _reply(exc: smtplib.SMTPResponseException) -> str:
    text = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
    return f"{exc.smtp_code} {text}".strip()


def _subject(message: Message) -> str:
    """The message's subject, else its first line; on one line (no header injection), at most 200 characters."""
    subject = message.subject or next((line for line in message.text.splitlines() if line.strip()), "watcher")
    subject = " ".join(subject.split())
    return subject if len(subject) <= 200 else subject[:199] + "…"


def _html_document(html: str, subject: str) -> str:
    """A full HTML document passes through; a Telegram-style fragment (lines as line breaks) is wrapped."""
    if html.lstrip().lower().startswith(("<!doctype", "<html")):
        return html
    body = "<br>\n".join(html.split("\n"))
    return ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
            f"<title>{html_lib.escape(subject)}</title></head>\n<body>\n{body}\n</body></html>\n")

"""Mail transports: how a composed e-mail leaves the machine.

SMTP through aiosmtplib, or (the embedded default) the log and a folder. What
to send and when is the outbox's business (``gallery.services.mail``); a
transport only sends one message and says whether a failure is worth a retry.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Protocol

import aiosmtplib

from gallery.settings import Settings

log = logging.getLogger(__name__)


class TemporaryDeliveryError(Exception):
    """Try again later: the server is down, busy, or answered 4xx."""


class PermanentDeliveryError(Exception):
    """Never try again: the server refused the message for good (5xx)."""


class Transport(Protocol):
    async def send(self, email: EmailMessage) -> None: ...


class SmtpTransport:
    """Delivers through an SMTP server with aiosmtplib."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    async def send(self, email: EmailMessage) -> None:
        settings = self.settings
        port = settings.smtp_port or (
            465 if settings.smtp_tls else 587 if settings.smtp_starttls else 25
        )
        try:
            await aiosmtplib.send(
                email,
                hostname=settings.smtp_host,
                port=port,
                username=settings.smtp_username,
                password=settings.smtp_password,
                use_tls=settings.smtp_tls,
                start_tls=settings.smtp_starttls and not settings.smtp_tls,
                timeout=settings.smtp_timeout_seconds,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [error.code for error in exc.recipients]
            if all(code >= 500 for code in codes):
                raise PermanentDeliveryError(str(exc)) from exc
            raise TemporaryDeliveryError(str(exc)) from exc
        except aiosmtplib.SMTPResponseException as exc:
            if exc.code >= 500:
                raise PermanentDeliveryError(f"{exc.code} {exc.message}") from exc
            raise TemporaryDeliveryError(f"{exc.code} {exc.message}") from exc
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise TemporaryDeliveryError(f"{type(exc).__name__}: {exc}") from exc


class FileTransport:
    """The embedded default: mail goes to the log and to ``<instance>/mail/``."""

    def __init__(self, mail_dir: Path) -> None:
        self.mail_dir = mail_dir

    async def send(self, email: EmailMessage) -> None:
        name = f"{datetime.now(UTC):%Y%m%dT%H%M%S%fZ}-{secrets.token_hex(4)}.eml"
        await asyncio.to_thread(self._write, self.mail_dir / name, email.as_bytes())
        body = email.get_body(preferencelist=("plain",))
        text = body.get_content() if body is not None else ""
        log.info(
            "Mail to %s: %s (saved as %s)\n%s", email["To"], email["Subject"], name, text.strip()
        )

    @staticmethod
    def _write(path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".part")
        partial.write_bytes(data)
        partial.replace(path)  # readers never see half a message


def make_transport(settings: Settings) -> Transport:
    if settings.smtp_host:
        return SmtpTransport(settings)
    return FileTransport(settings.mail_dir)


def build_email(
    *, message_id: int, sender: str, recipient: str, subject: str, text: str, html: str
) -> EmailMessage:
    """A text-and-HTML e-mail; ``message_id`` names it (the outbox row's id)."""
    email = EmailMessage()
    email["From"] = sender
    email["To"] = recipient
    email["Subject"] = subject
    email["Date"] = formatdate(localtime=False, usegmt=True)
    # One Message-ID per outbox row: should a message ever go out twice after
    # a crash, receivers can tell it is the same one.
    domain = sender.rsplit("@", 1)[-1].strip(">") or "localhost"
    email["Message-ID"] = make_msgid(idstring=f"outbox-{message_id}", domain=domain)
    email.set_content(text)
    email.add_alternative(html, subtype="html")
    return email

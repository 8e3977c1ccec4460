"""Mail: composing messages into the outbox, and the worker that delivers them.

A request never talks to an SMTP server. It adds an ``OutboxMessage`` to its
own database transaction, so the mail exists exactly when the account change
does. The worker claims due messages (``SELECT … FOR UPDATE SKIP LOCKED`` on
MariaDB, one atomic ``UPDATE`` on SQLite), pushing their ``next_attempt_at``
forward as a lease, then delivers them outside any transaction, so several
workers never send one message twice and a slow SMTP server holds no locks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Protocol

import aiosmtplib
from jinja2 import Environment, PackageLoader, select_autoescape
from sqlalchemy import select, update

from gallery.infra.db import Database
from gallery.models.mail import OutboxMessage, OutboxStatus
from gallery.settings import Settings

log = logging.getLogger(__name__)

# How long a claimed message is reserved for the worker that claimed it. Far
# longer than one SMTP conversation (its timeout is 30 s by default).
CLAIM_LEASE = timedelta(minutes=10)


class Mailer:
    """Renders mail templates (text and HTML) into outbox rows."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._text = Environment(
            loader=PackageLoader("gallery", "templates/emails"),
            autoescape=False,  # noqa: S701 - the plain-text part is not HTML
            keep_trailing_newline=True,
        )
        self._html = Environment(
            loader=PackageLoader("gallery", "templates/emails"),
            autoescape=select_autoescape(default=True),
        )

    def link(self, path: str) -> str:
        """An absolute link for a mail, based on ``GALLERY_PUBLIC_URL``."""
        return self.settings.public_url + path

    def compose(
        self, recipient: str, subject: str, template: str, **context: object
    ) -> OutboxMessage:
        """An outbox message from ``<template>.txt`` and ``<template>.html``."""
        context = {"subject": subject, "site_url": self.settings.public_url, **context}
        return OutboxMessage(
            recipient=recipient,
            subject=subject,
            body_text=self._text.get_template(f"{template}.txt").render(context),
            body_html=self._html.get_template(f"{template}.html").render(context),
            status=OutboxStatus.PENDING.value,
            attempts=0,
            next_attempt_at=datetime.now(UTC),
        )


def build_email(message: OutboxMessage, sender: str) -> EmailMessage:
    email = EmailMessage()
    email["From"] = sender
    email["To"] = message.recipient
    email["Subject"] = message.subject
    email["Date"] = formatdate(localtime=False, usegmt=True)
    # One Message-ID per outbox row: should a message ever go out twice after
    # a crash, receivers can tell it is the same one.
    domain = sender.rsplit("@", 1)[-1].strip(">") or "localhost"
    email["Message-ID"] = make_msgid(idstring=f"outbox-{message.id}", domain=domain)
    email.set_content(message.body_text)
    email.add_alternative(message.body_html, subtype="html")
    return email


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


@dataclass
class DeliveryReport:
    sent: int = 0
    retried: int = 0
    failed: int = 0


class OutboxWorker:
    """Delivers due outbox messages; safe to run in any number of processes."""

    def __init__(self, db: Database, transport: Transport, settings: Settings) -> None:
        self.db = db
        self.transport = transport
        self.settings = settings

    def retry_delay(self, attempts: int) -> timedelta:
        """Exponential back-off with jitter: base, 2×base, 4×base … capped."""
        base = self.settings.mail_retry_base_seconds
        delay = min(base * 2 ** max(attempts - 1, 0), self.settings.mail_retry_max_seconds)
        return timedelta(seconds=delay * random.uniform(0.9, 1.1))

    async def claim_due(self, limit: int = 20) -> tuple[str, list[OutboxMessage]]:
        """Reserve up to ``limit`` due messages for this call; returns the claim token."""
        claim = secrets.token_hex(16)
        now = datetime.now(UTC)
        due = (OutboxMessage.status == OutboxStatus.PENDING.value) & (
            OutboxMessage.next_attempt_at <= now
        )
        lease = {"next_attempt_at": now + CLAIM_LEASE, "attempts": OutboxMessage.attempts + 1}
        async with self.db.session() as session, session.begin():
            if self.db.is_sqlite:
                # SQLite has no row locks; one UPDATE takes the write lock and
                # claims atomically.
                pick = select(OutboxMessage.id).where(due).order_by(OutboxMessage.id).limit(limit)
                await session.execute(
                    update(OutboxMessage)
                    .where(OutboxMessage.id.in_(pick.scalar_subquery()), due)
                    .values(claim_token=claim, **lease)
                )
            else:
                ids = list(
                    await session.scalars(
                        select(OutboxMessage.id)
                        .where(due)
                        .order_by(OutboxMessage.id)
                        .limit(limit)
                        .with_for_update(skip_locked=True)
                    )
                )
                if ids:
                    await session.execute(
                        update(OutboxMessage)
                        .where(OutboxMessage.id.in_(ids))
                        .values(claim_token=claim, **lease)
                    )
        async with self.db.session() as session:
            claimed = await session.scalars(
                select(OutboxMessage)
                .where(OutboxMessage.claim_token == claim)
                .order_by(OutboxMessage.id)
            )
            return claim, list(claimed)

    async def deliver_due(self, limit: int = 20) -> DeliveryReport:
        """Claim and deliver one batch of due messages."""
        report = DeliveryReport()
        _, messages = await self.claim_due(limit)
        for message in messages:
            values: dict[str, object]
            try:
                await self.transport.send(build_email(message, self.settings.mail_from))
            except PermanentDeliveryError as exc:
                log.error("Mail %s to %s refused for good: %s", message.id, message.recipient, exc)
                values = {"status": OutboxStatus.FAILED.value, "last_error": str(exc)[:500]}
                report.failed += 1
            except TemporaryDeliveryError as exc:
                if message.attempts >= self.settings.mail_max_attempts:
                    log.error(
                        "Mail %s: giving up after %s attempts: %s",
                        message.id,
                        message.attempts,
                        exc,
                    )
                    values = {"status": OutboxStatus.FAILED.value, "last_error": str(exc)[:500]}
                    report.failed += 1
                else:
                    delay = self.retry_delay(message.attempts)
                    log.warning(
                        "Mail %s not delivered (%s); retrying in %s", message.id, exc, delay
                    )
                    values = {
                        "next_attempt_at": datetime.now(UTC) + delay,
                        "last_error": str(exc)[:500],
                    }
                    report.retried += 1
            else:
                values = {
                    "status": OutboxStatus.SENT.value,
                    "sent_at": datetime.now(UTC),
                    "last_error": None,
                }
                report.sent += 1
            async with self.db.session() as session, session.begin():
                await session.execute(
                    update(OutboxMessage).where(OutboxMessage.id == message.id).values(**values)
                )
        return report

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until ``stop`` is set; a batch under way is finished first."""
        log.info("Mail worker started (%s)", type(self.transport).__name__)
        while not stop.is_set():
            try:
                report = await self.deliver_due()
            except Exception:  # keep the worker alive through a database blip
                log.exception("Mail worker: delivery round failed")
                report = DeliveryReport()
            if report.sent or report.retried or report.failed:
                continue  # there may be more due right away
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.settings.worker_poll_seconds)
        log.info("Mail worker stopped")

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

from jinja2 import Environment, PackageLoader, select_autoescape
from sqlalchemy import select, update

from gallery.infra.db import Database
from gallery.infra.mail import (
    PermanentDeliveryError,
    TemporaryDeliveryError,
    Transport,
    build_email,
)
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
                await self.transport.send(
                    build_email(
                        message_id=message.id,
                        sender=self.settings.mail_from,
                        recipient=message.recipient,
                        subject=message.subject,
                        text=message.body_text,
                        html=message.body_html,
                    )
                )
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

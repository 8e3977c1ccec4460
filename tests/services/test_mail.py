"""The mail outbox and its worker (``services/mail.py``) against a real SMTP server
(aiosmtpd): retries with backoff, giving up, no double sends."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from gallery.infra.db import Database
from gallery.infra.mail import SmtpTransport
from gallery.infra.runtime import Runtime
from gallery.models import OutboxStatus
from gallery.services.mail import OutboxWorker
from gallery.settings import Settings
from tests.helpers import outbox_rows, queue_mail, smtp_settings
from tests.mailbox import SmtpServer, free_port, text_of


async def test_mail_waits_while_smtp_is_down_and_goes_out_once_it_is_up(
    runtime: Runtime, settings: Settings
) -> None:
    port = free_port()
    smtp = smtp_settings(settings, port)
    worker = OutboxWorker(runtime.db, SmtpTransport(smtp), smtp)
    [message_id] = await queue_mail(runtime)

    report = await worker.deliver_due()
    assert (report.sent, report.retried) == (0, 1)
    [row] = await outbox_rows(runtime)
    assert row.status == OutboxStatus.PENDING
    assert row.attempts == 1
    assert (row.last_error and "Connect" in row.last_error) or "refused" in (row.last_error or "")
    assert row.claim_token is not None

    server = SmtpServer(port)
    server.start()
    try:
        report = await worker.deliver_due()
        assert report.sent == 1
        [row] = await outbox_rows(runtime)
        assert row.status == OutboxStatus.SENT
        assert row.attempts == 2
        assert row.sent_at is not None
        [mail] = server.messages
        assert mail["To"] == "user0@example.com"
        assert f"outbox-{message_id}" in mail["Message-ID"]
        assert "http://gallery.test/activate/token0" in text_of(mail)
        # Sent is sent: another round sends nothing.
        assert (await worker.deliver_due()).sent == 0
        assert len(server.messages) == 1
    finally:
        server.stop()


async def test_backoff_grows_between_attempts(runtime: Runtime, settings: Settings) -> None:
    smtp = smtp_settings(settings, free_port(), mail_retry_base_seconds=30)
    worker = OutboxWorker(runtime.db, SmtpTransport(smtp), smtp)
    await queue_mail(runtime)
    before = datetime.now(UTC)
    await worker.deliver_due()
    [row] = await outbox_rows(runtime)
    assert 25 <= (row.next_attempt_at - before).total_seconds() <= 40
    # Not due yet: the next round leaves it alone.
    assert (await worker.deliver_due()).retried == 0
    assert worker.retry_delay(3).total_seconds() == pytest.approx(120, rel=0.11)
    assert worker.retry_delay(50).total_seconds() <= smtp.mail_retry_max_seconds * 1.1


async def test_worker_gives_up_after_the_last_attempt(runtime: Runtime, settings: Settings) -> None:
    smtp = smtp_settings(settings, free_port(), mail_max_attempts=2)
    worker = OutboxWorker(runtime.db, SmtpTransport(smtp), smtp)
    await queue_mail(runtime)
    assert (await worker.deliver_due()).retried == 1
    assert (await worker.deliver_due()).failed == 1
    [row] = await outbox_rows(runtime)
    assert (row.status, row.attempts) == (OutboxStatus.FAILED, 2)


async def test_two_workers_never_send_one_message_twice(
    runtime: Runtime, settings: Settings
) -> None:
    server = SmtpServer()
    server.handler.delay_seconds = 0.005  # keeps both workers busy at the same time
    server.start()
    # Two engines, as two worker processes would have.
    databases = [Database(str(settings.database_url)) for _ in range(2)]
    try:
        smtp = smtp_settings(settings, server.port)
        ids = await queue_mail(runtime, 40)
        workers = [OutboxWorker(db, SmtpTransport(smtp), smtp) for db in databases]

        async def drain(worker: OutboxWorker) -> int:
            sent = 0
            for _ in range(200):
                report = await worker.deliver_due(limit=5)
                sent += report.sent
                if not report.sent:
                    # Nothing claimed: the other worker may hold the rest.
                    pending = [
                        r for r in await outbox_rows(runtime) if r.status == OutboxStatus.PENDING
                    ]
                    if not pending:
                        break
                    await asyncio.sleep(0.01)
            return sent

        sent_counts = await asyncio.gather(*(drain(w) for w in workers))
        assert sum(sent_counts) == 40
        assert all(count > 0 for count in sent_counts), "both workers took part"
        message_ids = [m["Message-ID"] for m in server.messages]
        assert len(message_ids) == 40
        assert len(set(message_ids)) == 40
        assert (
            sorted(int(m.split("outbox-")[1].split(".")[0].split("@")[0]) for m in message_ids)
            == ids
        )
        assert {r.status for r in await outbox_rows(runtime)} == {OutboxStatus.SENT}
    finally:
        server.stop()
        for db in databases:
            await db.dispose()

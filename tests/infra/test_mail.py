"""The outbox worker against a real SMTP server (aiosmtpd): retries, no double sends."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

import pytest
from quart import Quart
from sqlalchemy import select

from gallery import create_app
from gallery.infra.db import Database
from gallery.infra.mail import FileTransport, OutboxWorker, SmtpTransport
from gallery.infra.runtime import Runtime
from gallery.models import OutboxMessage, OutboxStatus
from gallery.settings import Settings
from tests.conftest import build_settings
from tests.helpers import register
from tests.mailbox import SmtpServer, free_port, text_of


async def queue_mail(runtime: Runtime, count: int = 1) -> list[int]:
    async with runtime.db.session() as session:
        messages = [
            runtime.mailer.compose(
                f"user{n}@example.com",
                f"Message {n}",
                "activate",
                username=f"user{n}",
                link=runtime.mailer.link(f"/activate/token{n}"),
            )
            for n in range(count)
        ]
        session.add_all(messages)
        await session.commit()
        return [m.id for m in messages]


async def outbox(runtime: Runtime) -> list[OutboxMessage]:
    async with runtime.db.session() as session:
        return list(await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def smtp_settings(settings: Settings, port: int, **overrides: object) -> Settings:
    return settings.model_copy(update={"smtp_host": "127.0.0.1", "smtp_port": port, **overrides})


async def test_mail_waits_while_smtp_is_down_and_goes_out_once_it_is_up(
    runtime: Runtime, settings: Settings
) -> None:
    port = free_port()
    smtp = smtp_settings(settings, port)
    worker = OutboxWorker(runtime.db, SmtpTransport(smtp), smtp)
    [message_id] = await queue_mail(runtime)

    report = await worker.deliver_due()
    assert (report.sent, report.retried) == (0, 1)
    [row] = await outbox(runtime)
    assert row.status == OutboxStatus.PENDING
    assert row.attempts == 1
    assert (row.last_error and "Connect" in row.last_error) or "refused" in (row.last_error or "")
    assert row.claim_token is not None

    server = SmtpServer(port)
    server.start()
    try:
        report = await worker.deliver_due()
        assert report.sent == 1
        [row] = await outbox(runtime)
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
    [row] = await outbox(runtime)
    assert 25 <= (row.next_attempt_at - before).total_seconds() <= 40
    # Not due yet: the next round leaves it alone.
    assert (await worker.deliver_due()).retried == 0
    assert worker.retry_delay(3).total_seconds() == pytest.approx(120, rel=0.11)
    assert worker.retry_delay(50).total_seconds() <= smtp.mail_retry_max_seconds * 1.1


async def test_temporary_refusal_is_retried_permanent_refusal_is_not(
    runtime: Runtime, settings: Settings
) -> None:
    server = SmtpServer()
    server.start()
    try:
        smtp = smtp_settings(settings, server.port)
        worker = OutboxWorker(runtime.db, SmtpTransport(smtp), smtp)
        await queue_mail(runtime)
        server.handler.reply = "451 Try again later"
        assert (await worker.deliver_due()).retried == 1
        server.handler.reply = None
        assert (await worker.deliver_due()).sent == 1

        await queue_mail(runtime)
        server.handler.reply = "554 No such mailbox here"
        assert (await worker.deliver_due()).failed == 1
        rows = await outbox(runtime)
        assert [r.status for r in rows] == [OutboxStatus.SENT, OutboxStatus.FAILED]
        assert "554" in (rows[1].last_error or "")
        server.handler.reply = None
        assert (await worker.deliver_due()).sent == 0
    finally:
        server.stop()


async def test_worker_gives_up_after_the_last_attempt(runtime: Runtime, settings: Settings) -> None:
    smtp = smtp_settings(settings, free_port(), mail_max_attempts=2)
    worker = OutboxWorker(runtime.db, SmtpTransport(smtp), smtp)
    await queue_mail(runtime)
    assert (await worker.deliver_due()).retried == 1
    assert (await worker.deliver_due()).failed == 1
    [row] = await outbox(runtime)
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
                    pending = [r for r in await outbox(runtime) if r.status == OutboxStatus.PENDING]
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
        assert {r.status for r in await outbox(runtime)} == {OutboxStatus.SENT}
    finally:
        server.stop()
        for db in databases:
            await db.dispose()


async def test_without_smtp_host_mail_goes_to_files_and_log(
    runtime: Runtime, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    local = settings.model_copy(update={"smtp_host": None})
    worker = OutboxWorker(runtime.db, FileTransport(local.mail_dir), local)
    await queue_mail(runtime)
    with caplog.at_level(logging.INFO, logger="gallery.infra.mail"):
        assert (await worker.deliver_due()).sent == 1
    [saved] = list(local.mail_dir.glob("*.eml"))
    assert b"http://gallery.test/activate/token0" in saved.read_bytes()
    assert "http://gallery.test/activate/token0" in caplog.text


async def test_web_process_worker_delivers_registration_mail_in_background(
    backend: dict[str, object], instance_root: object, clean: None
) -> None:
    server = SmtpServer()
    server.start()
    try:
        settings = build_settings(
            backend,
            instance_root,  # type: ignore[arg-type]
            run_worker=True,
            worker_poll_seconds=0.05,
            smtp_host=server.host,
            smtp_port=server.port,
        )
        app: Quart = create_app(settings)
        async with app.test_app():
            response = await register(app.test_client())
            assert response.status_code == 302  # the request did not wait for SMTP
            for _ in range(100):
                if server.messages:
                    break
                await asyncio.sleep(0.05)
        [mail] = server.messages
        assert mail["Subject"] == "Activate your Gallery account"
    finally:
        server.stop()

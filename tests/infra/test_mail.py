"""The mail transports (``infra/mail.py``): SMTP replies sorted into temporary and
permanent refusals, and files plus a log line when there is no SMTP server."""

from __future__ import annotations

import logging

import pytest

from gallery.infra.mail import FileTransport, SmtpTransport
from gallery.infra.runtime import Runtime
from gallery.models import OutboxStatus
from gallery.services.mail import OutboxWorker
from gallery.settings import Settings
from tests.helpers import outbox_rows, queue_mail, smtp_settings
from tests.mailbox import SmtpServer


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
        rows = await outbox_rows(runtime)
        assert [r.status for r in rows] == [OutboxStatus.SENT, OutboxStatus.FAILED]
        assert "554" in (rows[1].last_error or "")
        server.handler.reply = None
        assert (await worker.deliver_due()).sent == 0
    finally:
        server.stop()


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

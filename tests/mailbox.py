"""A real SMTP server (aiosmtpd) for the tests, and a way to read what the app sent."""

from __future__ import annotations

import asyncio
import re
import socket
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

from gallery.infra.mail import make_transport
from gallery.infra.runtime import Runtime
from gallery.services.mail import OutboxWorker


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RecordingHandler:
    """Accepts every message (or answers ``reply`` instead) and keeps what it got."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.reply: str | None = None
        self.delay_seconds = 0.0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.delay_seconds:
            await asyncio.sleep(self.delay_seconds)
        if self.reply:
            return self.reply
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))  # type: ignore[arg-type]
        return "250 Message accepted for delivery"


class SmtpServer:
    """An aiosmtpd server on 127.0.0.1, in its own thread like a separate server."""

    host = "127.0.0.1"

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.handler = RecordingHandler()
        self._controller = Controller(self.handler, hostname=self.host, port=self.port)

    @property
    def messages(self) -> list[EmailMessage]:
        return self.handler.messages

    def start(self) -> None:
        self._controller.start()

    def stop(self) -> None:
        self._controller.stop()


def text_of(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("plain",))
    assert body is not None, "every mail has a plain-text part"
    return str(body.get_content())


def html_of(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("html",))
    assert body is not None, "every mail has an HTML part"
    return str(body.get_content())


def link_in(message: EmailMessage, public_url: str, path_prefix: str) -> str:
    """The site-relative path of the first link in the mail that starts with ``path_prefix``."""
    pattern = re.escape(public_url + path_prefix) + r"[A-Za-z0-9_\-./]+"
    found = re.search(pattern, text_of(message))
    assert found, f"no {path_prefix} link in:\n{text_of(message)}"
    return found.group(0)[len(public_url) :]


class Mailbox:
    """What the app has sent, after its outbox worker delivered what was due."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    async def deliver(self) -> None:
        runtime = self.runtime
        worker = OutboxWorker(runtime.db, make_transport(runtime.settings), runtime.settings)
        while (await worker.deliver_due()).sent:
            pass

    async def all(self) -> list[EmailMessage]:
        await self.deliver()
        return self._read()

    def _read(self) -> list[EmailMessage]:
        raise NotImplementedError

    async def last_to(self, address: str) -> EmailMessage:
        mails = [m for m in await self.all() if address.lower() in str(m["To"]).lower()]
        assert mails, f"no mail to {address}"
        return mails[-1]


class FileMailbox(Mailbox):
    """The embedded default: mail is written to ``<instance>/mail/*.eml``."""

    def _read(self) -> list[EmailMessage]:
        folder = self.runtime.settings.mail_dir
        if not folder.exists():
            return []
        return [
            message_from_bytes(path.read_bytes(), policy=policy.default)  # type: ignore[misc]
            for path in sorted(folder.glob("*.eml"))
        ]


class SmtpMailbox(Mailbox):
    def __init__(self, runtime: Runtime, server: SmtpServer) -> None:
        super().__init__(runtime)
        self.server = server

    def _read(self) -> list[EmailMessage]:
        return list(self.server.messages)

"""A real Hypercorn server in a subprocess, on the test session's database and Redis.

The server runs ``gallery.asgi:app`` exactly as production does (several
worker processes, the mail worker inside them), configured only through
``GALLERY_*`` environment variables derived from the test settings. On the
embedded back-end it shares the instance folder of the session, so it finds the
SQLite file the session migrated and the embedded Redis the session started.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, ConsoleMessage, Locator, Page, async_playwright, expect
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Response as PageResponse

from gallery.devtools import forge
from gallery.infra.runtime import Runtime
from gallery.settings import Settings
from tests.conftest import TEST_SECRET_KEY
from tests.helpers import make_active_user
from tests.mailbox import SmtpServer, free_port, link_in

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO_ROOT / "test-artifacts"

START_TIMEOUT_SECONDS = 20.0
STOP_TIMEOUT_SECONDS = 15.0
MAIL_TIMEOUT_SECONDS = 10.0
# How long a page may wait for chosen photos to come back processed. Each goes
# through the real imaging pipeline (verified, oriented, every srcset width in
# JPEG and WebP), which takes seconds a photo when CI's passes share the
# machine's two cores; the pages' other waits keep their 8-10 s.
PROCESSING_TIMEOUT_MS = 60_000

# A line of the access log written with ACCESS_LOG_FORMAT: "<pid> GET /path 200".
ACCESS_LOG_FORMAT = "%(p)s %(m)s %(U)s %(s)s"
ACCESS_LINE = re.compile(r"<(\d+)> ([A-Z]+) (\S+) (\d{3})$", re.MULTILINE)


# Who starts the workers: Hypercorn's own master, or Gallery's supervising one
# (gallery.serving, which takes the same options and replaces workers that die).
HYPERCORN = [sys.executable, "-m", "hypercorn"]
SUPERVISED = [sys.executable, "-m", "gallery.serving"]
APPLICATION = "gallery.asgi:app"


def hypercorn_command(
    port: int, workers: int, launcher: list[str] = HYPERCORN, application: str = APPLICATION
) -> list[str]:
    """The command line of a test server: Hypercorn's options, on ``launcher``."""
    return [
        *launcher,
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        # The access log names the worker process (%(p)s) that served each request.
        "--access-logfile",
        "-",
        "--access-logformat",
        ACCESS_LOG_FORMAT,
        "--error-logfile",
        "-",
        application,
    ]


class GalleryServer:
    """A Gallery server process (``python -m hypercorn … gallery.asgi:app`` unless
    ``command`` says otherwise); start, stop, restart on the same port."""

    def __init__(
        self,
        env: dict[str, str],
        port: int,
        workers: int,
        log_dir: Path,
        command: list[str] | None = None,
    ) -> None:
        self.env = env
        self.port = port
        self.workers = workers
        self.log_dir = log_dir
        self.url = f"http://127.0.0.1:{port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path: Path | None = None
        self._command = command or hypercorn_command(port, workers)
        self._starts = 0

    def command(self) -> list[str]:
        return list(self._command)

    def worker_pids(self) -> set[int]:
        """The worker processes of the running master: its children started by ``spawn``.

        multiprocessing's resource tracker is a child too; it is not a worker.
        """
        assert self.process is not None, "the server is not running"
        return {pid for pid in children_of(self.process.pid) if b"spawn_main" in cmdline_of(pid)}

    def output(self) -> str:
        """Everything the server printed so far (this start and earlier ones)."""
        return "".join(
            path.read_text(encoding="utf-8", errors="replace")
            for path in sorted(self.log_dir.glob("hypercorn-*.log"))
        )

    def access_log_pids(self, path: str) -> set[int]:
        """The worker pids that answered requests for ``path``, from the access log."""
        return {
            int(found.group(1))
            for found in ACCESS_LINE.finditer(self.output())
            if found.group(3) == path
        }

    async def start(self) -> None:
        """Start the server and wait until it answers ``/`` with 200."""
        self.launch()
        await self.wait_until_answering()

    def launch(self) -> None:
        """Start the server process without waiting for it to answer."""
        assert self.process is None, "the server is running already"
        self._starts += 1
        self.log_path = self.log_dir / f"hypercorn-{self._starts}.log"
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                self.command(),
                env=self.env,
                # Not the checkout: the server must not read a developer's .env file.
                cwd=self.log_dir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                # Its own process group: a Ctrl-C in the terminal is for pytest, and
                # teardown can make sure the workers went too.
                start_new_session=True,
            )

    async def wait_until_answering(self) -> None:
        assert self.process is not None, "the server is not running"
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        async with httpx.AsyncClient(timeout=2.0) as client:
            while True:
                if self.process.poll() is not None:
                    code = self.process.returncode
                    self.process = None
                    pytest.fail(f"hypercorn exited with {code} while starting:\n{self.output()}")
                try:
                    response = await client.get(self.url + "/")
                except httpx.TransportError:
                    pass
                else:
                    if response.status_code == 200:
                        return
                if time.monotonic() > deadline:
                    await self.stop()
                    pytest.fail(
                        f"hypercorn did not answer within {START_TIMEOUT_SECONDS:.0f} s:\n"
                        f"{self.output()}"
                    )
                await asyncio.sleep(0.1)

    async def stop(self) -> int | None:
        """SIGTERM (the master shuts its workers down gracefully), then SIGKILL if need be.

        Returns once no process of the server's process group is left, with the
        master's exit status (None if it was not running).
        """
        process, self.process = self.process, None
        if process is None:
            return None
        pgid = process.pid  # start_new_session: the group is named after the leader
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.to_thread(process.wait, STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pgid, signal.SIGKILL)
                await asyncio.to_thread(process.wait, 5)
        # The workers (and multiprocessing's helper) follow the main process out.
        deadline = time.monotonic() + 5
        while _group_alive(pgid):
            if time.monotonic() > deadline:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pgid, signal.SIGKILL)
                await asyncio.sleep(0.2)
                assert not _group_alive(pgid), f"processes of group {pgid} survived SIGKILL"
                break
            await asyncio.sleep(0.05)
        return process.returncode

    async def restart(self) -> None:
        await self.stop()
        await self.start()

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


def children_of(pid: int) -> set[int]:
    """The pids whose parent is ``pid``, from /proc."""
    children = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # it exited while we looked
        if int(fields[1]) == pid:
            children.add(int(stat.parent.name))
    return children


def cmdline_of(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def pid_alive(pid: int) -> bool:
    """Whether a process ``pid`` exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # pragma: no cover - a process of ours, so not expected
        return True
    return True


def server_environment(
    backend: dict[str, object], instance_root: Path, public_url: str
) -> dict[str, str]:
    """The process environment without inherited ``GALLERY_*``, plus the test settings."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("GALLERY_")}
    env.update(
        {
            "GALLERY_ENV": "testing",
            "GALLERY_SECRET_KEY": TEST_SECRET_KEY,
            "GALLERY_INSTANCE_DIR": str(instance_root),
            "GALLERY_DATABASE_URL": str(backend["database_url"]),
            "GALLERY_PUBLIC_URL": public_url,
            "GALLERY_COOKIE_SECURE": "false",
            "GALLERY_RUN_WORKER": "true",
            "GALLERY_WORKER_POLL_SECONDS": "0.2",
            "GALLERY_MAIL_RETRY_BASE_SECONDS": "0",
            "PYTHONUNBUFFERED": "1",
        }
    )
    if backend["redis_url"]:
        env["GALLERY_REDIS_URL"] = str(backend["redis_url"])
    smtp = backend["smtp"]
    if isinstance(smtp, SmtpServer):
        env["GALLERY_SMTP_HOST"] = smtp.host
        env["GALLERY_SMTP_PORT"] = str(smtp.port)
    # Otherwise no SMTP: mail is written to <instance>/mail/*.eml.
    storage = backend["storage"]
    assert isinstance(storage, dict)
    # The bucket of the pass, if any (pages then show photos straight from it).
    env.update({f"GALLERY_{name.upper()}": str(value) for name, value in storage.items()})
    return env


ServerFactory = Callable[..., Awaitable[GalleryServer]]


@pytest.fixture
async def start_server(
    backend: dict[str, object], instance_root: Path, clean: None, tmp_path: Path
) -> AsyncIterator[ServerFactory]:
    """Start Hypercorn with ``await start_server(workers=n)``; stopped at teardown.

    ``launcher=SUPERVISED`` runs the workers under ``gallery.serving`` instead.

    Depends on ``clean``, so the tables, Redis and the mail folder are empty
    before the server starts and after it has stopped.
    """
    smtp = backend["smtp"]
    if isinstance(smtp, SmtpServer):
        smtp.messages.clear()
    servers: list[GalleryServer] = []

    async def start(workers: int = 1, launcher: list[str] = HYPERCORN) -> GalleryServer:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        server = GalleryServer(
            server_environment(backend, instance_root, url),
            port,
            workers,
            tmp_path,
            hypercorn_command(port, workers, launcher),
        )
        servers.append(server)
        await server.start()
        return server

    yield start
    for server in servers:
        await server.stop()


@pytest.fixture
async def server(start_server: ServerFactory) -> GalleryServer:
    """One Hypercorn server with one worker process."""
    return await start_server(workers=1)


class MailWatcher:
    """Mail the server sent: the ``.eml`` files of the embedded set-up, or aiosmtpd's."""

    def __init__(self, backend: dict[str, object], instance_root: Path) -> None:
        smtp = backend["smtp"]
        self.smtp = smtp if isinstance(smtp, SmtpServer) else None
        self.mail_dir = instance_root / "mail"

    def all(self) -> list[EmailMessage]:
        if self.smtp is not None:
            return list(self.smtp.messages)
        if not self.mail_dir.exists():
            return []
        return [
            message_from_bytes(path.read_bytes(), policy=policy.default)  # type: ignore[misc]
            for path in sorted(self.mail_dir.glob("*.eml"))
        ]

    async def wait_for(
        self, address: str, timeout: float = MAIL_TIMEOUT_SECONDS, subject: str = ""
    ) -> EmailMessage:
        """The newest mail to ``address`` (with ``subject`` in its subject), waiting for
        the server's mail worker to send it."""
        deadline = time.monotonic() + timeout
        while True:
            mails = [
                m
                for m in self.all()
                if address.lower() in str(m["To"]).lower() and subject in str(m["Subject"])
            ]
            if mails:
                return mails[-1]
            if time.monotonic() > deadline:
                raise AssertionError(f"no mail to {address} within {timeout:.0f} s")
            await asyncio.sleep(0.1)

    async def activation_path(self, address: str, public_url: str) -> str:
        return link_in(await self.wait_for(address), public_url, "/activate/")


@pytest.fixture
def mails(backend: dict[str, object], instance_root: Path) -> MailWatcher:
    return MailWatcher(backend, instance_root)


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


# -- the browser --------------------------------------------------------------

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
]
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    """Debian's Chromium, headless. Missing Chromium fails (``make chromium`` installs it)."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"no Chromium at {CHROMIUM}: run `make chromium` (apt-get install chromium)")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            await browser.close()


async def expect_photos_processed(form: Locator, count: int) -> None:
    """Wait until ``count`` of the upload form's chosen photos are processed and ready."""
    ready = form.locator("[data-upload-preview=ready]")
    await expect(ready).to_have_count(count, timeout=PROCESSING_TIMEOUT_MS)


async def screenshots(page: Page, folder: Path, name: str) -> None:
    """``<name>-desktop.png`` and ``<name>-phone.png`` of the page as it is now."""
    for label, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        await page.set_viewport_size(viewport)
        await page.screenshot(path=folder / f"{name}-{label}.png", full_page=True)
    await page.set_viewport_size(DESKTOP)


async def sign_in_with_form(
    page: Page, server: GalleryServer, username: str, password: str
) -> None:
    """Sign in through the /login form, as a person would; lands on the home page."""
    await page.goto("/login")
    form = page.locator("main form")
    await form.locator("[name=login]").fill(username)
    await form.locator("[name=password]").fill(password)
    await form.get_by_role("button", name="Sign in").click()
    await expect(page).to_have_url(server.url + "/")


async def signed_in_page(
    browser: Browser, server: GalleryServer, username: str, password: str
) -> Page:
    """A desktop page of a fresh browser context, signed in with the /login form."""
    context = await browser.new_context(viewport=DESKTOP, base_url=server.url)
    context.set_default_timeout(8000)
    page = await context.new_page()
    await sign_in_with_form(page, server, username, password)
    return page


class BrowserErrors:
    """Collects what the browser reports as errors on a page.

    CSP violations and script failures show up as console errors. Pages
    answered with an error status on purpose (a form with errors is a 400) are
    logged as "Failed to load resource" too; only those are allowed.
    """

    def __init__(self, page: Page) -> None:
        self.errors: list[str] = []
        self.refused_documents: set[str] = set()
        self.failed_loads: list[str] = []
        self.expected: list[tuple[int, str]] = []
        page.on("console", self._on_console)
        page.on("pageerror", self._on_page_error)
        page.on("response", self._on_response)

    def _on_console(self, message: ConsoleMessage) -> None:
        if message.type != "error":
            return
        url = message.location.get("url", "")
        if message.text.startswith("Failed to load resource"):
            self.failed_loads.append(url)
        else:
            self.errors.append(f"console: {message.text} ({url})")

    def expect_refusal(self, status: int, path: str) -> None:
        """A request the test makes fail on purpose (a script's call answered 400, say)."""
        self.expected.append((status, path))

    def _is_expected(self, url: str, status: int | None = None) -> bool:
        return any(
            url.endswith(path) and status in (None, expected) for expected, path in self.expected
        )

    def _on_response(self, response: PageResponse) -> None:
        if response.status < 400 or self._is_expected(response.url, response.status):
            return
        if response.request.resource_type == "document":
            self.refused_documents.add(response.url)
        else:
            self.errors.append(f"{response.status} for {response.url}")

    def _on_page_error(self, error: PlaywrightError) -> None:
        self.errors.append(f"pageerror: {error}")

    def assert_none(self) -> None:
        errors = list(self.errors)
        errors += [
            f"console: Failed to load resource {url}"
            for url in self.failed_loads
            if url not in self.refused_documents and not self._is_expected(url)
        ]
        assert errors == [], "the browser reported errors (a CSP violation?):\n" + "\n".join(errors)


# -- forms over HTTP, as a browser posts them ---------------------------------

META_CSRF = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


async def csrf_token(client: httpx.AsyncClient, path: str = "/") -> str:
    """The CSRF token a page of the running server renders for this client."""
    response = await client.get(path)
    assert response.status_code == 200, response.text
    found = META_CSRF.search(response.text)
    assert found, f"no csrf meta tag on {path}"
    return found.group(1)


async def post_form(client: httpx.AsyncClient, path: str, data: dict[str, str]) -> httpx.Response:
    """POST a form to the running server with the token a page gave this client."""
    form = {**data, "csrf_token": await csrf_token(client)}
    return await client.post(path, data=form)


async def seed_site(
    settings: Settings, usernames: tuple[str, ...], password: str, **forged: int
) -> None:
    """Active accounts for ``usernames`` (with ``password``), then other people's photos
    through the real pipeline (``gallery.devtools.forge`` with the ``forged`` counts)."""
    runtime = Runtime.from_settings(settings)
    await runtime.start(run_worker=False)
    try:
        for username in usernames:
            await make_active_user(runtime, username, f"{username}@example.com", password)
        await forge.forge(runtime.db, runtime.storage, runtime.redis, **forged)
    finally:
        await runtime.stop()

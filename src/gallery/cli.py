"""The ``gallery`` command: serve, worker, create-admin."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import click

from gallery.infra.db import Database
from gallery.infra.runtime import Runtime
from gallery.settings import Settings

log = logging.getLogger("gallery")


def setup_logging(verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s [%(name)s] %(message)s",
    )


def find_project_file(name: str) -> Path | None:
    """A file of the checkout (alembic.ini, hypercorn.toml): the working folder first."""
    for folder in (Path.cwd(), Path(__file__).resolve().parents[2]):
        if (folder / name).exists():
            return folder / name
    return None


def upgrade_schema(database_url: str) -> None:
    """Bring the database to the newest Alembic revision."""
    from alembic import command
    from alembic.config import Config

    ini = find_project_file("alembic.ini")
    if ini is None:
        raise click.ClickException("alembic.ini not found: run gallery from the repository root.")
    config = Config(str(ini))
    config.attributes["database_url"] = database_url
    config.attributes["configure_logging"] = False
    command.upgrade(config, "head")


@asynccontextmanager
async def started_runtime(settings: Settings) -> AsyncIterator[Runtime]:
    runtime = Runtime.from_settings(settings)
    await runtime.start(run_worker=False)
    try:
        yield runtime
    finally:
        await runtime.stop()


@click.group()
@click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
def main(verbose: bool) -> None:
    """Gallery, an image-sharing site."""
    setup_logging(verbose)


@main.command()
@click.option("--bind", "binds", multiple=True, help="Override hypercorn.toml's bind (repeatable).")
@click.option("--workers", type=int, default=None, help="Override hypercorn.toml's workers.")
def serve(binds: tuple[str, ...], workers: int | None) -> None:
    """Run the site under Hypercorn with hypercorn.toml.

    On the embedded default this first brings the schema to head and starts the
    embedded Redis server, which every Hypercorn worker then shares.
    """
    settings = Settings()
    settings.resolve_secret_key()  # refuse to start now rather than in every worker
    embedded = None
    if settings.is_sqlite:
        upgrade_schema(str(settings.database_url))
    if settings.uses_embedded_redis:
        from gallery.infra.redis import EmbeddedRedis

        embedded = EmbeddedRedis(settings.instance_dir)
        asyncio.run(embedded.ensure_running())
    config = find_project_file("hypercorn.toml")
    command = [sys.executable, "-m", "hypercorn"]
    if config is not None:
        command += ["--config", str(config)]
    for bind in binds:
        command += ["--bind", bind]
    if workers is not None:
        command += ["--workers", str(workers)]
    command.append("gallery.asgi:app")
    click.echo(f"Serving Gallery on {', '.join(binds) or 'the address in hypercorn.toml'}")
    # Hypercorn runs in its own session so that Ctrl-C in a terminal reaches
    # only us: its multi-worker shutdown handler deadlocks when a second signal
    # arrives while it handles the first, so it must get exactly one.
    process = subprocess.Popen(command, env=os.environ.copy(), start_new_session=True)  # noqa: S603
    signals_received = 0

    def forward(signum: int, _frame: object) -> None:
        # The first signal asks Hypercorn to drain in-flight requests; a second
        # one (an impatient Ctrl-C) ends it at once. Either way we then stop
        # the embedded Redis that only we know about.
        nonlocal signals_received
        signals_received += 1
        if signals_received == 1:
            process.send_signal(signum)
        else:
            os.killpg(process.pid, signal.SIGKILL)  # Hypercorn and its workers

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    try:
        code = process.wait()
    finally:
        if embedded is not None:
            asyncio.run(embedded.stop())
    sys.exit(code)


@main.command()
def worker() -> None:
    """Run the background jobs (mail outbox) in this process until stopped."""
    settings = Settings()

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        async with started_runtime(settings) as runtime:
            await runtime.outbox_worker().run(stop)

    asyncio.run(run())


@main.command("create-admin")
@click.argument("username")
@click.argument("email")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def create_admin(username: str, email: str, password_stdin: bool) -> None:
    """Create an active administrator account."""
    from gallery.services import accounts

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    settings = Settings()
    if settings.is_sqlite:
        upgrade_schema(str(settings.database_url))

    async def run() -> str:
        database = Database(str(settings.database_url))
        try:
            async with database.session() as session:
                user = await accounts.create_admin(
                    session, username=username, email=email, password=password
                )
                return user.username
        finally:
            await database.dispose()

    try:
        name = asyncio.run(run())
    except accounts.AccountError as error:
        raise click.ClickException(error.message) from error
    click.echo(f"Administrator {name} created.")


if __name__ == "__main__":
    main()

"""The fault-drill harness: private Redis and MariaDB servers, and Gallery on them.

A drill breaks something for real and checks what the site does about it. It
must never break the servers other tests (or other people) use, so every
server here is private: started by the harness from the system's binaries, on
a free port, with its data in a temporary folder, and gone after the drill.

Fixtures:

* ``private_redis`` (per test): a ``redis-server`` with AOF on, so ``stop()``
  then ``start()`` (same port, same data folder) keeps the data; ``freeze()``
  (SIGSTOP: the server accepts nothing and answers nothing, as a hung one) and
  ``thaw()`` (SIGCONT).
* ``private_mariadb`` (per session, it takes seconds to create): a data folder
  made by ``mariadb-install-db``, a ``mariadbd`` on a free TCP port and its own
  socket, the ``gallery`` database at Alembic head; ``stop()`` (SIGTERM, and
  wait) and ``start()`` on the same data folder. Drills get empty tables:
  ``drill_gallery`` empties them before and after.
* ``drill_gallery`` (per test): ``gallery serve`` (the supervising master, two
  workers) with ``GALLERY_ENV=production`` on those two servers; it answers
  when the drill starts and is stopped at teardown. It offers ``url``,
  ``worker_pids()``, ``rss_of(pid)`` and ``log`` (everything it printed).

Every test in this folder is marked ``faults`` (``-m faults`` selects them).
A drill reads like::

    async def test_the_site_survives_a_redis_restart(drill_gallery, private_redis):
        await private_redis.stop()
        ...  # what visitors get meanwhile
        await private_redis.start()
        ...  # and after
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncmy
import pytest

from gallery.cli import upgrade_schema
from gallery.infra.runtime import Runtime
from gallery.settings import Settings
from tests.browser.conftest import GalleryServer, server_environment
from tests.conftest import _empty_everything, _recreate_mariadb_database, build_settings
from tests.mailbox import free_port
from tests.private_servers import PrivateRedis, end_process, wait_until_ready

MARIADB_INSTALL_DB = "mariadb-install-db"
MARIADBD = "mariadbd"
DRILL_WORKERS = 2


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if item.path.is_relative_to(here):
            item.add_marker(pytest.mark.faults)


# -- MariaDB ------------------------------------------------------------------


class PrivateMariaDB:
    """A ``mariadbd`` of the drill session's own, root without a password, on TCP."""

    database = "gallery"

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.socket = data_dir / "mariadbd.sock"
        self.log_path = data_dir / "error.log"
        self.url = f"mysql+asyncmy://root@127.0.0.1:{self.port}/{self.database}?charset=utf8mb4"
        self.process: subprocess.Popen[bytes] | None = None

    def install(self) -> None:
        """Create the system tables in the empty data folder (blocking: session set-up)."""
        as_root = ["--user=root"] if os.geteuid() == 0 else []
        result = subprocess.run(
            [
                MARIADB_INSTALL_DB,
                "--no-defaults",  # not the machine's my.cnf: its datadir, socket, port
                f"--datadir={self.data_dir}",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
                *as_root,
            ],
            capture_output=True,
            check=False,
        )
        if result.returncode != 0:
            pytest.fail(
                f"mariadb-install-db failed:\n{result.stdout.decode()}{result.stderr.decode()}"
            )

    async def start(self) -> None:
        """Start (or restart) on the same port, socket and data folder; returns once it answers."""
        assert self.process is None, "mariadbd is running already"
        as_root = ["--user=root"] if os.geteuid() == 0 else []
        self.process = subprocess.Popen(
            [
                MARIADBD,
                "--no-defaults",
                f"--datadir={self.data_dir}",
                f"--port={self.port}",
                "--bind-address=127.0.0.1",
                f"--socket={self.socket}",
                f"--pid-file={self.data_dir / 'mariadbd.pid'}",
                f"--log-error={self.log_path}",
                "--skip-log-bin",
                "--innodb-buffer-pool-size=64M",
                *as_root,
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        await wait_until_ready(self.ping, "mariadbd", self.process, self.log_path)

    async def ping(self) -> bool:
        connection = await asyncmy.connect(
            host="127.0.0.1", port=self.port, user="root", connect_timeout=1
        )
        connection.close()
        return True

    async def stop(self) -> None:
        """SIGTERM: MariaDB shuts down cleanly; returns once it has exited."""
        process, self.process = self.process, None
        if process is not None:
            await end_process(process, "mariadbd")


@pytest.fixture(scope="session")
def private_mariadb() -> Iterator[PrivateMariaDB]:
    """A private MariaDB for the drills of this session, ``gallery`` at Alembic head."""
    data_dir = Path(tempfile.mkdtemp(prefix="gal-mariadb-", dir="/tmp"))
    mariadb = PrivateMariaDB(data_dir)
    try:
        mariadb.install()
        asyncio.run(mariadb.start())
        asyncio.run(_recreate_mariadb_database(mariadb.url))
        upgrade_schema(mariadb.url)
        yield mariadb
    finally:
        asyncio.run(mariadb.stop())
        shutil.rmtree(data_dir, ignore_errors=True)


# -- Gallery ------------------------------------------------------------------


class DrillGallery(GalleryServer):
    """``gallery serve`` in production shape; its workers and their memory in view."""

    settings: Settings  # the test settings for the same servers (for a Runtime of the drill's)

    @property
    def log(self) -> str:
        """Everything the master and its workers printed so far."""
        return self.output()

    @staticmethod
    def rss_of(pid: int) -> int:
        """The resident memory of process ``pid``, in bytes (VmRSS in /proc)."""
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise AssertionError(f"no VmRSS for process {pid}")


def gallery_serve_command(port: int, workers: int) -> list[str]:
    """``gallery serve`` as production runs it (hypercorn.toml, no access log)."""
    return [
        sys.executable,
        "-m",
        "gallery.cli",
        "serve",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--no-access-log",
    ]


@pytest.fixture
async def drill_gallery(
    private_mariadb: PrivateMariaDB, private_redis: PrivateRedis, tmp_path: Path
) -> AsyncIterator[DrillGallery]:
    """Gallery (two workers, production settings) on the private servers, answering ``/``.

    Tables, Redis and the instance folder are empty before it starts and after
    it stops. Mail goes to ``<instance>/mail`` (no SMTP server).
    """
    instance = tmp_path / "instance"
    instance.mkdir()
    backend: dict[str, object] = {
        "database_url": private_mariadb.url,
        "redis_url": private_redis.url,
        "smtp": None,
        # The drills break MariaDB and Redis; photos stay in the instance folder.
        "storage": {},
    }
    settings = build_settings(backend, instance)
    await _empty_everything(settings)
    port = free_port()
    env = server_environment(backend, instance, f"http://127.0.0.1:{port}")
    # Production: no tracebacks, the real secret key check; plain HTTP on loopback.
    env.update({"GALLERY_ENV": "production", "GALLERY_COOKIE_SECURE": "false"})
    log_dir = tmp_path / "gallery"
    log_dir.mkdir()
    gallery = DrillGallery(
        env, port, DRILL_WORKERS, log_dir, gallery_serve_command(port, DRILL_WORKERS)
    )
    gallery.settings = settings
    await gallery.start()
    try:
        yield gallery
    finally:
        await gallery.stop()
        # A drill that failed half-way may leave a server stopped or frozen: the
        # next drill (MariaDB is shared by the session) needs it back.
        if private_redis.frozen:
            private_redis.thaw()
        if private_redis.process is None:
            await private_redis.start()
        if private_mariadb.process is None:
            await private_mariadb.start()
        await _empty_everything(settings)


@pytest.fixture
async def drill_runtime(drill_gallery: DrillGallery) -> AsyncIterator[Runtime]:
    """A runtime on the drill's servers, to make users and photos through the services."""
    runtime = Runtime.from_settings(drill_gallery.settings)
    await runtime.start(run_worker=False)
    try:
        yield runtime
    finally:
        await runtime.stop()

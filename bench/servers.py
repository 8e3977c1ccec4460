"""The processes the benchmark needs: MariaDB and Redis (started only if down) and
the two Hypercorn servers it measures (started and stopped here)."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
HYPERCORN_CONFIG = REPO / "hypercorn.toml"
# hypercorn.toml's graceful_timeout is 30 s; give the workers that and a little more.
STOP_TIMEOUT_SECONDS = 40
START_TIMEOUT_SECONDS = 60


class ServiceError(RuntimeError):
    """A server the benchmark needs did not come up."""


def wait_for(check: Callable[[], bool], seconds: float, interval: float = 0.5) -> bool:
    """Call ``check()`` until it returns True or ``seconds`` have passed."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(interval)
    return False


def succeeds(command: list[str]) -> bool:
    try:
        return subprocess.run(command, capture_output=True, timeout=10, check=False).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def mariadb_answers() -> bool:
    return succeeds(["mysqladmin", "-uroot", "-h127.0.0.1", "--connect-timeout=2", "ping"])


def redis_answers() -> bool:
    try:
        ping = subprocess.run(
            ["redis-cli", "-h", "127.0.0.1", "ping"], capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return ping.stdout.strip() == "PONG"


def ensure_mariadb() -> None:
    """Start the machine's MariaDB if it does not answer (never stop it: it is shared)."""
    if mariadb_answers():
        return
    print("MariaDB does not answer: starting it", file=sys.stderr)
    # Debian's init script would create the socket folder; we bypass the script.
    subprocess.run(["install", "-d", "-o", "mysql", "-g", "mysql", "/run/mysqld"], check=True)
    subprocess.run(
        ["start-stop-daemon", "--start", "--oknodo", "--background",
         "--exec", "/usr/sbin/mariadbd"],
        check=True,
    )  # fmt: skip
    if not wait_for(mariadb_answers, 60, interval=1):
        raise ServiceError("MariaDB did not answer within 60 s")


def ensure_redis() -> None:
    """Start the machine's Redis if it does not answer; it keeps nothing on disk."""
    if redis_answers():
        return
    print("Redis does not answer: starting it", file=sys.stderr)
    Path("/var/lib/redis").mkdir(parents=True, exist_ok=True)
    Path("/var/log/redis").mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["redis-server", "--daemonize", "yes", "--bind", "127.0.0.1", "-::1",
         "--port", "6379", "--save", "", "--appendonly", "no",
         "--dir", "/var/lib/redis", "--logfile", "/var/log/redis/ci.log"],
        check=True,
    )  # fmt: skip
    if not wait_for(redis_answers, 30, interval=1):
        raise ServiceError("Redis did not answer within 30 s")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    """One Hypercorn master (and its workers) started by the benchmark."""

    name: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"


def start_hypercorn(
    name: str, app: str, env: dict[str, str], log: Path, *, port: int | None = None
) -> Server:
    """``hypercorn --config hypercorn.toml`` on a free loopback port.

    The command line's --bind replaces the config's ``bind`` (Hypercorn 0.18
    applies command-line options after loading the file); everything else,
    workers included, comes from hypercorn.toml, as in production. Its access
    log goes to a file, as a deployment's would go to a journal, not to a pipe
    that nobody reads (which would fill and stall the workers).
    """
    port = port or free_port()
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "hypercorn", "--config", str(HYPERCORN_CONFIG),
             "--bind", f"127.0.0.1:{port}", app],
            cwd=REPO, env=env, stdout=output, stderr=subprocess.STDOUT,
            # Its own session: a Ctrl-C in the terminal reaches only the
            # driver, which then stops the server in order (stop_server).
            start_new_session=True,
        )  # fmt: skip
    server = Server(name=name, port=port, process=process, log=log)
    wait_until_serving(server)
    check_port_is_ours(server)
    return server


def listening_pids(port: int) -> set[int] | None:
    """Who listens on 127.0.0.1:``port`` (None when ``ss`` cannot tell us)."""
    if shutil.which("ss") is None:
        return None
    found = subprocess.run(
        ["ss", "-Hltnp", f"sport = :{port}"], capture_output=True, text=True, timeout=10
    )
    if found.returncode != 0:
        return None
    return {int(pid) for pid in re.findall(r"pid=(\d+)", found.stdout)}


def check_port_is_ours(server: Server) -> None:
    """With more than one worker Hypercorn binds with SO_REUSEPORT, so a second
    server that picked the same port binds without an error and the kernel
    splits the connections between the two: the numbers would be nobody's."""
    ours = {server.pid, *child_pids(server.pid)}
    listeners = listening_pids(server.port)
    if listeners is not None and not listeners <= ours:
        raise ServiceError(
            f"{server.name}: port {server.port} is also served by processes "
            f"{sorted(listeners - ours)}; run again"
        )


def wait_until_serving(server: Server) -> None:
    """Until it answers a request (any status will do); the warm-up of the first
    measurement gives a worker that is still importing the app time to join."""

    def answers() -> bool:
        if server.process.poll() is not None:
            raise ServiceError(
                f"{server.name} exited with {server.process.returncode}:\n{server.log_tail()}"
            )
        try:
            httpx.get(server.base_url + "/", timeout=5)
        except httpx.TransportError:
            return False
        return True

    if not wait_for(answers, START_TIMEOUT_SECONDS, interval=0.2):
        raise ServiceError(
            f"{server.name} did not answer within {START_TIMEOUT_SECONDS} s:\n{server.log_tail()}"
        )


def child_pids(pid: int) -> list[int]:
    children: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            children += [int(child) for child in (task / "children").read_text().split()]
    return children


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def cpu_seconds(pid: int) -> float | None:
    """The user and system CPU time a process has used so far (/proc/<pid>/stat)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The fields after the command's ")" (which may itself hold spaces):
    # utime and stime are the 14th and 15th of the whole line.
    fields = stat.rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def worker_pids(master: int) -> list[int]:
    """Hypercorn's workers: the master's spawned children, not multiprocessing's
    resource tracker (also a child, and no worker)."""
    return sorted(
        pid
        for pid in child_pids(master)
        if "spawn_main" in command_line(pid) and "resource_tracker" not in command_line(pid)
    )


def connections_per_worker(port: int, workers: list[int]) -> list[int]:
    """How many established connections each worker holds on ``port`` (in the
    order of ``workers``); empty when ``ss`` cannot tell. The workers share one
    listening socket and whichever is awake accepts, so the split can be far
    from even, and a lopsided one leaves a core idle."""
    if shutil.which("ss") is None:
        return []
    found = subprocess.run(
        ["ss", "-Htnp", "state", "established", f"( sport = :{port} )"],
        capture_output=True,
        text=True,
        timeout=10,
    )
    holders = [int(pid) for pid in re.findall(r"pid=(\d+)", found.stdout)]
    return [holders.count(pid) for pid in workers]


def rss_mib(pid: int) -> float | None:
    """A process's resident memory (VmRSS) in MiB, or None once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def stop_server(server: Server) -> None:
    """SIGTERM (Hypercorn's graceful shutdown), wait, then SIGKILL whatever is left."""
    if server.process.poll() is not None:
        return
    workers = worker_pids(server.pid)
    server.process.send_signal(signal.SIGTERM)
    try:
        server.process.wait(timeout=STOP_TIMEOUT_SECONDS)
        return
    except subprocess.TimeoutExpired:
        print(f"{server.name} ignored SIGTERM for {STOP_TIMEOUT_SECONDS} s: killing it")
    server.process.kill()
    server.process.wait(timeout=10)
    # Its workers would outlive a killed master; these pids are still ours as
    # long as they are orphaned spawn children.
    for pid in workers:
        if "spawn_main" in command_line(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

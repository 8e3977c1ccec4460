"""Running wrk and reading what it printed."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

WRK = "/usr/bin/wrk"
STATUS_SCRIPT = Path(__file__).with_name("statuses.lua")
THREADS = 2
# wrk's own per-request timeout: a request slower than this counts as a
# socket timeout instead of a latency sample.
REQUEST_TIMEOUT_SECONDS = 10
# How long past its --duration wrk may take (closing 1,024 sockets, a slow
# last response) before we give up on it.
GRACE_SECONDS = 30

REQUESTS_PER_SECOND = re.compile(r"^Requests/sec:\s+([\d.]+)", re.MULTILINE)
PERCENTILE = re.compile(r"^\s+(50|75|90|99)%\s+([\d.]+)(us|ms|s|m|h)\s*$", re.MULTILINE)
SOCKET_ERRORS = re.compile(
    r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", re.MULTILINE
)
STATUSES = re.compile(r"^STATUSES 1xx=(\d+) 2xx=(\d+) 3xx=(\d+) 4xx=(\d+) 5xx=(\d+)$", re.MULTILINE)
MILLISECONDS_PER_UNIT = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}


class WrkError(RuntimeError):
    """wrk failed or printed something we cannot read."""


@dataclass(frozen=True)
class SocketErrors:
    connect: int = 0
    read: int = 0
    write: int = 0
    timeout: int = 0

    @property
    def other_than_timeouts(self) -> int:
        return self.connect + self.read + self.write


@dataclass(frozen=True)
class StatusCounts:
    informational: int
    success: int
    redirection: int
    client_error: int
    server_error: int


@dataclass(frozen=True)
class WrkResult:
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    socket_errors: SocketErrors
    statuses: StatusCounts


def wrk_command(url: str, connections: int, duration: int, headers: dict[str, str]) -> list[str]:
    command = [
        WRK,
        f"-t{THREADS}",
        f"-c{connections}",
        f"-d{duration}s",
        "--latency",
        "--timeout",
        f"{REQUEST_TIMEOUT_SECONDS}s",
        "-s",
        str(STATUS_SCRIPT),
    ]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    return [*command, url]


def start_wrk(
    url: str, connections: int, duration: int, headers: dict[str, str]
) -> subprocess.Popen[str]:
    """Start driving ``url`` with ``connections`` connections for ``duration`` seconds."""
    return subprocess.Popen(
        wrk_command(url, connections, duration, headers),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish_wrk(process: subprocess.Popen[str], duration: int) -> WrkResult:
    """Wait for wrk (within bounds) and read its numbers."""
    try:
        output, errors = process.communicate(
            timeout=duration + REQUEST_TIMEOUT_SECONDS + GRACE_SECONDS
        )
    except BaseException:
        process.kill()
        process.wait()
        raise
    if process.returncode != 0:
        raise WrkError(f"wrk exited with {process.returncode}: {errors.strip()}")
    return parse_wrk_output(output)


def run_wrk(url: str, connections: int, duration: int, headers: dict[str, str]) -> WrkResult:
    return finish_wrk(start_wrk(url, connections, duration, headers), duration)


def milliseconds(value: str, unit: str) -> float:
    return float(value) * MILLISECONDS_PER_UNIT[unit]


def parse_wrk_output(output: str) -> WrkResult:
    """The numbers we report, from wrk's text output and our script's STATUSES line."""
    rate = REQUESTS_PER_SECOND.search(output)
    statuses = STATUSES.search(output)
    percentiles = {
        m.group(1): milliseconds(m.group(2), m.group(3)) for m in PERCENTILE.finditer(output)
    }
    if rate is None or statuses is None:
        raise WrkError(f"cannot read wrk's output:\n{output}")
    # wrk prints no latency distribution when not a single request completed.
    nothing = float("nan")
    # No "Socket errors" line means there were none.
    errors = SOCKET_ERRORS.search(output)
    return WrkResult(
        requests_per_second=float(rate.group(1)),
        p50_ms=percentiles.get("50", nothing),
        p99_ms=percentiles.get("99", nothing),
        socket_errors=SocketErrors(*map(int, errors.groups())) if errors else SocketErrors(),
        statuses=StatusCounts(*map(int, statuses.groups())),
    )

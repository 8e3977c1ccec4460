"""What one request costs a worker, with and without open live sockets, counted by
callgrind rather than timed.

    python bench/instructions.py [--sockets 4000] [--requests 400] [--path /]
    make bench-instructions BENCH_ARGS="--sockets 4000"

Timing cannot settle whether thousands of open sockets make each request
dearer: on this shared machine two identical one-worker servers measured one
right after the other differ by 8-15 % (README, "Benchmark"). Callgrind counts
instead: the instructions a process executes, and the misses of a simulated
cache sized like this CPU's (its L1 and, as the "last level", its L2), the
same counts from one run to the next whatever else the machine is doing.

The script forges a small site on the embedded back-end (SQLite and the
embedded Redis, in a temporary folder) and serves it from one process under
``valgrind --tool=callgrind``, twice: once with no socket, once with
``--sockets`` idle live sockets open (bench/live_client.py, outside valgrind).
Each time, after a warm-up, counting is switched on for exactly ``--requests``
requests to ``--path`` (from a client outside valgrind too) and off again, and
the counts are divided by the requests.

The live sockets' keep-alives are off in the counted process: under valgrind a
request takes some fifty times longer, so every socket's keep-alive (one per
25 s) would land fifty times as often per request. What they cost is the
subject's idle CPU in the live phase of ``make bench``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from servers import HYPERCORN_CONFIG, REPO, free_port

LIVE_CLIENT = REPO / "bench" / "live_client.py"
# A small site: enough photos, comments and likes for the feed to be a real page.
FORGE_ARGS = ["--users", "30", "--images", "120", "--comments", "200", "--likes", "300",
              "--follows", "40", "--seed", "1"]  # fmt: skip
WARM_UP_REQUESTS = 400
CLIENT_CONNECTIONS = 4
# Where callgrind's counters are read: the line that sums a dump.
TOTALS = re.compile(r"^totals:\s+(.*)$", re.MULTILINE)
EVENTS = re.compile(r"^events:\s+(.*)$", re.MULTILINE)
L2_MISSES = ("ILmr", "DLmr", "DLmw")  # instruction reads, data reads, data writes


def runs_to_count(sockets: int) -> list[tuple[str, int]]:
    """Without sockets, with, and without again: the two runs without show how
    far counts move between processes that do the very same thing."""
    return [("before", 0), ("with", sockets), ("after", 0)]


@dataclass
class Counts:
    sockets: int
    requests: int
    events: dict[str, int]

    def per_request(self, *names: str) -> float:
        return sum(self.events[name] for name in names) / self.requests


def l2_cache() -> str:
    """valgrind's ``--LL`` for this CPU's L2 (size, ways, line), or a common one."""
    index = Path("/sys/devices/system/cpu/cpu0/cache/index2")
    try:
        size = (index / "size").read_text().strip()
        ways = int((index / "ways_of_associativity").read_text())
        line = int((index / "coherency_line_size").read_text())
        factor = {"K": 1024, "M": 1024 * 1024}[size[-1]]
        return f"{int(size[:-1]) * factor},{ways},{line}"
    except (OSError, ValueError, KeyError):
        return f"{2 * 1024 * 1024},16,64"


# --- the load: exactly N requests, from a process of its own -----------------


def send_requests(port: int, path: str, total: int, connections: int) -> Counter[int]:
    """``total`` GETs over ``connections`` keep-alive connections; the statuses seen."""
    statuses: Counter[int] = Counter()
    lock = threading.Lock()

    def one_connection(count: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
        for _ in range(count):
            connection.request("GET", path)
            response = connection.getresponse()
            response.read()
            with lock:
                statuses[response.status] += 1
        connection.close()

    shares = [total // connections + (i < total % connections) for i in range(connections)]
    threads = [threading.Thread(target=one_connection, args=(share,)) for share in shares]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return statuses


# --- the counted process: Gallery in-process, and what drives it -------------


async def command(*argv: str) -> str:
    process = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    return (await process.communicate())[0].decode()


async def load(port: int, path: str, requests: int) -> dict[str, int]:
    output = await command(sys.executable, __file__, "--load", str(port), path, str(requests))
    return {str(status): count for status, count in json.loads(output).items()}


async def drive(port: int, sockets: int, path: str, requests: int) -> None:
    """Warm up, open the sockets, count ``requests`` requests; report on stdout."""
    while True:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.5)
            continue
        writer.close()
        break
    report: dict[str, object] = {"warm_up": await load(port, path, WARM_UP_REQUESTS)}
    client = None
    if sockets:
        client = await asyncio.create_subprocess_exec(
            sys.executable, str(LIVE_CLIENT), "--url", f"ws://127.0.0.1:{port}/api/v1/live",
            "--origin", f"http://127.0.0.1:{port}", "--sockets", str(sockets),
            "--compression", "none",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        assert client.stdout is not None and client.stdin is not None
        report["opened"] = json.loads(await client.stdout.readline())["open"]
    # A second warm-up in every run, so that runs with and without sockets have
    # served the same requests when counting starts (and the handshakes' own
    # first-time paths are behind).
    report["warm_up_again"] = await load(port, path, WARM_UP_REQUESTS)
    pid = str(os.getpid())
    await command("callgrind_control", "--instr=on", pid)
    report["counted"] = await load(port, path, requests)
    await command("callgrind_control", "--dump", pid)
    if client is not None:
        assert client.stdout is not None and client.stdin is not None
        # Still open after the count, or the count was not "with sockets".
        client.stdin.write(b'{"cmd": "status"}\n')
        await client.stdin.drain()
        report["still_open"] = json.loads(await client.stdout.readline())["open"]
        client.stdin.write(b'{"cmd": "close"}\n')
        await client.stdin.drain()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(client.wait(), 60)
    print(json.dumps(report), flush=True)
    os._exit(0)  # the dump above is the result; no shutdown to count or wait for


def serve(port: int, sockets: int, path: str, requests: int) -> None:
    """One Gallery process as a worker runs it (uvloop, hypercorn.toml), minus keep-alives."""
    import hypercorn.asyncio
    import uvloop
    from hypercorn.config import Config

    from gallery import create_app
    from gallery.cli import settings_with_current_schema
    from gallery.serving import decline_websocket_compression, tune_garbage_collector

    decline_websocket_compression()
    tune_garbage_collector()
    app = create_app(settings_with_current_schema())
    config = Config.from_toml(HYPERCORN_CONFIG)
    config.bind = [f"127.0.0.1:{port}"]
    config.startup_timeout = 600  # everything is slower under valgrind, starting too
    config.keep_alive_timeout = 600  # a connection waits on a slowed server between requests

    async def main() -> None:
        asyncio.get_running_loop().create_task(drive(port, sockets, path, requests))
        await hypercorn.asyncio.serve(app, config)  # type: ignore[arg-type]

    uvloop.run(main())


# --- the driver: forge, run under callgrind twice, compare -------------------


def site_environment(instance: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GALLERY_")}
    env.update(
        GALLERY_INSTANCE_DIR=str(instance),
        GALLERY_ENV="production",
        GALLERY_SECRET_KEY=secrets.token_urlsafe(32),
        GALLERY_PUBLIC_URL="http://127.0.0.1",
        GALLERY_RUN_WORKER="false",
        # Under valgrind everything is slower; nothing here is an outage.
        GALLERY_REDIS_TIMEOUT_SECONDS="30",
        GALLERY_POOL_TIMEOUT_SECONDS="60",
        GALLERY_LIVE_KEEPALIVE_SECONDS="86400",  # off: see the module's docstring
    )
    return env


@contextlib.contextmanager
def embedded_redis(instance: Path) -> Iterator[None]:
    """The site's embedded Redis, started here rather than by the counted process:
    under valgrind, uvloop never saw the daemonizing ``redis-server`` exit."""
    from gallery.infra.redis import EmbeddedRedis

    redis = EmbeddedRedis(instance)
    asyncio.run(redis.ensure_running())
    try:
        yield
    finally:
        asyncio.run(redis.stop())


def counted_run(
    env: dict[str, str], out: Path, name: str, sockets: int, path: str, requests: int
) -> Counts:
    port = free_port()
    started = time.monotonic()
    result = subprocess.run(
        ["valgrind", "--tool=callgrind", "--instr-atstart=no", "--cache-sim=yes",
         f"--LL={l2_cache()}", f"--callgrind-out-file={out}/callgrind.{name}.%p",
         sys.executable, __file__, "--serve", str(port), str(sockets), path, str(requests)],
        env=env, capture_output=True, text=True, timeout=3600,
    )  # fmt: skip
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    report = json.loads(lines[-1]) if lines else None
    if report is None:
        raise SystemExit(f"the counted run failed:\n{result.stdout}\n{result.stderr[-3000:]}")
    if report["counted"] != {"200": requests}:
        raise SystemExit(f"not every counted request was a 200: {report['counted']}")
    if sockets and not (report["opened"] == report["still_open"] == sockets):
        raise SystemExit(f"sockets did not stay open: {report}")
    dumps = sorted(out.glob(f"callgrind.{name}.*.1"))
    if not dumps:
        raise SystemExit(f"callgrind wrote no dump:\n{result.stderr[-3000:]}")
    text = dumps[-1].read_text(errors="replace")
    names = EVENTS.search(text)
    totals = TOTALS.search(text)
    assert names is not None and totals is not None
    events = dict(zip(names.group(1).split(), map(int, totals.group(1).split()), strict=True))
    print(
        f"  {name}: {sockets:,} sockets, counted in {time.monotonic() - started:.0f} s", flush=True
    )
    return Counts(sockets=sockets, requests=requests, events=events)


def render(runs: list[Counts], path: str, l2: str) -> list[str]:
    size, ways, _ = l2.split(",")
    lines = [
        f"Per request to {path} ({runs[0].requests} counted in each run; L2 as simulated: "
        f"{int(size) // 1024} KiB, {ways}-way):",
        "",
        "| run | open sockets | instructions | L1 data misses | L2 misses (all) |",
        "|---|---:|---:|---:|---:|",
    ]
    for (name, _), run in zip(runs_to_count(runs[1].sockets), runs, strict=True):
        lines.append(
            f"| {name} | {run.sockets:,} | {run.per_request('Ir'):,.0f} "
            f"| {run.per_request('D1mr', 'D1mw'):,.0f} "
            f"| {run.per_request(*L2_MISSES):,.0f} |"
        )
    before, with_sockets, after = runs

    def change(*events: str) -> str:
        without = (before.per_request(*events) + after.per_request(*events)) / 2
        return f"{with_sockets.per_request(*events) / without - 1:+.1%}"

    def between(*events: str) -> str:
        return f"{after.per_request(*events) / before.per_request(*events) - 1:+.1%}"

    lines += [
        "",
        f"With {with_sockets.sockets:,} sockets open, against the mean of the runs without: "
        f"instructions {change('Ir')}, L2 misses {change(*L2_MISSES)} "
        f"(after against before, both without: {between('Ir')} and {between(*L2_MISSES)}).",
    ]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--sockets", type=int, default=4000, help="open sockets in the second run")
    parser.add_argument("--requests", type=int, default=400, help="requests counted per run")
    parser.add_argument("--path", default="/", help="what is asked for (default: the home feed)")
    parser.add_argument("--keep", action="store_true", help="keep the site and callgrind's files")
    parser.add_argument("--serve", nargs=4, help=argparse.SUPPRESS)
    parser.add_argument("--load", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.load:
        port, path, total = args.load
        print(json.dumps(send_requests(int(port), path, int(total), CLIENT_CONNECTIONS)))
        return
    if args.serve:
        port, sockets, path, requests = args.serve
        serve(int(port), int(sockets), path, int(requests))
        return
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (make bench-instructions installs it)")
    folder = Path(tempfile.mkdtemp(prefix="gal-instr-", dir="/tmp"))
    try:
        env = site_environment(folder / "instance")
        print(f"Forging a small site in {folder} ...", flush=True)
        subprocess.run([sys.executable, "-m", "gallery.cli", "forge", *FORGE_ARGS], env=env,
                       check=True, capture_output=True)  # fmt: skip
        with embedded_redis(folder / "instance"):
            runs = [counted_run(env, folder, name, sockets, args.path, args.requests)
                    for name, sockets in runs_to_count(args.sockets)]  # fmt: skip
        print("\n".join(["", *render(runs, args.path, l2_cache())]))
    finally:
        if args.keep:
            print(f"kept: {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()

"""`make bench`: production-shaped Gallery against a bare Quart ceiling, driven by wrk.

    python bench/run.py [--duration 10] [--connections 64,256,1024] [--routes feed-304,...]
                        [--users 1000 --images 10000 --comments 30000 --likes 50000]
                        [--keep-running] [--output FILE]
                        [--no-live] [--live-sockets 5000] [--live-connections 64]
                        [--live-broadcasts 5] [--live-rounds 3]
                        [--live-compression deflate|none]

All on 127.0.0.1, every step bounded in time:

1. MariaDB and Redis are started if they do not answer (never stopped: they are
   shared), unless GALLERY_BENCH_DATABASE_URL / GALLERY_BENCH_REDIS_URL say
   where others are.
2. A database of its own (dropped and re-created), a Redis database of its own
   (flushed), ``alembic upgrade head`` and a site inserted in bulk (seeding.py).
3. Two servers from the same hypercorn.toml: Gallery (GALLERY_ENV=production,
   a random secret key) and the ceiling (ceiling.py), a bare Quart route.
4. The user "bench" signs in through the real login form; every route is
   fetched once and must answer what it should (200, or 304 for the polls).
5. At each concurrency, wrk drives the ceiling and then every route, each after
   a warm-up that is not counted; ratios are to the ceiling at the same
   concurrency in the same run.
6. The live phase (issue 14; --no-live skips it): Gallery stops and comes back
   as two one-worker servers on the same data (live.py): the subject, which
   will hold the sockets, and its control, which never does. In each of
   --live-rounds rounds the feed routes are measured on both, one right after
   the other, between two runs of the ceiling, then on both at the same time
   (side by side, each its own wrk), with each worker's CPU time over every
   window (answers per CPU-second); a load client in its own
   process (live_client.py) opens --live-sockets WebSockets to the subject's
   /api/v1/live, all subscribed to the feed; the rounds are measured again;
   the bench user uploads photos through the JSON API and the client times
   each broadcast's arrival on every socket; the subject's RSS and idle CPU
   are read throughout; the sockets close and the rounds are measured again.
   The drop is the subject's rate over the control's: its median with the
   sockets against the mean of the medians before and after them, so that
   neither the machine's swings within a phase nor drift over it count as
   the sockets' cost. It is also given on answers per CPU-second, measured
   one after the other and side by side.
7. The uploads phase (issue 16; --no-uploads skips it), on the two-worker
   Gallery before the live phase: the anonymous and signed-in feeds at 64
   connections, quiet, while two posters post ten-photo posts of a
   12-megapixel iPhone HEIC through the composer's API without pause
   (uploads.py), and quiet again; their p99 latencies and requests/s side by
   side.
8. A Markdown table, the workers' memory, the goals of issue 11, the uploads
   section and the live section with the targets of issue 14 are printed; then the sockets close,
   both servers stop, the database is dropped and the Redis database flushed,
   also after an error or Ctrl-C.

The caller's GALLERY_* variables reach Gallery (to try GALLERY_ACCESS_LOG=false,
say), except those the benchmark must set itself (OWNED_SETTINGS).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import re
import resource
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

import httpx
import redis
from report import CEILING, CEILING_AGAIN, GOAL_CONNECTIONS, Measurement, Memory, number, render
from seeding import (
    BENCH_HIDDEN,
    SeededSite,
    SiteSize,
    database_name,
    drop_database,
    recreate_database,
    seed_site,
)
from servers import (
    HYPERCORN_CONFIG,
    REPO,
    Server,
    ServiceError,
    connections_per_worker,
    cpu_seconds,
    ensure_mariadb,
    ensure_redis,
    free_port,
    rss_mib,
    start_hypercorn,
    stop_server,
    worker_pids,
)
from uploads import PHOTOS_PER_POST, POSTERS, Posting, PostingLog, UploadsError
from wrk import (
    REQUEST_TIMEOUT_SECONDS,
    THREADS,
    WrkError,
    WrkResult,
    finish_wrk,
    run_wrk,
    start_wrk,
)

from live import (
    BROADCAST_PAUSE_SECONDS,
    DELIVERY_TIMEOUT_SECONDS,
    FEED_SLUGS,
    IDLE_CPU_SECONDS,
    LIVE_DURATION_SECONDS,
    LIVE_ROUNDS,
    PUBLICATION_TIMEOUT_SECONDS,
    Broadcast,
    LiveClient,
    LiveError,
    LiveOutcome,
    PublicationWatcher,
    Uploader,
    control_route,
    idle_cpu_share,
    memory_mib,
    render_live,
    skipped_live,
    start_one_worker_gallery,
    together_route,
)

DEFAULT_DATABASE_URL = "mysql+asyncmy://root@127.0.0.1:3306/gallery_bench?charset=utf8mb4"
# Not 15 (the tests') nor 14 (CI's): a benchmark may run next to either.
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/13"
# Settings the benchmark decides; a caller's value for these is not passed on.
OWNED_SETTINGS = frozenset(
    {
        "GALLERY_ENV",
        "GALLERY_SECRET_KEY",
        "GALLERY_DATABASE_URL",
        "GALLERY_REDIS_URL",
        "GALLERY_INSTANCE_DIR",
        "GALLERY_MEDIA_DIR",
        "GALLERY_COOKIE_SECURE",
        "GALLERY_PUBLIC_URL",
    }
)
WARMUP_SECONDS = 2
# After each measurement, the server may still be finishing (or cancelling)
# what the last connections asked for; the next route must not pay for it.
SETTLE_SECONDS = 1
PROBE_TIMEOUT_SECONDS = 60
CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


class BenchError(RuntimeError):
    """Something the benchmark relies on is not as it must be."""


@dataclass(frozen=True)
class Route:
    name: str
    # A short name for --routes (the long ones carry spaces and brackets).
    slug: str
    # {author} and {image} are filled in from the seeded site.
    path: str
    server: str = "gallery"
    signed_in: bool = False
    # Signed in as the user who hides BENCH_HIDDEN accounts (bench/seeding.py).
    hider: bool = False
    # Sends the ETag a previous GET returned, so the answer must be 304.
    poll: bool = False

    @property
    def expected_status(self) -> int:
        return 304 if self.poll else 200

    def path_for(self, site: SeededSite) -> str:
        return self.path.format(author=site.busiest_author, image=site.newest_image_id)


FEED = "/api/v1/feed?limit=20"
# Measured first and again last at each concurrency: the ratios are to the mean
# of the two, and a gap between them shows the machine got busier or quieter.
CEILING_ROUTES = (
    Route(CEILING, "ceiling", "/", server="ceiling"),
    Route(CEILING_AGAIN, "ceiling-again", "/", server="ceiling"),
)
ROUTES = (
    Route("feed 304 poll", "feed-304", FEED, poll=True),
    Route("feed (anonymous)", "feed-anonymous", FEED),
    Route("feed (signed in)", "feed-signed-in", FEED, signed_in=True),
    Route(
        f"feed (signed in, {BENCH_HIDDEN} mutes, {BENCH_HIDDEN} blocks)",
        "feed-signed-in-hiding",
        FEED,
        signed_in=True,
        hider=True,
    ),
    Route("seed page 1", "seed-1", "/index/images/1/20/"),
    Route("seed page 500", "seed-500", "/index/images/500/20/"),
    Route("profile feed", "profile", "/api/v1/users/{author}/images?limit=20"),
    Route("home (anonymous)", "home-anonymous", "/"),
    Route("home (signed in)", "home-signed-in", "/", signed_in=True),
    Route("image page", "image", "/images/{image}"),
    Route(
        "unread-count poll",
        "unread-304",
        "/api/v1/notifications/unread-count",
        signed_in=True,
        poll=True,
    ),
)


@dataclass(frozen=True)
class Backends:
    database_url: str
    redis_url: str
    # False when the caller pointed the benchmark at servers of their own.
    local_database: bool
    local_redis: bool

    @classmethod
    def from_environment(cls) -> Backends:
        database_url = os.environ.get("GALLERY_BENCH_DATABASE_URL")
        redis_url = os.environ.get("GALLERY_BENCH_REDIS_URL")
        return cls(
            database_url=database_url or DEFAULT_DATABASE_URL,
            redis_url=redis_url or DEFAULT_REDIS_URL,
            local_database=database_url is None,
            local_redis=redis_url is None,
        )


@dataclass
class Bench:
    """What one run has set up, for the steps that follow."""

    args: argparse.Namespace
    backends: Backends
    workdir: Path
    site: SeededSite
    gallery: Server
    ceiling: Server
    # Gallery's environment (its secret key signs the cookie, which the
    # one-worker Gallery of the live phase must accept too).
    env: dict[str, str]
    cookie: str = ""
    hider_cookie: str = ""

    def cookie_for(self, route: Route) -> str:
        return self.hider_cookie if route.hider else self.cookie


# -- options -------------------------------------------------------------------


def connection_counts(text: str) -> list[int]:
    counts = [int(part) for part in text.split(",") if part.strip()]
    if not counts or min(counts) < THREADS:
        raise argparse.ArgumentTypeError(f"give connection counts of at least {THREADS}")
    return counts


def chosen_routes(text: str | None) -> list[Route]:
    """Gallery's routes that --routes names (by slug or name); the ceiling always runs."""
    if not text:
        return list(ROUTES)
    wanted = {part.strip().lower() for part in text.split(",") if part.strip()} - {CEILING}
    known = {route.name.lower() for route in ROUTES} | {route.slug for route in ROUTES}
    if unknown := wanted - known:
        slugs = ", ".join(route.slug for route in ROUTES)
        raise argparse.ArgumentTypeError(f"unknown routes {sorted(unknown)}; known: {slugs}")
    return [route for route in ROUTES if route.slug in wanted or route.name.lower() in wanted]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="routes (the ceiling always runs): "
        + ", ".join(f"{r.slug} ({r.name})" for r in ROUTES),
    )
    parser.add_argument(
        "--duration", type=int, default=10, help="seconds per measurement (default 10)"
    )
    parser.add_argument(
        "--connections",
        type=connection_counts,
        default=[64, 256, 1024],
        help="comma-separated (default 64,256,1024)",
    )
    parser.add_argument(
        "--routes",
        type=chosen_routes,
        default=list(ROUTES),
        help="comma-separated slugs or names (default: all)",
    )
    parser.add_argument("--users", type=int, default=1000, help="besides bench (default 1000)")
    parser.add_argument("--images", type=int, default=10_000, help="(default 10000)")
    parser.add_argument("--comments", type=int, default=30_000, help="(default 30000)")
    parser.add_argument("--likes", type=int, default=50_000, help="(default 50000)")
    parser.add_argument("--seed", type=int, default=1, help="of the random site (default 1)")
    parser.add_argument(
        "--keep-running",
        action="store_true",
        help="after seeding and sign-in, leave both servers up (for py-spy) until Ctrl-C",
    )
    parser.add_argument("--output", type=Path, help="also write the report to this file")
    parser.add_argument(
        "--no-uploads",
        dest="uploads",
        action="store_false",
        help="skip the uploads phase (the feed while ten-photo posts are made)",
    )
    parser.add_argument(
        "--no-live",
        dest="live",
        action="store_false",
        help="skip the live phase (one worker holding --live-sockets WebSockets)",
    )
    parser.add_argument(
        "--live-sockets", type=int, default=5000, help="WebSockets held open (default 5000)"
    )
    parser.add_argument(
        "--live-connections",
        type=connection_counts,
        default=[GOAL_CONNECTIONS],
        help=f"wrk's concurrency in the live phase, comma-separated (default {GOAL_CONNECTIONS})",
    )
    parser.add_argument(
        "--live-broadcasts", type=int, default=5, help="photos uploaded and timed (default 5)"
    )
    parser.add_argument(
        "--live-rounds",
        type=int,
        default=LIVE_ROUNDS,
        help="rounds of the feed routes before, with and after the sockets; the drop "
        f"compares medians (default {LIVE_ROUNDS})",
    )
    parser.add_argument(
        "--live-duration",
        type=int,
        default=LIVE_DURATION_SECONDS,
        help="seconds per measurement in the live phase's rounds "
        f"(default {LIVE_DURATION_SECONDS}: more, shorter rounds, each subject and control "
        "measured closer together)",
    )
    parser.add_argument(
        "--live-compression",
        choices=["deflate", "none"],
        default="deflate",
        help="the load client offers permessage-deflate, as browsers do (default), or not",
    )
    args = parser.parse_args(argv)
    if args.duration < 1 or args.users < 2 or args.images < 1 or args.comments < 0:
        parser.error("need --duration ≥ 1, --users ≥ 2, --images ≥ 1, --comments ≥ 0")
    if min(args.live_sockets, args.live_broadcasts, args.live_rounds, args.live_duration) < 1:
        parser.error(
            "need --live-sockets, --live-broadcasts, --live-rounds and --live-duration ≥ 1"
        )
    return args


# -- set-up --------------------------------------------------------------------


def say(message: str) -> None:
    """Progress, on stderr: stdout carries only the report."""
    print(message, file=sys.stderr, flush=True)


def raise_open_file_limit(connections: int) -> None:
    """wrk needs a descriptor per connection, and so does each worker (which
    inherits our limits): room for the largest run, and then some."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = 2 * connections + 1024
    if soft >= needed:
        return
    ceiling = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (ceiling, hard))
    if ceiling < needed:
        say(f"warning: open files limited to {ceiling}; {connections} connections may fail")


def raise_open_file_limit_to_hard(sockets: int) -> None:
    """The live phase's worker holds a descriptor per socket (and inherits our
    limits, as the load client does): all the hard limit allows."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if hard != resource.RLIM_INFINITY and hard < sockets + 1024:
        say(f"warning: open files limited to {hard}; {sockets} sockets may not all open")


def redis_client(url: str) -> redis.Redis:
    if not re.search(r"/\d+$", url.split("?")[0]):
        raise BenchError(f"the bench Redis URL must name its database number: {url}")
    return redis.Redis.from_url(url, socket_timeout=10, socket_connect_timeout=10)


def flush_redis(url: str) -> None:
    client = redis_client(url)
    try:
        client.flushdb()
    finally:
        client.close()


def gallery_environment(backends: Backends, workdir: Path, port: int) -> dict[str, str]:
    """The caller's environment and GALLERY_* settings, with the ones we own set."""
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in OWNED_SETTINGS and not name.startswith("GALLERY_BENCH_")
    }
    env.update(
        GALLERY_ENV="production",
        GALLERY_SECRET_KEY=secrets.token_urlsafe(48),
        GALLERY_DATABASE_URL=backends.database_url,
        GALLERY_REDIS_URL=backends.redis_url,
        GALLERY_INSTANCE_DIR=str(workdir / "instance"),
        GALLERY_MEDIA_DIR=str(workdir / "media"),
        # Plain HTTP on loopback: Secure cookies would never come back.
        GALLERY_COOKIE_SECURE="false",
        GALLERY_PUBLIC_URL=f"http://127.0.0.1:{port}",
    )
    return env


def passed_settings() -> list[str]:
    """The caller's GALLERY_* settings that reach Gallery (for the report)."""
    return sorted(
        f"{name}={value}"
        for name, value in os.environ.items()
        if name.startswith("GALLERY_")
        and name not in OWNED_SETTINGS
        and not name.startswith("GALLERY_BENCH_")
    )


def migrate(env: dict[str, str]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "alembic", "upgrade", "head"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode != 0:
        raise BenchError(f"alembic upgrade head failed:\n{done.stdout}{done.stderr}")


def ceiling_environment() -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("GALLERY_")}
    # Hypercorn's spawned workers import "ceiling" from here.
    env["PYTHONPATH"] = str(Path(__file__).resolve().parent)
    return env


def sign_in(base_url: str, username: str, password: str) -> str:
    """Sign in through the login form as a browser would; the session's Cookie header."""
    with httpx.Client(base_url=base_url, timeout=30) as client:
        page = client.get("/login")
        token = CSRF_META.search(page.text)
        if page.status_code != 200 or token is None:
            raise BenchError(f"GET /login answered {page.status_code} without a CSRF token")
        answer = client.post(
            "/login",
            data={"csrf_token": token.group(1), "login": username, "password": password},
        )
        if answer.status_code not in (302, 303):
            raise BenchError(f"POST /login answered {answer.status_code}, not a redirect")
        me = client.get("/api/v1/me")
        if me.status_code != 200 or me.json().get("username") != username:
            raise BenchError(f"not signed in after POST /login: /api/v1/me said {me.status_code}")
        return "; ".join(f"{cookie.name}={cookie.value}" for cookie in client.cookies.jar)


def checked_headers(url: str, route: Route, cookie: str) -> dict[str, str]:
    """Fetch the route once; the headers wrk must send. Fails unless it answers as it must.

    Each GET is cookie-less apart from ours, as wrk's will be.
    """
    headers = {"Cookie": cookie} if route.signed_in else {}
    first = httpx.get(url, headers=headers, timeout=PROBE_TIMEOUT_SECONDS)
    if first.status_code != 200:
        raise BenchError(f"{route.name}: GET {url} answered {first.status_code}, not 200")
    if not route.poll:
        return headers
    etag = first.headers.get("ETag")
    if not etag:
        raise BenchError(f"{route.name}: GET {url} sent no ETag to poll with")
    headers["If-None-Match"] = etag
    again = httpx.get(url, headers=headers, timeout=PROBE_TIMEOUT_SECONDS)
    if again.status_code != 304:
        raise BenchError(f"{route.name}: the poll of {url} answered {again.status_code}, not 304")
    return headers


def server_of(bench: Bench, route: Route) -> Server:
    return bench.ceiling if route.server == "ceiling" else bench.gallery


def url_of(bench: Bench, route: Route) -> str:
    return server_of(bench, route).base_url + route.path_for(bench.site)


# -- measuring -----------------------------------------------------------------


def settle(url: str, headers: dict[str, str]) -> None:
    """Wait until the server answers a single request again after a run."""
    time.sleep(SETTLE_SECONDS)
    with contextlib.suppress(httpx.HTTPError):
        httpx.get(url, headers=headers, timeout=PROBE_TIMEOUT_SECONDS)


def measure(
    server: Server,
    url: str,
    headers: dict[str, str],
    connections: int,
    duration: int,
    cpu_pid: int | None = None,
) -> tuple[WrkResult, list[int], float | None]:
    """wrk's numbers, how the connections were spread over the workers mid-run,
    and (given ``cpu_pid``, the serving worker) the CPU time it used meanwhile."""
    # The warm-up (not counted) fills pools and caches; settling after it too,
    # or at 1,024 connections the measurement would start behind a queue of
    # the warm-up's last requests.
    run_wrk(url, connections, WARMUP_SECONDS, headers)
    settle(url, headers)
    cpu_before = None if cpu_pid is None else cpu_seconds(cpu_pid)
    wrk = start_wrk(url, connections, duration, headers)
    try:
        time.sleep(duration / 2)
        spread = connections_per_worker(server.port, worker_pids(server.pid))
    except BaseException:
        wrk.kill()
        raise
    result = finish_wrk(wrk, duration)
    cpu_after = None if cpu_pid is None else cpu_seconds(cpu_pid)
    settle(url, headers)
    used = None if cpu_before is None or cpu_after is None else cpu_after - cpu_before
    return result, spread, used


def progress_line(name: str, connections: int, result: WrkResult) -> str:
    errors = result.socket_errors
    return (
        f"  {name} at {connections}: {result.requests_per_second:,.0f} req/s, "
        f"p99 {number(result.p99_ms, 1)} ms, 5xx {result.statuses.server_error}, socket errors "
        f"{errors.connect}/{errors.read}/{errors.write}/{errors.timeout}"
    )


def measure_all(bench: Bench, headers: dict[str, dict[str, str]]) -> list[Measurement]:
    """Each concurrency in turn: the ceiling, the chosen routes, the ceiling again."""
    return measure_rows(bench, bench.gallery, bench.args.routes, bench.args.connections, headers)


def measure_row(
    bench: Bench,
    server: Server,
    route: Route,
    connections: int,
    headers: dict[str, str],
    name: str | None = None,
    duration: int | None = None,
    cpu_pid: int | None = None,
) -> Measurement:
    """One row of the report: ``route`` on ``server`` (recorded as ``name``, by
    default the route's own) for ``duration`` seconds (by default --duration);
    with ``cpu_pid``, also that worker's CPU time over the row."""
    name = name or route.name
    duration = duration or bench.args.duration
    result, spread, used = measure(
        server,
        server.base_url + route.path_for(bench.site),
        headers,
        connections,
        duration,
        cpu_pid,
    )
    say(progress_line(name, connections, result))
    return Measurement(
        route=name,
        connections=connections,
        result=result,
        expected_status=route.expected_status,
        duration=duration,
        connections_per_worker=spread,
        server_cpu_seconds=used,
    )


def measure_rows(
    bench: Bench,
    gallery: Server,
    routes: list[Route],
    concurrencies: list[int],
    headers: dict[str, dict[str, str]],
) -> list[Measurement]:
    """``routes`` on ``gallery`` at each concurrency, between two runs of the ceiling."""
    first, last = CEILING_ROUTES
    measurements = []
    for connections in concurrencies:
        say(f"{connections} connections:")
        for route in [first, *routes, last]:
            server = bench.ceiling if route.server == "ceiling" else gallery
            measurements.append(measure_row(bench, server, route, connections, headers[route.name]))
    return measurements


def measure_paired_rows(
    bench: Bench,
    subject: Server,
    control: Server,
    headers: dict[int, dict[str, dict[str, str]]],
    round_index: int,
) -> list[Measurement]:
    """One round of the live phase at each concurrency: the ceiling, each feed route
    on the subject and on the control back to back, the ceiling again. Which of
    the two goes first alternates from route to route and from round to round, so
    that neither is always the one measured on a machine that just got busier."""
    first, last = CEILING_ROUTES
    duration = bench.args.live_duration
    measurements = []
    for connections in bench.args.live_connections:
        say(f"{connections} connections:")
        measurements.append(
            measure_row(bench, bench.ceiling, first, connections, {}, duration=duration)
        )
        for index, route in enumerate(LIVE_ROUTES):
            pair = [(subject, route.name), (control, control_route(route.name))]
            if (index + round_index) % 2:
                pair.reverse()
            for server, name in pair:
                known = headers[server.port][route.name]
                worker = only_worker(server)
                measurements.append(
                    measure_row(bench, server, route, connections, known, name, duration, worker)
                )
            measurements += measure_together(
                bench, route, connections, [subject, control], headers, duration
            )
        measurements.append(
            measure_row(bench, bench.ceiling, last, connections, {}, duration=duration)
        )
    return measurements


def measure_together(
    bench: Bench,
    route: Route,
    connections: int,
    servers: list[Server],
    headers: dict[int, dict[str, dict[str, str]]],
    duration: int,
) -> list[Measurement]:
    """``route`` on the subject and on the control at the same time, each driven by
    its own wrk, with each worker's CPU time over the window. Measured one after
    the other, two identical workers differ by up to ±40 % on this machine, in
    CPU per request as in rate (the cores themselves run faster or slower from
    one window to the next); side by side, both get the same machine, and their
    answers per CPU-second compare their costs alone."""
    names = [together_route(route.name), together_route(control_route(route.name))]
    workers = [only_worker(server) for server in servers]
    before = [cpu_seconds(worker) for worker in workers]
    runs = [
        start_wrk(
            server.base_url + route.path_for(bench.site),
            connections,
            duration,
            headers[server.port][route.name],
        )
        for server in servers
    ]
    try:
        results = [finish_wrk(run, duration) for run in runs]
    except BaseException:
        for run in runs:
            run.kill()
        raise
    after = [cpu_seconds(worker) for worker in workers]
    for server in servers:
        settle(server.base_url + route.path_for(bench.site), headers[server.port][route.name])
    measurements = []
    for name, result, first, last in zip(names, results, before, after, strict=True):
        say(progress_line(name, connections, result))
        measurements.append(
            Measurement(
                route=name,
                connections=connections,
                result=result,
                expected_status=route.expected_status,
                duration=duration,
                server_cpu_seconds=None if first is None or last is None else last - first,
            )
        )
    return measurements


def memory_of(server: Server) -> Memory:
    workers = [rss_mib(pid) for pid in worker_pids(server.pid)]
    return Memory(workers=[mib for mib in workers if mib is not None], master=rss_mib(server.pid))


# -- the live phase (issue 14) -------------------------------------------------

LIVE_ROUTES = [route for route in ROUTES if route.slug in FEED_SLUGS]
# Protocol's default for GALLERY_LIVE_MAX_SOCKETS (a worker answers 503 above it).
DEFAULT_LIVE_MAX_SOCKETS = 10_000
# The client's handshakes: at most 100 at once; allow a slow 20 a second and more.
OPEN_SECONDS_PER_SOCKET = 0.05
CLIENT_TIMEOUT_SECONDS = 60
# After the sockets close, before measuring again. It was for Hypercorn's ping
# task, which held a closed socket's objects until it woke (25 s); the workers no
# longer use those pings (GALLERY_LIVE_KEEPALIVE_SECONDS), but the pause is kept so
# that the rounds after stay comparable with earlier runs'.
AFTER_CLOSE_PAUSE_SECONDS = 30


def live_environment(bench: Bench, port: int) -> dict[str, str]:
    """The main Gallery's environment (same secret key, database, Redis) on another port."""
    env = dict(bench.env, GALLERY_PUBLIC_URL=f"http://127.0.0.1:{port}")
    wanted = bench.args.live_sockets + 100
    if "GALLERY_LIVE_MAX_SOCKETS" not in os.environ and wanted > DEFAULT_LIVE_MAX_SOCKETS:
        env["GALLERY_LIVE_MAX_SOCKETS"] = str(wanted)
    return env


def only_worker(server: Server) -> int:
    workers = worker_pids(server.pid)
    if len(workers) != 1:
        raise LiveError(f"{server.name}: expected one worker, found {workers}")
    return workers[0]


def broadcast(
    client: LiveClient, uploader: Uploader, watcher: PublicationWatcher, index: int
) -> Broadcast:
    """Upload a photo; wait until every socket has its photo.new (or the timeout)."""
    photo_id, sent, answered = uploader.upload(index)
    published = watcher.published_at(photo_id, PUBLICATION_TIMEOUT_SECONDS)
    delivered = client.ask(
        {
            "cmd": "wait",
            "photo_id": photo_id,
            "published_at": sent if published is None else published,
            "timeout": DELIVERY_TIMEOUT_SECONDS,
        },
        "delivered",
        DELIVERY_TIMEOUT_SECONDS + CLIENT_TIMEOUT_SECONDS,
    )
    result = Broadcast(
        photo_id=photo_id,
        upload_ms=(answered - sent) * 1000,
        timed_by_redis=published is not None,
        received=int(delivered["received"]),
        open=int(delivered["open"]),
        latencies_ms=[float(value) for value in delivered["latencies_ms"]],
    )
    say(
        f"  broadcast {index + 1}: photo {photo_id} reached {result.received:,} of "
        f"{result.open:,} sockets, slowest {max(result.latencies_ms, default=math.nan):.1f} ms"
    )
    return result


def live_phase(bench: Bench, cleanup: contextlib.ExitStack) -> LiveOutcome:
    """Two one-worker Gallerys, the subject and its control; the feed routes on both
    without, with (on the subject) and after the sockets; the broadcasts; the RSS."""
    args = bench.args
    sockets = args.live_sockets
    say("Live phase: Gallery again, as two one-worker servers (the subject and its control)")
    # Its two workers would only share the cores (and hear the broadcasts).
    stop_server(bench.gallery)
    raise_open_file_limit_to_hard(sockets)
    servers = []
    for name in ("live", "live-control"):
        port = free_port()
        server = start_one_worker_gallery(
            live_environment(bench, port), bench.workdir / f"gallery-{name}.log", port
        )
        cleanup.callback(stop_server, server)
        servers.append(server)
    subject, control = servers
    worker = only_worker(subject)
    only_worker(control)
    headers: dict[int, dict[str, dict[str, str]]] = {}
    for server in servers:
        # The signed-in feed must really be signed in (a 200 does not tell).
        me = httpx.get(server.base_url + "/api/v1/me", headers={"Cookie": bench.cookie}, timeout=30)
        if me.status_code != 200:
            raise LiveError(
                f"the bench user's cookie is not signed in on {server.base_url}: "
                f"/api/v1/me {me.status_code}"
            )
        headers[server.port] = {
            route.name: checked_headers(server.base_url + route.path_for(bench.site), route,
                                        bench.cookie)
            for route in LIVE_ROUTES
        }  # fmt: skip
    outcome = LiveOutcome(
        sockets_wanted=sockets,
        port=subject.port,
        control_port=control.port,
        connections=args.live_connections,
        compression=args.live_compression,
    )
    outcome.rss_mib["started"] = memory_mib(worker)[0]
    outcome.load = (os.getloadavg()[0], math.nan)

    def rounds() -> list[list[Measurement]]:
        return [
            measure_paired_rows(bench, subject, control, headers, index)
            for index in range(args.live_rounds)
        ]

    say("  the feed routes, no socket open:")
    outcome.without_rounds = rounds()
    outcome.rss_mib["before sockets"] = memory_mib(worker)[0]
    outcome.idle_cpu["no socket open"] = idle_cpu_share(worker, IDLE_CPU_SECONDS)

    say(f"  opening {sockets:,} WebSockets to the subject (bench/live_client.py)")
    client = LiveClient.start(
        subject.base_url,
        sockets,
        bench.workdir / "live-client.log",
        compression=args.live_compression,
    )
    # Runs before the server stops (callbacks run in reverse): the client closes first.
    cleanup.callback(client.stop)
    outcome.opened = client.expect("opened", 60 + sockets * OPEN_SECONDS_PER_SOCKET)
    say(
        f"  {outcome.opened_count:,} open in {outcome.opened.get('seconds')} s, failures: "
        f"{outcome.opened.get('failures') or 'none'}"
    )
    held = connections_per_worker(subject.port, [worker])
    outcome.held_by_worker = held[0] if held else None
    outcome.rss_mib["sockets open"] = memory_mib(worker)[0]
    outcome.idle_cpu[f"{outcome.opened_count:,} sockets open"] = idle_cpu_share(
        worker, IDLE_CPU_SECONDS
    )

    say(f"  the feed routes, {outcome.opened_count:,} sockets open:")
    outcome.with_rounds = rounds()
    status = client.ask({"cmd": "status"}, "status", CLIENT_TIMEOUT_SECONDS)
    outcome.open_after_measuring = int(status["open"])
    outcome.rss_mib["after measuring"] = memory_mib(worker)[0]

    say(f"  {args.live_broadcasts} broadcasts:")
    watcher = PublicationWatcher(bench.backends.redis_url)
    uploader = Uploader(subject.base_url, bench.cookie)
    try:
        for index in range(args.live_broadcasts):
            outcome.broadcasts.append(broadcast(client, uploader, watcher, index))
            time.sleep(BROADCAST_PAUSE_SECONDS)
    finally:
        uploader.close()
        watcher.close()
    outcome.rss_mib["after broadcasts"], outcome.peak_rss_mib = memory_mib(worker)
    outcome.closed = client.stop()
    # The same rounds again once the sockets are gone: without this, a worker (or
    # machine) that just got slower over the phase would count as the sockets' cost.
    say(f"  the feed routes again, sockets closed ({AFTER_CLOSE_PAUSE_SECONDS} s later):")
    time.sleep(AFTER_CLOSE_PAUSE_SECONDS)
    outcome.after_rounds = rounds()
    outcome.load = (outcome.load[0], os.getloadavg()[0])
    return outcome


# -- the uploads phase (issue 16) ---------------------------------------------------

UPLOAD_PHASE_ROUTES = ("feed-anonymous", "feed-signed-in")
UPLOAD_STATES = ("quiet", "ten-photo posts being made", "quiet again")


@dataclass
class UploadsOutcome:
    rows: dict[str, list[Measurement]]
    log: PostingLog


def uploads_phase(bench: Bench, headers: dict[str, dict[str, str]]) -> UploadsOutcome:
    """The feeds quiet, while big posts are made, and quiet again; at 64 connections."""
    routes = [route for route in ROUTES if route.slug in UPLOAD_PHASE_ROUTES]
    headers = {**headers}
    for route in routes:
        if route.name not in headers:  # --routes left it out of the main table
            headers[route.name] = checked_headers(
                url_of(bench, route), route, bench.cookie_for(route)
            )
    rows: dict[str, list[Measurement]] = {}
    log = PostingLog()
    for state in UPLOAD_STATES:
        say(f"Uploads phase, {state}:")
        posting = None
        if state == UPLOAD_STATES[1]:
            posting = Posting(bench.gallery.base_url, bench.cookie)
            posting.start()
            # Let the first photos reach the imaging threads before counting.
            time.sleep(3)
        try:
            rows[state] = measure_rows(bench, bench.gallery, routes, [GOAL_CONNECTIONS], headers)
        finally:
            if posting is not None:
                log = posting.finish()
        if posting is not None and log.errors:
            raise UploadsError("the posters failed: " + "; ".join(log.errors[:3]))
    return UploadsOutcome(rows=rows, log=log)


def render_uploads(outcome: UploadsOutcome) -> list[str]:
    log = outcome.log
    lines = [
        "## The feed while ten-photo posts are made (issue 16)",
        "",
        f"{POSTERS} posters, each posting {PHOTOS_PER_POST} photos of a 4032×3024 iPhone HEIC "
        "(tests/data/formats/pug.heic) per post through the composer's API "
        f"(three photos at a time, then POST /api/v1/posts), without pause: {log.posts} posts, "
        f"{log.photos} photos while measuring; median {number(log.median_photo_seconds(), 1)} s "
        f"per photo request, {number(log.median_post_seconds(), 1)} s per post. "
        f"wrk at {GOAL_CONNECTIONS} connections, as in the main table.",
        "",
        "| route | state | req/s | p50 ms | p99 ms | ratio to ceiling | 5xx |",
        "|---|---|---|---|---|---|---|",
    ]
    for state, measurements in outcome.rows.items():
        by_route = {m.route: m for m in measurements}
        ceilings = [by_route[name].result.requests_per_second for name in (CEILING, CEILING_AGAIN)
                    if name in by_route]  # fmt: skip
        ceiling = sum(ceilings) / len(ceilings) if ceilings else math.nan
        for m in measurements:
            if m.route in (CEILING, CEILING_AGAIN):
                continue
            r = m.result
            lines.append(
                f"| {m.route} | {state} | {number(r.requests_per_second, 0)} | "
                f"{number(r.p50_ms, 1)} | {number(r.p99_ms, 1)} | "
                f"{number(r.requests_per_second / ceiling, 2)} | {r.statuses.server_error} |"
            )
    return lines


# -- the report ----------------------------------------------------------------


def preamble(bench: Bench, hypercorn: dict[str, object], load: tuple[float, float]) -> list[str]:
    site, args = bench.site, bench.args
    settings = ", ".join(passed_settings()) or "none"
    lines = [
        "# Gallery benchmark",
        "",
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores shared by wrk and "
        f"both servers. Hypercorn from hypercorn.toml: {hypercorn.get('workers')} workers "
        f"({hypercorn.get('worker_class')}), backlog {hypercorn.get('backlog', 100)}; "
        "the ceiling (bench/ceiling.py, a bare Quart route answering a constant 20-item "
        "JSON list) runs on the same settings. Load average (1 min) when measuring began "
        f"{load[0]:.2f}, when it ended {load[1]:.2f}: anything else busy on the machine "
        "shows there and skews every row.",
        "",
        f"`wrk -t{THREADS} -cN -d{args.duration}s --latency --timeout "
        f"{REQUEST_TIMEOUT_SECONDS}s -s bench/statuses.lua` per row, after a "
        f"{WARMUP_SECONDS} s warm-up at the same concurrency. The status script slows wrk "
        "down; the ceiling pays the same, so the ratios stay fair. Latencies leave out "
        "requests that timed out.",
        "",
        f"Data: {site.users:,} users, {site.images:,} images, {site.comments:,} comments, "
        f"{site.likes:,} likes, {site.follows:,} follows, {site.tags} tags "
        f"(inserted in {site.seconds:.1f} s). Profile feed: {site.busiest_author} "
        f"({site.busiest_author_images} images); image page: image {site.newest_image_id}. "
        f"{site.hider_username} follows and likes what bench does, mutes {site.mutes} "
        f"of the busiest authors and blocks {site.blocks} more.",
        "",
        f"Gallery: GALLERY_ENV=production, database `{database_name(bench.backends.database_url)}`"
        f", Redis {bench.backends.redis_url}; the caller's GALLERY_* settings: {settings}.",
    ]
    if site.images < 500 * 20 and any(r.slug == "seed-500" for r in args.routes):
        lines += ["", f"Note: with {site.images:,} images, seed page 500 is empty."]
    return lines


def hypercorn_settings() -> dict[str, object]:
    with HYPERCORN_CONFIG.open("rb") as handle:
        return tomllib.load(handle)


# -- the run -------------------------------------------------------------------


def ensure_backends(backends: Backends) -> None:
    if backends.local_database:
        ensure_mariadb()
    if backends.local_redis:
        ensure_redis()


@contextlib.contextmanager
def bench_database(backends: Backends) -> Iterator[None]:
    """A fresh database and Redis database for the run, emptied again afterwards."""
    flush_redis(backends.redis_url)
    try:
        asyncio.run(recreate_database(backends.database_url))
        yield
    finally:
        try:
            asyncio.run(drop_database(backends.database_url))
        finally:
            flush_redis(backends.redis_url)


def set_up(args: argparse.Namespace, backends: Backends, cleanup: contextlib.ExitStack) -> Bench:
    """Everything up to the first measurement; ``cleanup`` undoes it in reverse."""
    workdir = Path(tempfile.mkdtemp(prefix="gallery-bench-", dir="/tmp"))
    cleanup.callback(shutil.rmtree, workdir, ignore_errors=True)
    cleanup.enter_context(bench_database(backends))
    port = free_port()
    env = gallery_environment(backends, workdir, port)
    say("Migrating the bench database (alembic upgrade head)")
    migrate(env)
    size = SiteSize(args.users, args.images, args.comments, args.likes, seed=args.seed)
    say(f"Inserting {size.users:,} users, {size.images:,} images, {size.comments:,} comments")
    site = asyncio.run(seed_site(backends.database_url, size))
    say(f"  done in {site.seconds:.1f} s")
    say("Starting the ceiling and Gallery")
    ceiling = start_hypercorn(
        "ceiling", "ceiling:app", ceiling_environment(), workdir / "ceiling.log"
    )
    cleanup.callback(stop_server, ceiling)
    gallery = start_hypercorn(
        "gallery", "gallery.asgi:app", env, workdir / "gallery.log", port=port
    )
    cleanup.callback(stop_server, gallery)
    bench = Bench(args, backends, workdir, site, gallery, ceiling, env)
    bench.cookie = sign_in(gallery.base_url, site.bench_username, site.bench_password)
    bench.hider_cookie = sign_in(gallery.base_url, site.hider_username, site.bench_password)
    return bench


def keep_running(bench: Bench, headers: dict[str, dict[str, str]]) -> None:
    """Leave the servers up for py-spy and hand-made wrk runs, until Ctrl-C."""
    for server in (bench.gallery, bench.ceiling):
        say(
            f"{server.name}: {server.base_url} master {server.pid}, "
            f"workers {' '.join(map(str, worker_pids(server.pid)))}, log {server.log}"
        )
    say(f"Cookie: {bench.cookie}")
    for route in [CEILING_ROUTES[0], *bench.args.routes]:
        options = [f"-H '{name}: {value}'" for name, value in headers[route.name].items()]
        wrk = f"wrk -t{THREADS} -c64 -d10s --latency"
        command = " ".join([wrk, *options, url_of(bench, route)])
        say(f"  {route.slug}: {command}")
    say("e.g. py-spy top --pid <worker>. Ctrl-C stops everything.")
    while True:
        time.sleep(3600)


def run(args: argparse.Namespace) -> str:
    """The whole benchmark (or, with --keep-running, its set-up until Ctrl-C); the report."""
    backends = Backends.from_environment()
    ensure_backends(backends)
    with contextlib.ExitStack() as cleanup:
        bench = set_up(args, backends, cleanup)
        headers = {route.name: checked_headers(url_of(bench, route), route, bench.cookie_for(route))
                   for route in [*CEILING_ROUTES, *args.routes]}  # fmt: skip
        if args.keep_running:
            keep_running(bench, headers)
        load_before = os.getloadavg()[0]
        measurements = measure_all(bench, headers)
        load = (load_before, os.getloadavg()[0])
        # Before the live phase, which stops this Gallery.
        gallery_memory = memory_of(bench.gallery)
        uploads_section: list[str] = []
        if args.uploads:
            uploads_section = render_uploads(uploads_phase(bench, headers))
        live, live_failure = skipped_live(), None
        if args.live:
            try:
                outcome = live_phase(bench, cleanup)
            except (LiveError, ServiceError, WrkError, httpx.HTTPError) as error:
                # The main table is measured already: report it, then fail.
                live_failure = f"the live phase failed: {error}"
                live = ["## Live updates (issue 14)", "", live_failure]
            else:
                live = render_live(
                    outcome, [route.name for route in LIVE_ROUTES], args.live_duration
                )
        report = render(
            preamble(bench, hypercorn_settings(), load),
            measurements,
            gallery_memory,
            memory_of(bench.ceiling),
        )
        if uploads_section:
            report += "\n" + "\n".join(uploads_section) + "\n"
        report += "\n" + "\n".join(live) + "\n"
        # Before the clean-up, which may wait for a graceful shutdown.
        print(report, flush=True)
        if args.output:
            args.output.parent.mkdir(parents=True, exist_ok=True)
            args.output.write_text(report)
        say("Stopping the servers, dropping the database, flushing Redis")
        if live_failure is not None:
            raise LiveError(live_failure)
    return report


def exit_on_sigterm(signum: int, _frame: FrameType | None) -> None:
    # SystemExit unwinds through the clean-up, as Ctrl-C's KeyboardInterrupt does.
    raise SystemExit(128 + signum)


def main() -> int:
    args = parse_args()
    signal.signal(signal.SIGTERM, exit_on_sigterm)
    raise_open_file_limit(max(args.connections))
    began = time.monotonic()
    try:
        run(args)
    except KeyboardInterrupt:
        say("Interrupted; cleaned up.")
        return 130
    except (BenchError, ServiceError, WrkError, LiveError, UploadsError) as error:
        say(f"bench: {error}")
        return 1
    finally:
        say(f"Total: {time.monotonic() - began:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The live phase of `make bench` (issue 14): one worker holding N WebSockets.

What run.py's live phase uses: the one-worker Gallerys (the subject, which
holds the sockets, and its control, which never does), the load client's
process (live_client.py) and the bench's side of its JSON-lines talk, a watch
on the Redis channel that stamps each publication, the uploads that cause the
broadcasts, and the report's section with the four targets.

Why a control: one 10-second window on this shared two-core machine swings by
±20 %, and a route's ratio to the ceiling moved from 0.63 to 0.88 and back
between rounds with no socket open, so rounds of the subject alone cannot
resolve a 10 % loss. The control is the same program on the same data and
Redis, measured right next to the subject in every round (alternating which
goes first), so whatever the machine does to one in a round it does to the
other; the quotient of the two moves only with what differs, the sockets.
"""

from __future__ import annotations

import io
import json
import math
import queue
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import redis
from PIL import Image as PillowImage
from report import CEILING, MIB, Measurement, number, ratio, table, verdict
from servers import (
    HYPERCORN_CONFIG,
    REPO,
    Server,
    check_port_is_ours,
    cpu_seconds,
    wait_until_serving,
)

from gallery.infra.live import CHANNEL_PREFIX

CLIENT_SCRIPT = Path(__file__).with_name("live_client.py")
LIVE_PATH = "/api/v1/live"
# The feed routes whose ratios must hold while the sockets are open.
FEED_SLUGS = ("feed-304", "feed-anonymous", "feed-signed-in")
# The rounds of the feed routes before, with and after the sockets, and the
# seconds per measurement in them. On this machine two identical idle workers,
# measured one right after the other, differ by 8-15 % (standard deviation of
# their quotient) in 5 s and in 10 s windows alike: more, shorter rounds narrow
# the medians more than fewer, longer ones.
LIVE_ROUNDS = 6
LIVE_DURATION_SECONDS = 5
# The targets.
RATIO_DROP_LIMIT = 0.10
LATENCY_P99_LIMIT_MS = 2000.0
RSS_LIMIT_BYTES = 300 * 1000 * 1000  # "300 MB"
# Handshakes the client keeps in flight at once.
OPEN_CONCURRENCY = 100
# Sockets per client address: under the server's per-address cap (100 by
# default), as 5,000 visitors would come from many addresses.
SOCKETS_PER_ADDRESS = 50
# How long a broadcast may take to reach every socket before we stop waiting
# (and count the sockets it missed).
DELIVERY_TIMEOUT_SECONDS = 30
# Between broadcasts: each one is delivered on a quiet worker.
BROADCAST_PAUSE_SECONDS = 1.0
# How long the bench's own subscription waits to see an upload's publication.
PUBLICATION_TIMEOUT_SECONDS = 10
# How long the subject's idle CPU is read for, without and with the sockets.
IDLE_CPU_SECONDS = 10.0
CLIENT_ANSWER_TIMEOUT_SECONDS = 60


class LiveError(RuntimeError):
    """The live phase cannot go on."""


# -- the one-worker Gallery --------------------------------------------------------


def start_one_worker_gallery(env: dict[str, str], log: Path, port: int) -> Server:
    """hypercorn.toml as in production, but ``--workers 1`` so that one worker
    holds every socket (command-line options override the file in Hypercorn 0.18)."""
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "hypercorn", "--config", str(HYPERCORN_CONFIG),
             "--bind", f"127.0.0.1:{port}", "--workers", "1", "gallery.asgi:app"],
            cwd=REPO, env=env, stdout=output, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    server = Server(name="gallery (one worker)", port=port, process=process, log=log)
    wait_until_serving(server)
    check_port_is_ours(server)
    return server


def idle_cpu_share(pid: int, seconds: float) -> float:
    """The share of one core a process uses over ``seconds`` with no request sent
    to it: the cost of what it holds (sockets, their keep-alives, timers)."""
    first = cpu_seconds(pid)
    time.sleep(seconds)
    last = cpu_seconds(pid)
    return math.nan if first is None or last is None else (last - first) / seconds


def memory_mib(pid: int) -> tuple[float | None, float | None]:
    """A process's resident memory now (VmRSS) and at its peak (VmHWM), in MiB."""
    found: dict[str, float] = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            name, _, value = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                found[name] = int(value.split()[0]) / 1024
    except OSError:
        pass
    return found.get("VmRSS"), found.get("VmHWM")


# -- the load client -----------------------------------------------------------------


class LiveClient:
    """live_client.py in its own process; its stdout lines are read by a thread."""

    def __init__(self, process: subprocess.Popen[str], log: Path) -> None:
        self.process = process
        self.log = log
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True, name="live-client-stdout").start()

    @classmethod
    def start(
        cls, base_url: str, sockets: int, log: Path, *, compression: str = "deflate"
    ) -> LiveClient:
        ws_url = base_url.replace("http://", "ws://", 1) + LIVE_PATH
        with log.open("w") as errors:
            process = subprocess.Popen(
                [sys.executable, str(CLIENT_SCRIPT), "--url", ws_url, "--origin", base_url,
                 "--sockets", str(sockets), "--concurrency", str(OPEN_CONCURRENCY),
                 "--sockets-per-address", str(SOCKETS_PER_ADDRESS), "--compression", compression],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errors, text=True,
                start_new_session=True,
            )  # fmt: skip
        return cls(process, log)

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"

    def expect(self, kind: str, timeout: float) -> dict[str, Any]:
        """The client's next answer, which must be of ``kind``, within ``timeout`` seconds."""
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            raise LiveError(
                f"the live client did not answer {kind!r} within {timeout:.0f} s:\n"
                + self.log_tail()
            ) from None
        if line is None:
            raise LiveError(
                f"the live client exited ({self.process.poll()}) before {kind!r}:\n"
                + self.log_tail()
            )
        answer: dict[str, Any] = json.loads(line)
        if answer.get("type") != kind:
            raise LiveError(f"the live client answered {line.strip()[:300]}, not {kind!r}")
        return answer

    def ask(self, command: dict[str, Any], kind: str, timeout: float) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        return self.expect(kind, timeout)

    def stop(self) -> dict[str, Any] | None:
        """Close the sockets (the client's answer), then make sure the process is gone."""
        closed = None
        if self.process.poll() is None:
            try:
                closed = self.ask({"cmd": "close"}, "closed", CLIENT_ANSWER_TIMEOUT_SECONDS)
            except (LiveError, OSError) as error:
                print(f"live client: {error}", file=sys.stderr)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        return closed


# -- the broadcasts --------------------------------------------------------------------


class PublicationWatcher:
    """The bench's own subscription to the live channels, in a thread: it stamps
    each photo.new with time.time() as Redis hands it out, which is the moment of
    publication that the server's hub sees too (one machine, one clock).

    A pattern over every live channel, not the feed's own name (which carries the
    database number, an implementation detail): the photo's id tells ours apart,
    and its streams (feed, author, tags) are published by one script at once."""

    def __init__(self, redis_url: str) -> None:
        self._client = redis.Redis.from_url(redis_url, socket_timeout=10)
        self._pubsub = self._client.pubsub(ignore_subscribe_messages=True)
        self._pubsub.psubscribe(CHANNEL_PREFIX + "*")
        self._seen: dict[int, float] = {}
        self._changed = threading.Condition()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True, name="live-watcher")
        self._thread.start()

    def _watch(self) -> None:
        while not self._stopping.is_set():
            message = self._pubsub.get_message(timeout=0.2)
            if message is None or message.get("type") != "pmessage":
                continue
            at = time.time()
            # "<seq>|<JSON object>", as gallery.infra.live publishes it.
            _, _, body = message["data"].decode().partition("|")
            try:
                event = json.loads(body)
                if event.get("type") != "photo.new":
                    continue
                photo_id = int(event["photo"]["id"])
            except (ValueError, KeyError, TypeError):
                continue
            with self._changed:
                self._seen.setdefault(photo_id, at)
                self._changed.notify_all()

    def published_at(self, photo_id: int, timeout: float) -> float | None:
        with self._changed:
            self._changed.wait_for(lambda: photo_id in self._seen, timeout=timeout)
            return self._seen.get(photo_id)

    def close(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=5)
        self._pubsub.close()
        self._client.close()


def small_jpeg(index: int) -> bytes:
    """A different little picture each time (a plain colour would do, but why not)."""
    picture = PillowImage.new("RGB", (320, 240), ((40 * index) % 256, 120, 200))
    for x in range(0, 320, 16):
        picture.paste((255, 255, 255), (x, 0, x + 8 + index, 240))
    output = io.BytesIO()
    picture.save(output, "JPEG", quality=80)
    return output.getvalue()


class Uploader:
    """The bench user uploading through the JSON API, as a page's script would."""

    def __init__(self, base_url: str, cookie: str) -> None:
        cookies = dict(part.strip().split("=", 1) for part in cookie.split(";") if "=" in part)
        self.client = httpx.Client(base_url=base_url, cookies=cookies, timeout=60)
        me = self.client.get("/api/v1/me")
        if me.status_code != 200:
            raise LiveError(f"GET /api/v1/me answered {me.status_code} on the one-worker Gallery")
        self.headers = {"X-CSRF-Token": me.json()["csrf_token"], "Origin": base_url}

    def upload(self, index: int) -> tuple[int, float, float]:
        """The new photo's id, and time.time() before the request and after its answer."""
        files = {"file": (f"live-{index}.jpg", small_jpeg(index), "image/jpeg")}
        sent = time.time()
        answer = self.client.post(
            "/api/v1/images",
            files=files,
            data={"description": f"live bench broadcast {index}"},
            headers=self.headers,
        )
        answered = time.time()
        if answer.status_code != 201:
            raise LiveError(f"POST /api/v1/images answered {answer.status_code}: {answer.text}")
        return int(answer.json()["id"]), sent, answered

    def close(self) -> None:
        self.client.close()


@dataclass(frozen=True)
class Broadcast:
    photo_id: int
    # How long the upload request took, from sending it to its answer.
    upload_ms: float
    # True when the publication's time came from the Redis channel; False when
    # the watcher did not see it and the request's start stands in (slower).
    timed_by_redis: bool
    received: int
    open: int
    latencies_ms: list[float]


def percentile(values: list[float], share: float) -> float:
    """Nearest rank: the smallest value that ``share`` of the values do not exceed."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


# -- the report ------------------------------------------------------------------------


@dataclass
class LiveOutcome:
    """What the live phase measured."""

    sockets_wanted: int
    port: int
    # The control worker's port: the same Gallery, never holding a socket.
    control_port: int
    connections: list[int]
    compression: str = "deflate"
    # Load average (1 min) when the phase began and when it ended.
    load: tuple[float, float] = (math.nan, math.nan)
    opened: dict[str, Any] = field(default_factory=dict)
    # Established connections the worker held on its port, counted by ss.
    held_by_worker: int | None = None
    rss_mib: dict[str, float | None] = field(default_factory=dict)
    peak_rss_mib: float | None = None
    # The subject's share of a core while no request is sent, by its state.
    idle_cpu: dict[str, float] = field(default_factory=dict)
    # One list per round, --live-rounds of each: the ceiling, each route on the
    # subject and on the control (named by control_route), the ceiling again.
    without_rounds: list[list[Measurement]] = field(default_factory=list)
    with_rounds: list[list[Measurement]] = field(default_factory=list)
    after_rounds: list[list[Measurement]] = field(default_factory=list)  # sockets closed
    open_after_measuring: int | None = None
    broadcasts: list[Broadcast] = field(default_factory=list)
    closed: dict[str, Any] | None = None

    @property
    def opened_count(self) -> int:
        return int(self.opened.get("open", 0))


def control_route(route: str) -> str:
    """The name a route's row has when it was measured on the control worker."""
    return f"{route} · control"


def round_ratios(rounds: list[list[Measurement]], route: str, connections: int) -> list[float]:
    """The route's ratio to the ceiling in each round (each against that round's ceiling)."""
    return [ratio(measured, route, CEILING, connections) for measured in rounds]


def round_quotients(rounds: list[list[Measurement]], route: str, connections: int) -> list[float]:
    """The route's requests/s on the subject over the control's, in each round."""
    return [ratio(measured, route, control_route(route), connections) for measured in rounds]


TOGETHER = " · together"


def together_route(route: str) -> str:
    """The name of a route's row measured at the same time on both workers."""
    return route + TOGETHER


def control_of(row: str) -> str:
    """The control's row measured in the same way as the subject's ``row``."""
    if row.endswith(TOGETHER):
        return together_route(control_route(row.removesuffix(TOGETHER)))
    return control_route(row)


def capacity(measured: list[Measurement], route: str, connections: int) -> float:
    """The route's answers per second of its worker's CPU in one round (nan if unread)."""
    found = [m for m in measured if m.route == route and m.connections == connections]
    return found[0].requests_per_cpu_second if found else math.nan


def round_capacity_quotients(
    rounds: list[list[Measurement]], route: str, connections: int
) -> list[float]:
    """The route's answers per CPU-second on the subject over the control's, in
    each round (``route`` names the subject's row: measured one after the other
    or side by side, see control_of)."""
    quotients = []
    for measured in rounds:
        theirs = capacity(measured, control_of(route), connections)
        ours = capacity(measured, route, connections)
        quotients.append(math.nan if not theirs else ours / theirs)
    return quotients


def drop_over_phase(
    outcome: LiveOutcome, per_round: Callable[[list[list[Measurement]]], list[float]]
) -> tuple[float, float, float, float]:
    """A figure's median over the rounds before, with and after the sockets, and
    the drop (positive: lower with the sockets open) from the mean of before and
    after to with: drift over the phase cancels, the sockets' cost not."""
    before = median(per_round(outcome.without_rounds))
    during = median(per_round(outcome.with_rounds))
    after = median(per_round(outcome.after_rounds))
    baseline = (before + after) / 2
    drop = math.nan if math.isnan(baseline) or baseline == 0 else 1 - during / baseline
    return before, during, after, drop


def ratio_change(
    outcome: LiveOutcome, route: str, connections: int
) -> tuple[float, float, float, float]:
    """The subject's ratio to the ceiling: before, with, after and the drop."""
    return drop_over_phase(outcome, lambda rounds: round_ratios(rounds, route, connections))


def paired_change(
    outcome: LiveOutcome, route: str, connections: int
) -> tuple[float, float, float, float]:
    """The subject/control quotient: before, with, after and the drop. Before and
    after, it measures what differs between two idle processes (nothing is
    expected to); with, that and the sockets."""
    return drop_over_phase(outcome, lambda rounds: round_quotients(rounds, route, connections))


def capacity_change(
    outcome: LiveOutcome, route: str, connections: int
) -> tuple[float, float, float, float]:
    """The subject/control quotient of answers per CPU-second: before, with, after
    and the drop. The same comparison as paired_change, on each worker's cost
    per request instead of its rate, so that a round in which the machine gave
    one worker less of a core than the other does not count."""
    return drop_over_phase(
        outcome, lambda rounds: round_capacity_quotients(rounds, route, connections)
    )


def median(values: list[float]) -> float:
    known = [value for value in values if not math.isnan(value)]
    return statistics.median(known) if known and len(known) == len(values) else math.nan


def rates_of(rounds: list[list[Measurement]], route: str, connections: int) -> str:
    """The route's requests/s in each round, e.g. ``5,273 / 5,101 / 5,320``."""
    rates = []
    for measured in rounds:
        found = [m for m in measured if m.route == route and m.connections == connections]
        rates.append(found[0].result.requests_per_second if found else math.nan)
    return " / ".join(number(rate, 0) for rate in rates)


def ratios_of(rounds: list[list[Measurement]], route: str, connections: int) -> str:
    return " / ".join(number(value, 2) for value in round_ratios(rounds, route, connections))


def quotients_of(rounds: list[list[Measurement]], route: str, connections: int) -> str:
    return " / ".join(number(value, 2) for value in round_quotients(rounds, route, connections))


def capacity_quotients_of(rounds: list[list[Measurement]], route: str, connections: int) -> str:
    """Each round's quotient, with the share of a core each worker used in its
    window (subject · control): a worker well under one core was not saturated,
    and its requests cost more (fewer answered per turn of the event loop)."""
    cells = []
    for measured, quotient in zip(
        rounds, round_capacity_quotients(rounds, route, connections), strict=True
    ):
        shares = [core_share(measured, name, connections) for name in (route, control_of(route))]
        cells.append(f"{number(quotient, 2)} ({' · '.join(number(share, 2) for share in shares)})")
    return " / ".join(cells)


def core_share(measured: list[Measurement], route: str, connections: int) -> float:
    found = [m for m in measured if m.route == route and m.connections == connections]
    if not found or found[0].server_cpu_seconds is None:
        return math.nan
    return found[0].server_cpu_seconds / found[0].duration


def phase_table(
    outcome: LiveOutcome,
    routes: list[str],
    figure: str,
    per_round: Callable[[list[list[Measurement]], str, int], str],
    change: Callable[[LiveOutcome, str, int], tuple[float, float, float, float]],
) -> list[str]:
    """Per route: the subject's requests/s and ``figure`` in each round of each
    stage, the stage's median, and the drop."""
    n = outcome.sockets_wanted
    lines = [
        f"| route | connections | before: req/s (each round) | {figure} | median "
        f"| {n:,} sockets open: req/s | {figure} | median "
        f"| after they closed: req/s | {figure} | median | drop |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for connections in outcome.connections:
        for route in routes:
            before, during, after, drop = change(outcome, route, connections)
            cells = []
            for rounds, middle in (
                (outcome.without_rounds, before),
                (outcome.with_rounds, during),
                (outcome.after_rounds, after),
            ):
                cells.append(
                    f"{rates_of(rounds, route, connections)} "
                    f"| {per_round(rounds, route, connections)} | {number(middle, 2)}"
                )
            lines.append(
                f"| {route} | {connections:,} | {' | '.join(cells)} | {number(100 * drop, 1)} % |"
            )
    return lines


def worst_drop(
    outcome: LiveOutcome,
    routes: list[str],
    change: Callable[[LiveOutcome, str, int], tuple[float, float, float, float]],
) -> tuple[float, bool]:
    """The largest drop over the routes and concurrencies, and whether every one was measured."""
    drops = [
        change(outcome, route, connections)[3]
        for connections in outcome.connections
        for route in routes
    ]
    measured = [drop for drop in drops if not math.isnan(drop)]
    return max(measured, default=math.nan), bool(measured) and len(measured) == len(drops)


def idle_difference(
    outcome: LiveOutcome,
    routes: list[str],
    change: Callable[[LiveOutcome, str, int], tuple[float, float, float, float]] | None = None,
) -> float:
    """How far the subject/control quotient moved between the rounds before and
    after the sockets, with no socket open on either side (the largest over the
    routes): what this run's noise alone gives, to read the drop against."""
    moves = []
    for connections in outcome.connections:
        for route in routes:
            before, _, after, _ = (change or paired_change)(outcome, route, connections)
            moves.append(abs(1 - after / before) if before else math.nan)
    return max(moves, default=math.nan)


def broadcast_table(outcome: LiveOutcome) -> list[str]:
    lines = [
        "| broadcast | photo | sockets reached | upload request ms | p50 ms | p99 ms | max ms |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for index, b in enumerate(outcome.broadcasts, start=1):
        clock = "" if b.timed_by_redis else " ‡"
        lines.append(
            f"| {index}{clock} | {b.photo_id} | {b.received:,} of {b.open:,} "
            f"| {b.upload_ms:,.0f} | {number(percentile(b.latencies_ms, 0.50), 1)} "
            f"| {number(percentile(b.latencies_ms, 0.99), 1)} "
            f"| {number(max(b.latencies_ms, default=math.nan), 1)} |"
        )
    every = [value for b in outcome.broadcasts for value in b.latencies_ms]
    lines.append(
        f"| all | | {sum(b.received for b in outcome.broadcasts):,} "
        f"of {sum(b.open for b in outcome.broadcasts):,} | "
        f"| {number(percentile(every, 0.50), 1)} | {number(percentile(every, 0.99), 1)} "
        f"| {number(max(every, default=math.nan), 1)} |"
    )
    return lines


def targets(outcome: LiveOutcome, routes: list[str]) -> list[str]:
    n = outcome.sockets_wanted
    opened = outcome.opened_count
    held = "?" if outcome.held_by_worker is None else f"{outcome.held_by_worker:,}"
    sockets_met = opened == n and (outcome.open_after_measuring in (None, n))
    every = [value for b in outcome.broadcasts for value in b.latencies_ms]
    p99 = percentile(every, 0.99)
    all_reached = bool(outcome.broadcasts) and all(b.received == n for b in outcome.broadcasts)
    latency_met = None if not outcome.broadcasts else all_reached and p99 <= LATENCY_P99_LIMIT_MS
    limit_mib = RSS_LIMIT_BYTES / MIB
    peak = outcome.peak_rss_mib
    rss_met = None if peak is None else peak < limit_mib
    worst, complete = worst_drop(outcome, routes, paired_change)
    drop_met = worst <= RATIO_DROP_LIMIT if complete else None
    worst_to_ceiling, _ = worst_drop(outcome, routes, ratio_change)
    worst_cost, cost_complete = worst_drop(outcome, routes, capacity_change)
    cost_met = worst_cost <= RATIO_DROP_LIMIT if cost_complete else None
    side_by_side = [together_route(route) for route in routes]
    worst_together, together_complete = worst_drop(outcome, side_by_side, capacity_change)
    together_met = worst_together <= RATIO_DROP_LIMIT if together_complete else None
    return [
        "Targets of issue 14:",
        "",
        f"- one worker holds {n:,} open sockets: {opened:,} opened "
        f"({held} established connections on the worker's port, by `ss`), "
        f"{outcome.open_after_measuring if outcome.open_after_measuring is not None else '?'} "
        f"still open after the feed measurements: {verdict(sockets_met)}",
        f"- a broadcast reaches all of them within 2 s at p99: p99 {number(p99, 1)} ms over "
        f"{len(outcome.broadcasts)} broadcasts, "
        f"{'every socket reached by every one' if all_reached else '**not every socket reached**'}"
        f": {verdict(latency_met)}",
        f"- worker RSS stays under 300 MB ({limit_mib:.1f} MiB): peak "
        f"{number(peak if peak is not None else math.nan, 1)} MiB: {verdict(rss_met)}",
        "- feed routes' rates drop by no more than 10 % with the sockets open (the subject "
        "against its control, medians over the rounds, with against before and after): "
        f"worst {number(100 * worst, 1)} % (against the ceiling alone: "
        f"{number(100 * worst_to_ceiling, 1)} %; the quotient moved by up to "
        f"{number(100 * idle_difference(outcome, routes), 1)} % between before and after, "
        f"with no socket open): {verdict(drop_met)}",
        "- the same drop on each worker's answers per CPU-second instead of its rate (what "
        "a request costs the worker, whatever share of a core it got): "
        f"worst {number(100 * worst_cost, 1)} %, by route "
        + ", ".join(
            f"{route} at {connections}: "
            f"{number(100 * capacity_change(outcome, route, connections)[3], 1)} %"
            for connections in outcome.connections
            for route in routes
        )
        + f": {verdict(cost_met)}",
        "- the same drop with both workers measured **side by side** (each its own wrk, "
        "at the same time), on answers per CPU-second: worst "
        f"{number(100 * worst_together, 1)} %, by route "
        + ", ".join(
            f"{route} at {connections}: "
            f"{number(100 * capacity_change(outcome, together_route(route), connections)[3], 1)} %"
            for connections in outcome.connections
            for route in routes
        )
        + f" (the quotient moved by up to "
        f"{number(100 * idle_difference(outcome, side_by_side, capacity_change), 1)} % "
        f"between before and after, with no socket open): {verdict(together_met)}",
    ]


def render_live(outcome: LiveOutcome, routes: list[str], duration: int) -> list[str]:
    n = outcome.sockets_wanted
    opened = outcome.opened
    failures = opened.get("failures") or {}
    failed = ", ".join(f"{count:,} × {why}" for why, count in failures.items()) or "none"
    extensions = ", ".join(
        f"{count:,} × {name}" for name, count in (opened.get("extensions") or {}).items()
    )
    rss = outcome.rss_mib
    offer = (
        "offering permessage-deflate as browsers do"
        if outcome.compression == "deflate"
        else "offering no compression (--live-compression none; browsers offer it)"
    )

    def mib(name: str) -> str:
        value = rss.get(name)
        return "?" if value is None else f"{value:.1f}"

    lines = [
        "## Live updates (issue 14)",
        "",
        f"Two Gallerys with **one** worker each (hypercorn.toml with `--workers 1`; the "
        "same production settings, database and Redis as above): the subject (port "
        f"{outcome.port}), which holds the sockets, and its control (port "
        f"{outcome.control_port}), which never holds one. The load client, "
        "`bench/live_client.py` (its own process; `websockets` on uvloop), "
        f"opened {n:,} anonymous sockets to the subject's `{LIVE_PATH}` with the site's own "
        f"`Origin`, at most {OPEN_CONCURRENCY} handshakes in flight, from "
        f"{SOCKETS_PER_ADDRESS} sockets per "
        "loopback address (127.0.1.1, …: the server caps sockets per address, and so many "
        "visitors would come from many), each waiting for `hello` and then "
        f'subscribing to `["feed"]`, {offer}: '
        f"{opened.get('open', 0):,} open in {opened.get('seconds', '?')} s; failed: {failed}; "
        f"negotiated extensions: {extensions or '?'}. Load average (1 min) when the phase "
        f"began {number(outcome.load[0], 2)}, when it ended {number(outcome.load[1], 2)}.",
        "",
        "The feed routes, wrk as above "
        f"({duration} s per row), in {len(outcome.without_rounds)} rounds before any socket "
        f"opened, {len(outcome.with_rounds)} rounds with the {n:,} sockets open, and "
        f"{len(outcome.after_rounds)} rounds after they closed. A round measures the "
        "ceiling, each route on the subject and on the control one right after the other "
        "(which goes first alternates from route to route and round to round), and the "
        "ceiling again. One window on this shared two-core machine swings by ±20 %, "
        "so the drop is measured on the **subject's rate over the control's** in each "
        "round: what the machine does to one in a round it does to the other, and the "
        "quotient moves only with what differs between them, the sockets. The drop compares "
        "the median quotient with the sockets to the mean of the medians before and after "
        "them (so that a difference between the two idle processes, or drift over the "
        "phase, does not count as the sockets' cost):",
        "",
        *phase_table(outcome, routes, "subject / control", quotients_of, paired_change),
        "",
        "The same rounds as ratios of the subject to that round's ceiling (the mean of its "
        "two runs), as the rest of the bench reports them; the drop is computed the same "
        "way:",
        "",
        *phase_table(outcome, routes, "ratio to ceiling", ratios_of, ratio_change),
        "",
        "The same rounds by what a request costs: each worker's answers per second of "
        "its own CPU (user and system time from /proc over the wrk run, all answers "
        "counted), the subject's over the control's. This takes out how much of a core "
        "the machine gave each worker in its window, but not how fast that core ran "
        "(in brackets, the share of a core each worker, subject · control, used):",
        "",
        *phase_table(
            outcome,
            routes,
            "subject / control, per CPU-second",
            capacity_quotients_of,
            capacity_change,
        ),
        "",
        "And measured **side by side**: in each round, right after the rows above, "
        "each route once more on both workers at the same time, each driven by its own "
        f"wrk at the same concurrency for {duration} s. Measured one after the other, two "
        "identical workers differ by up to ±40 % on this machine in CPU per request as in "
        "rate (each uses a full core either way: the cores themselves run faster or slower "
        "from one window to the next); side by side, both get the same machine, so their "
        "answers per CPU-second compare their costs alone. The req/s columns are the "
        "subject's in these windows; in brackets, the share of a core each worker "
        "(subject · control) used:",
        "",
        *phase_table(
            outcome,
            [together_route(route) for route in routes],
            "subject / control, per CPU-second",
            capacity_quotients_of,
            capacity_change,
        ),
        "",
        "The subject's own CPU while nothing is sent to it (what holding the sockets costs "
        "by itself, read from /proc over "
        f"{IDLE_CPU_SECONDS:.0f} s): "
        + ", ".join(
            f"{state} {number(100 * share, 1)} % of a core"
            for state, share in outcome.idle_cpu.items()
        )
        + ".",
        "",
        f"Broadcasts: {len(outcome.broadcasts)} photos uploaded one after another by the "
        "bench user through `POST /api/v1/images`; each is published to the `feed` stream "
        "by the server, as any upload is. Latency: when the load client read the event on "
        "a socket (time.time()), minus the moment of publication (time.time() when the "
        "bench's own subscription to the live Redis channels saw the message); the upload "
        "request's own time is not counted. The client reads the frames of a broadcast one "
        "after another, so its own turn is in the figures.",
        "",
        *broadcast_table(outcome),
        "",
    ]
    if not all(b.timed_by_redis for b in outcome.broadcasts):
        lines += [
            "‡ the bench's subscription did not see this publication: timed from the start "
            "of the upload request instead (which counts the upload's own time).",
            "",
        ]
    lines += [
        f"The subject's RSS (MiB): {mib('started')} when it first answered, "
        f"{mib('before sockets')} after the round without sockets, "
        f"{mib('sockets open')} with the {n:,} sockets open, {mib('after measuring')} after "
        f"the round with them, {mib('after broadcasts')} after the broadcasts; peak "
        f"(VmHWM) {number(outcome.peak_rss_mib or math.nan, 1)}.",
        "",
        "Each round in full (`· control` marks the control's rows):",
        "",
        *round_tables("No socket open", outcome.without_rounds),
        *round_tables(f"With the {n:,} sockets open", outcome.with_rounds),
        *round_tables("After the sockets closed", outcome.after_rounds),
        *targets(outcome, routes),
    ]
    if outcome.closed is not None and outcome.closed.get("closed_by_server"):
        lines += ["", f"Sockets the server closed: {outcome.closed['closed_by_server']}"]
    return lines


def round_tables(title: str, rounds: list[list[Measurement]]) -> list[str]:
    lines: list[str] = []
    for index, measured in enumerate(rounds, start=1):
        lines += [f"{title}, round {index} of {len(rounds)}:", "", *table(measured), ""]
    return lines


def skipped_live() -> list[str]:
    return ["## Live updates (issue 14)", "", "Not measured (--no-live)."]

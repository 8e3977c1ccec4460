"""The benchmark's Markdown report: the table, memory, and the goals of issue 11."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

from wrk import WrkResult

CEILING = "ceiling"
CEILING_AGAIN = "ceiling (again)"
CEILINGS = (CEILING, CEILING_AGAIN)
# Between the ceiling's first and last run at one concurrency, a change larger
# than this means the machine's load changed under the routes measured between.
CEILING_DRIFT = 0.20
GOAL_CONNECTIONS = 64
# Under load, Gallery must not fail: no 5xx and no socket errors but timeouts
# (a timeout is a slow answer; a reset or refused connection is a failure).
ERROR_FREE_CONNECTIONS = (256, 1024)
RSS_LIMIT_BYTES = 150 * 1000 * 1000  # "150 MB"
# Below this many answers per connection in a window, the ramp at the start (all
# connections' first requests answered together) and the requests still
# unanswered at the end (which wrk drops: neither requests nor timeouts) weigh
# too much for the rate to mean much.
FEW_ANSWERS_PER_CONNECTION = 3
MIB = 1024 * 1024


@dataclass(frozen=True)
class Measurement:
    route: str
    connections: int
    result: WrkResult
    # The status the route must answer (200, or 304 for the polls).
    expected_status: int
    duration: int
    # Established connections per Hypercorn worker, sampled mid-run.
    connections_per_worker: list[int] = field(default_factory=list)
    # CPU time (user + system) the serving worker used while wrk ran, where the
    # bench read it (the live phase's one-worker servers).
    server_cpu_seconds: float | None = None

    @property
    def answers_per_connection(self) -> float:
        return self.result.requests_per_second * self.duration / self.connections

    @property
    def requests_per_cpu_second(self) -> float:
        """Answers per second of the worker's own CPU: its cost per request, which
        unlike its rate does not move when the machine gives it less than a core."""
        if not self.server_cpu_seconds:
            return math.nan
        statuses = self.result.statuses
        answered = (
            statuses.informational
            + statuses.success
            + statuses.redirection
            + statuses.client_error
            + statuses.server_error
        )
        return answered / self.server_cpu_seconds


@dataclass(frozen=True)
class RatioGoal:
    """``route``'s requests/s at 64 connections ≥ ``minimum`` × ``against``'s."""

    route: str
    minimum: float
    against: str = CEILING


RATIO_GOALS = (
    RatioGoal("feed 304 poll", 0.85),
    RatioGoal("feed (anonymous)", 0.70),
    RatioGoal("feed (signed in)", 0.40),
    RatioGoal("seed page 1", 0.60),
    RatioGoal("seed page 500", 0.83, against="seed page 1"),
    RatioGoal("home (anonymous)", 0.40),
)


@dataclass(frozen=True)
class Memory:
    """Resident memory (MiB) after the bench, per Hypercorn worker and of the master."""

    workers: list[float]
    master: float | None


def find(measurements: Iterable[Measurement], route: str, connections: int) -> Measurement | None:
    return next(
        (m for m in measurements if m.route == route and m.connections == connections), None
    )


def rate(measurements: list[Measurement], route: str, connections: int) -> float:
    """A route's requests/s at one concurrency; for the ceiling, the mean of its runs."""
    names = CEILINGS if route == CEILING else (route,)
    found = [find(measurements, name, connections) for name in names]
    rates = [m.result.requests_per_second for m in found if m is not None]
    return sum(rates) / len(rates) if rates else math.nan


def ratio(measurements: list[Measurement], route: str, against: str, connections: int) -> float:
    """``route``'s requests/s over ``against``'s at one concurrency (nan if either is missing)."""
    theirs = rate(measurements, against, connections)
    if theirs == 0:
        return math.nan
    return rate(measurements, route, connections) / theirs


def ratio_to_ceiling(measurements: list[Measurement], row: Measurement) -> float:
    """One row's requests/s over the ceiling's (mean) at its concurrency."""
    ceiling = rate(measurements, CEILING, row.connections)
    return math.nan if ceiling == 0 else row.result.requests_per_second / ceiling


def number(value: float, digits: int) -> str:
    return "–" if math.isnan(value) else f"{value:,.{digits}f}"


def other_statuses(result: WrkResult) -> int:
    """Answers that are neither 2xx/3xx nor 5xx: 1xx and 4xx."""
    return result.statuses.informational + result.statuses.client_error


def table(measurements: list[Measurement]) -> list[str]:
    lines = [
        "| route | connections | requests/s | p50 ms | p99 ms | 5xx | other non-2xx/3xx "
        "| socket errors (connect/read/write/timeout) | ratio to ceiling "
        "| connections per worker (mid-run) |",
        "|---|---:|---:|---:|---:|---:|---:|---|---:|---|",
    ]
    for m in measurements:
        result, errors = m.result, m.result.socket_errors
        dagger = " †" if m.answers_per_connection < FEW_ANSWERS_PER_CONNECTION else ""
        lines.append(
            f"| {m.route} | {m.connections:,} | {number(result.requests_per_second, 0)}{dagger} "
            f"| {number(result.p50_ms, 1)} | {number(result.p99_ms, 1)} "
            f"| {result.statuses.server_error:,} | {other_statuses(result):,} "
            f"| {errors.connect}/{errors.read}/{errors.write}/{errors.timeout} "
            f"| {number(ratio_to_ceiling(measurements, m), 2)} "
            f"| {'/'.join(map(str, m.connections_per_worker)) or '?'} |"
        )
    return lines


def ceiling_drift(measurements: list[Measurement]) -> list[str]:
    """Concurrencies at which the ceiling's two runs disagree: something else on
    the machine changed the conditions while the routes between were measured."""
    notes = []
    for connections in sorted({m.connections for m in measurements}):
        runs = [find(measurements, name, connections) for name in CEILINGS]
        rates = [m.result.requests_per_second for m in runs if m is not None]
        if len(rates) == 2 and min(rates) > 0 and max(rates) / min(rates) - 1 > CEILING_DRIFT:
            notes.append(
                f"- at {connections:,} connections the ceiling's two runs differ by "
                f"{max(rates) / min(rates) - 1:.0%} ({rates[0]:,.0f} and {rates[1]:,.0f} "
                "requests/s): the ratios there are against their mean and are shaky."
            )
    return notes


def unexpected_statuses(measurements: list[Measurement]) -> list[str]:
    """Rows whose 2xx/3xx answers were not the kind expected: a poll answered 200
    (its ETag went stale) or a page answered 3xx (a redirect, e.g. to /login)."""
    notes = []
    for m in measurements:
        statuses = m.result.statuses
        wrong, kind = (
            (statuses.success, "2xx") if m.expected_status == 304 else (statuses.redirection, "3xx")
        )
        if wrong:
            notes.append(
                f"- {m.route} at {m.connections:,} connections: {wrong:,} answers were {kind}, "
                f"not {m.expected_status}."
            )
    return notes


def memory_line(gallery: Memory, ceiling: Memory) -> str:
    def mib(values: list[float]) -> str:
        return ", ".join(f"{value:.1f}" for value in values) or "none found"

    master = "gone" if gallery.master is None else f"{gallery.master:.1f}"
    return (
        f"RSS after the bench (MiB): Gallery workers {mib(gallery.workers)}; "
        f"Gallery master {master}; ceiling workers {mib(ceiling.workers)}."
    )


def verdict(met: bool | None) -> str:
    return {True: "met", False: "**missed**", None: "not measured"}[met]


def ratio_goal_line(measurements: list[Measurement], goal: RatioGoal) -> str:
    value = ratio(measurements, goal.route, goal.against, GOAL_CONNECTIONS)
    met = None if math.isnan(value) else value >= goal.minimum
    against = "the ceiling" if goal.against == CEILING else goal.against
    return (
        f"- {goal.route}: {number(value, 3)} × {against} at {GOAL_CONNECTIONS} connections "
        f"(goal ≥ {goal.minimum:.2f}): {verdict(met)}"
    )


def error_goal_line(measurements: list[Measurement], connections: int) -> str:
    rows = [m for m in measurements if m.connections == connections and m.route not in CEILINGS]
    server_errors = sum(m.result.statuses.server_error for m in rows)
    socket_errors = sum(m.result.socket_errors.other_than_timeouts for m in rows)
    met = (server_errors == 0 and socket_errors == 0) if rows else None
    return (
        f"- at {connections:,} connections, Gallery's routes: {server_errors:,} 5xx and "
        f"{socket_errors:,} socket errors other than timeouts (goal: none): {verdict(met)}"
    )


def memory_goal_line(gallery: Memory) -> str:
    limit_mib = RSS_LIMIT_BYTES / MIB
    worst = max(gallery.workers, default=math.nan)
    met = None if math.isnan(worst) else worst <= limit_mib
    return (
        f"- RSS per Gallery worker: largest {number(worst, 1)} MiB "
        f"(goal ≤ 150 MB = {limit_mib:.1f} MiB): {verdict(met)}"
    )


def goal_check(measurements: list[Measurement], gallery: Memory) -> list[str]:
    lines = [
        f"Goals (ratios of requests/s at {GOAL_CONNECTIONS} connections; the ceiling's is the "
        "mean of its two runs):",
        "",
    ]
    lines += [ratio_goal_line(measurements, goal) for goal in RATIO_GOALS]
    lines += [error_goal_line(measurements, n) for n in ERROR_FREE_CONNECTIONS]
    lines.append(memory_goal_line(gallery))
    return lines


def render(
    preamble: list[str],
    measurements: list[Measurement],
    gallery: Memory,
    ceiling: Memory,
) -> str:
    lines = [*preamble, "", *table(measurements), ""]
    if any(m.answers_per_connection < FEW_ANSWERS_PER_CONNECTION for m in measurements):
        lines += [
            f"† Fewer than {FEW_ANSWERS_PER_CONNECTION} answers per connection in the window: "
            "the start (every connection's first request answered at about the same time) and "
            "the end (requests still unanswered are dropped by wrk, counted neither as requests "
            "nor as timeouts) dominate, so the rate understates the server; measure with a "
            "longer --duration.",
            "",
        ]
    notes = ceiling_drift(measurements)
    if notes:
        lines += ["The ceiling moved:", "", *notes, ""]
    notes = unexpected_statuses(measurements)
    if notes:
        lines += ["Unexpected answers:", "", *notes, ""]
    lines += [memory_line(gallery, ceiling), "", *goal_check(measurements, gallery)]
    return "\n".join(lines) + "\n"

"""schemathesis against ``/openapi.json``, in process: the document is honest.

Every operation is called with generated requests (valid and invalid ones,
boundary values first), signed out and as a real signed-in user, and each
answer is checked against the document: no 5xx, no status it does not list,
the content type and the JSON shape it promises.

The app under test is a second app on the same database and Redis as the
``app`` fixture (which seeds the data and signs the user in, as a browser
would): schemathesis drives it from a thread of its own, through its ASGI
lifespan, while this test's loop waits. The same run against a server
(``gallery serve``), signed out::

    schemathesis run http://127.0.0.1:8000/openapi.json \
        --checks not_a_server_error,status_code_conformance,content_type_conformance,\
response_schema_conformance,response_headers_conformance \
        --phases examples,coverage,fuzzing --max-examples 25 --seed 1 --workers 1

(``negative_data_rejection`` as well needs the per-operation exception below,
which only a ``schemathesis.toml`` can state.)

and signed in: add ``-H "Cookie: gallery_session=...; gallery_auth=..."
-H "X-CSRF-Token: ..."`` (the token from ``GET /api/v1/me``) and
``--exclude-name "DELETE /api/v1/sessions/{session_id}"`` (see below).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis.configuration import set_hypothesis_home_dir
from quart import Quart
from schemathesis.engine import Status, events
from schemathesis.python import asgi

from gallery import create_app
from gallery.infra.runtime import Runtime
from gallery.settings import Settings
from tests.helpers import (
    add_comment,
    add_follow,
    add_like,
    make_active_user,
    signed_in,
)
from tests.images import add_described_images

CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
    # What the document excludes is refused (4xx): the bounds are real.
    "negative_data_rejection",
)
# Per operation and phase: enough to reach every documented status, few enough
# that a pass stays well under a minute.
MAX_EXAMPLES = 10
SEED = 1


@pytest.fixture(autouse=True)
def hypothesis_home(tmp_path: Path) -> Iterator[None]:
    """Hypothesis keeps caches under ``.hypothesis/`` in the working directory: not here."""
    set_hypothesis_home_dir(tmp_path / "hypothesis")
    yield
    set_hypothesis_home_dir(None)


def fuzz_config(headers: dict[str, str]) -> schemathesis.Config:
    """The run: these checks only, bounded and repeatable, nothing written to disk."""
    checks = "\n".join(f"{name}.enabled = true" for name in CHECKS)
    header_lines = "\n".join(f"{name!r} = {value!r}" for name, value in headers.items())
    return schemathesis.Config.from_str(
        f"""
seed = {SEED}
workers = 1

[headers]
{header_lines}

[cache]
enabled = false

[checks]
enabled = false
{checks}

[generation]
max-examples = {MAX_EXAMPLES}
mode = "all"
database = "none"

[phases.stateful]
enabled = false

# Every part of a multipart form is text: schemathesis sends the number 123 as
# the description "123" and calls its acceptance a schema violation.
[[operations]]
include-name = "POST /api/v1/images"
checks.negative_data_rejection.enabled = false
"""
    )


def describe(recorder: Any, case_id: str, check: Any) -> str:
    case = recorder.cases[case_id].value
    failure = check.failure_info.failure
    return (
        f"{case.method} {case.formatted_path} query={case.query!r}: "
        f"{check.name}: {failure.title}: {failure.message}"
    )


@dataclass
class FuzzRun:
    """What one run found: its failures, described, and the statuses each operation gave."""

    failures: list[str] = field(default_factory=list)
    statuses: dict[str, set[int]] = field(default_factory=lambda: defaultdict(set))

    def record(self, recorder: Any) -> None:
        for case_id, checks in recorder.checks.items():
            self.failures.extend(
                describe(recorder, case_id, check)
                for check in checks
                if check.status == Status.FAILURE
            )
        method = recorder.label.split(" ", 1)[0]
        for interaction in recorder.interactions.values():
            # Only the operation's own method (the coverage phase also tries others: 405).
            if interaction.response is not None and interaction.request.method == method:
                self.statuses[recorder.label].add(interaction.response.status_code)


def fuzz(app: Quart, headers: dict[str, str], *, skip: tuple[str, ...] = ()) -> FuzzRun:
    """Run schemathesis against ``app`` (blocking, from a thread), without the ``skip``
    operations (named ``"METHOD /path"``)."""
    run = FuzzRun()
    try:
        schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=fuzz_config(headers))
        for name in skip:
            schema = schema.exclude(name=name)
        for event in schemathesis.engine.from_schema(schema).execute():
            if isinstance(event, events.ScenarioFinished):
                run.record(event.recorder)
            elif isinstance(event, events.NonFatalError):
                run.failures.append(f"{event.label}: {event.info.title}: {event.info.message}")
            elif isinstance(event, events.FatalError):
                raise event.exception
    finally:
        # Stops the app's lifespan (its pools) before the fixtures empty the stores.
        asgi.shutdown_lifespans()
    return run


async def seed_gallery(runtime: Runtime) -> int:
    """Something for every kind of answer: images with tags, comments, likes, a follow
    (and so notifications); the id of the user who made them."""
    owner_id = await make_active_user(runtime, "olga", "olga@example.com")
    fan_id = await make_active_user(runtime, "fan", "fan@example.com")
    image_ids = await add_described_images(runtime, owner_id, "#sea at dawn", "#sea again", "hills")
    for image_id in image_ids:
        await add_comment(runtime, fan_id, image_id, "lovely")
        await add_like(runtime, fan_id, image_id)
    await add_follow(runtime, fan_id, "olga")
    return owner_id


def cookie_header(client: Any) -> str:
    return "; ".join(f"{cookie.name}={cookie.value}" for cookie in client.cookie_jar)


async def test_the_document_holds_signed_out(
    app: Quart, runtime: Runtime, settings: Settings
) -> None:
    await seed_gallery(runtime)
    run = await asyncio.to_thread(fuzz, create_app(settings), {})
    assert run.failures == [], "\n".join(run.failures)
    # It reached the data, and the signed-in routes refused it.
    assert 200 in run.statuses["GET /api/v1/feed"]
    assert run.statuses["GET /api/v1/me"] == {401}
    assert 403 in run.statuses["PUT /api/v1/images/{image_id}/like"]


async def test_the_document_holds_signed_in(
    app: Quart, runtime: Runtime, settings: Settings
) -> None:
    await seed_gallery(runtime)
    client, token = await signed_in(app, runtime, "alice")
    headers = {"Cookie": cookie_header(client), "X-CSRF-Token": token}
    # schemathesis reuses values from earlier answers: it would revoke, from
    # GET /api/v1/sessions, the very session the run is signed in with.
    run = await asyncio.to_thread(
        fuzz, create_app(settings), headers, skip=("DELETE /api/v1/sessions/{session_id}",)
    )
    assert run.failures == [], "\n".join(run.failures)
    # Signed in for real: its own account, and unsafe requests past the CSRF check.
    assert run.statuses["GET /api/v1/me"] == {200}
    assert 200 in run.statuses["PUT /api/v1/images/{image_id}/like"]
    assert "DELETE /api/v1/sessions/{session_id}" not in run.statuses

"""The rate-limit table and the decorators that put it on routes (``web/rate_limits.py``).

Which route carries which limit is checked with the routes themselves, in
``test_route_permissions.py``; the limits of each form are tested next to it
(sign-in, registration and mail requests in ``test_security.py``, reports in
``test_reports.py``). Here: the table, and the counting against the real Redis.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from quart import Quart

from gallery.infra.runtime import Runtime
from gallery.web.permissions import permission_required
from gallery.web.rate_limits import (
    RATE_LIMITS,
    Key,
    count_attempt,
    counter_key,
    declared_limits,
    exemption_of,
    rate_limit_exempt,
    rate_limited,
)
from tests.helpers import (
    csrf_header,
    csrf_token,
    make_active_user,
    post_form,
    signed_in,
    stored_like_count,
    user_id_of,
)
from tests.images import add_image_rows
from tests.pools import running_app

# -- the table -----------------------------------------------------------------


def test_every_entry_is_sane() -> None:
    for name, entry in RATE_LIMITS.items():
        assert re.fullmatch(r"[a-z]+(-[a-z]+)*", name), name
        assert 1 <= entry.limit <= 1000, name
        assert 60 <= entry.window_seconds <= 24 * 3600, name
        assert entry.what and not entry.what.lower().startswith("too many"), name
        assert isinstance(entry.key, Key), name


def test_every_entry_is_spent_by_some_route(app: Quart) -> None:
    used = {
        name
        for view in app.view_functions.values()
        if (declared := declared_limits(view)) is not None
        for name in declared.names
    }
    assert sorted(RATE_LIMITS.keys() - used) == [], "entries no route declares"


# -- the decorators --------------------------------------------------------------


async def a_view() -> str:
    return "ok"


def test_a_declaration_is_checked_when_the_route_is_defined() -> None:
    with pytest.raises(KeyError, match="no-such-limit"):
        rate_limited("no-such-limit")
    with pytest.raises(TypeError, match="counted_in_view=True"):
        rate_limited("sign-ins-by-account")  # keyed by what the form says
    with pytest.raises(TypeError):
        rate_limited()
    with pytest.raises(TypeError, match="right above"):
        # Above the permission check it would count the requests that check refuses.
        rate_limited("likes")(permission_required()(a_view))
    with pytest.raises(ValueError):
        rate_limit_exempt("   ")


def test_the_decorators_record_what_the_route_test_reads(app: Quart) -> None:
    declared = declared_limits(app.view_functions["auth.login"])
    assert declared is not None
    assert declared.names == ("sign-ins-by-address", "sign-ins-by-account")
    assert declared.counted_in_view
    likes = declared_limits(app.view_functions["api.social.like_image"])
    assert likes is not None and likes.names == ("likes",) and not likes.counted_in_view

    reason = exemption_of(app.view_functions["auth.logout"])
    assert reason and "session" in reason
    assert exemption_of(rate_limit_exempt("a reason")(a_view)) == "a reason"
    assert (
        declared_limits(a_view) is None
        and exemption_of(app.view_functions["api.images.feed"]) is None
    )


# -- counting for real ------------------------------------------------------------


async def counter(runtime: Runtime, name: str, subject: str) -> int:
    assert runtime.redis is not None
    return int(await runtime.redis.get(counter_key(name, subject)) or 0)


async def counters(runtime: Runtime, name: str) -> list[int]:
    """Every counter of one entry (the test client's address is not ours to guess)."""
    assert runtime.redis is not None
    keys = await runtime.redis.keys(counter_key(name, "*"))
    return [int(await runtime.redis.get(key)) for key in keys]


async def test_a_limit_counts_before_the_view_and_refuses_past_it(
    app: Quart, runtime: Runtime
) -> None:
    alice_id = await make_active_user(runtime)
    (image_id,) = await add_image_rows(runtime, alice_id, 1)
    bob, token = await signed_in(app, runtime, "bob")
    bob_id = str(await user_id_of(runtime, "bob"))
    like = f"/api/v1/images/{image_id}/like"

    assert (await bob.put(like, headers=csrf_header(token))).status_code == 200
    assert await counter(runtime, "likes", bob_id) == 1
    # The page's form spends the same budget as the API.
    assert (await post_form(bob, f"/images/{image_id}/unlike")).status_code == 303
    assert await counter(runtime, "likes", bob_id) == 2
    assert runtime.redis is not None
    assert 0 < await runtime.redis.ttl(counter_key("likes", bob_id)) <= 600

    await runtime.redis.set(counter_key("likes", bob_id), RATE_LIMITS["likes"].limit, keepttl=True)
    refused = await bob.put(like, headers=csrf_header(token))
    assert refused.status_code == 429
    assert 0 < int(refused.headers["Retry-After"]) <= 600
    assert await refused.get_json() == {
        "error": {
            "code": "RATE_LIMITED",
            "message": "Too many likes. Please wait about 10 minutes and try again.",
        }
    }
    assert await stored_like_count(runtime, image_id) == 0  # the view never ran
    page = await post_form(bob, f"/images/{image_id}/like")
    assert page.status_code == 429
    assert "Retry-After" in page.headers
    assert "Too many likes." in await page.get_data(as_text=True)

    # The counter is Bob's: Carol still likes.
    carol, carol_token = await signed_in(app, runtime, "carol")
    assert (await carol.put(like, headers=csrf_header(carol_token))).status_code == 200


async def test_a_refused_or_malformed_request_costs_nothing(app: Quart, runtime: Runtime) -> None:
    alice_id = await make_active_user(runtime)
    (image_id,) = await add_image_rows(runtime, alice_id, 1)
    anonymous = app.test_client()
    anonymous_token = await csrf_token(anonymous)
    like = f"/api/v1/images/{image_id}/like"
    assert (await anonymous.put(like, headers=csrf_header(anonymous_token))).status_code == 401
    bob, token = await signed_in(app, runtime, "bob")
    comments = f"/api/v1/images/{image_id}/comments"
    bad = await bob.post(comments, json={"text": "not the field"}, headers=csrf_header(token))
    assert bad.status_code == 400
    assert await counters(runtime, "likes") == []
    assert await counters(runtime, "comments") == []


async def test_a_route_that_also_serves_get_counts_only_its_unsafe_methods(
    app: Quart, runtime: Runtime
) -> None:
    app.add_url_rule(
        "/test/form",
        "test_form",
        rate_limited("registrations")(a_view),
        methods=["GET", "POST"],
    )

    async def get_only() -> str:
        return "ok"

    app.add_url_rule("/test/get-only", "test_get_only", rate_limited("searches")(get_only))
    client = app.test_client()
    assert (await client.get("/test/form")).status_code == 200
    assert await counters(runtime, "registrations") == []
    assert (await post_form(client, "/test/form")).status_code == 200
    assert await counters(runtime, "registrations") == [1]
    assert (await client.get("/test/get-only")).status_code == 200
    assert await counters(runtime, "searches") == [1]


async def test_a_view_counts_only_what_its_route_declares(app: Quart, runtime: Runtime) -> None:
    async with app.test_request_context("/login", method="POST"):
        with pytest.raises(RuntimeError, match="without declaring"):
            await count_attempt("likes")
        with pytest.raises(TypeError):
            await count_attempt("sign-ins-by-account")  # needs the account typed in
        with pytest.raises(TypeError):
            await count_attempt("sign-ins-by-address", "someone")  # the address is known
        await count_attempt("sign-ins-by-account", "alice")
    assert await counter(runtime, "sign-ins-by-account", "alice") == 1
    async with app.test_request_context(f"/api/v1/images/{1}/like", method="PUT"):
        with pytest.raises(RuntimeError, match="counted_in_view=True"):
            await count_attempt("likes")  # the decorator counts it already


async def test_search_counts_a_query_but_not_the_empty_form(app: Quart, runtime: Runtime) -> None:
    client = app.test_client()
    assert (await client.get("/search")).status_code == 200
    assert (await client.get("/search", query_string={"q": "   "})).status_code == 200
    assert await counters(runtime, "searches") == []
    assert (await client.get("/search", query_string={"q": "sea"})).status_code == 200
    assert (await client.get("/api/v1/search", query_string={"q": "sea"})).status_code == 200
    assert await counters(runtime, "searches") == [2]


async def test_counting_is_off_when_the_settings_say_so(
    backend: dict[str, object], instance_root: Path, clean: None
) -> None:
    async with running_app(backend, instance_root, rate_limits_enabled=False) as (app, runtime):
        alice_id = await make_active_user(runtime)
        (image_id,) = await add_image_rows(runtime, alice_id, 1)
        bob, token = await signed_in(app, runtime, "bob")
        bob_id = str(await user_id_of(runtime, "bob"))
        assert runtime.redis is not None
        await runtime.redis.set(counter_key("likes", bob_id), RATE_LIMITS["likes"].limit)
        like = f"/api/v1/images/{image_id}/like"
        assert (await bob.put(like, headers=csrf_header(token))).status_code == 200
        assert await counter(runtime, "likes", bob_id) == RATE_LIMITS["likes"].limit
        async with app.test_request_context("/login", method="POST"):
            with pytest.raises(RuntimeError):
                await count_attempt("likes")  # a wrong declaration is refused all the same

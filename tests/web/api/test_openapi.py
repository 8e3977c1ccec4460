"""``/openapi.json`` (``web/json_routes.py``): every status a JSON route can give, with its
shape, and parameter bounds that are the bounds the routes enforce.

What the routes really answer is fuzzed in ``test_openapi_fuzz.py``; here the
document's promises are read directly, and the bounds are tried on both sides.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

import pytest
from quart import Quart

from gallery.infra.runtime import Runtime
from gallery.models.social import TAG_MAX_LENGTH
from gallery.services import paging, ranking, search
from gallery.web.compat import MAX_PAGE
from gallery.web.querystring import HOT_CURSOR_MAX_LENGTH, KEYSET_CURSOR_MAX_LENGTH
from gallery.web.routing import MAX_PATH_INTEGER
from tests.helpers import json_error_of, make_active_user, signed_in, user_id_of
from tests.images import add_image_rows

UNSAFE = {"post", "put", "patch", "delete"}
ERROR_REFERENCE = {"$ref": "#/components/schemas/Error"}


async def openapi(app: Quart) -> dict[str, Any]:
    response = await app.test_client().get("/openapi.json")
    assert response.status_code == 200
    return await response.get_json()


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, operation)
        for path, methods in document["paths"].items()
        for method, operation in methods.items()
    ]


def parameter(operation: dict[str, Any], name: str) -> dict[str, Any]:
    (found,) = [p for p in operation["parameters"] if p["name"] == name]
    return found


def statuses(document: dict[str, Any], method: str, path: str) -> set[int]:
    return {int(status) for status in document["paths"][path][method]["responses"]}


# -- responses -------------------------------------------------------------------


async def test_every_error_answer_has_the_error_shape(app: Quart) -> None:
    document = await openapi(app)
    error = document["components"]["schemas"]["Error"]
    assert error["required"] == ["error"]
    detail = document["components"]["schemas"]["ErrorDetail"]
    assert set(detail["properties"]) == {"code", "message"}
    for method, path, operation in operations(document):
        for status, response in operation["responses"].items():
            assert response["description"], (method, path, status)
            if int(status) >= 400:
                schema = response["content"]["application/json"]["schema"]
                assert schema == ERROR_REFERENCE, (method, path, status)


async def test_the_statuses_every_route_shares(app: Quart) -> None:
    document = await openapi(app)
    for method, path, operation in operations(document):
        found = statuses(document, method, path)
        # Overload and outages can refuse anything.
        assert 503 in found, (method, path)
        assert "Retry-After" in operation["responses"]["503"]["headers"]
        if method in UNSAFE:
            # The CSRF check, and a body over the limit.
            assert {403, 413} <= found, (method, path)
            assert "CSRF" in operation["responses"]["403"]["description"]
        else:
            assert 413 not in found, (method, path)
        # Success first: exactly one 2xx.
        assert len([s for s in found if 200 <= s < 300]) == 1, (method, path)


@pytest.mark.parametrize(
    ("method", "path", "expected", "absent"),
    [
        # signed in by @permission_required, rate-limited, a body model
        ("post", "/api/v1/images/{image_id}/comments", {201, 400, 401, 403, 404, 429}, {204}),
        ("post", "/api/v1/images", {201, 400, 401, 403, 413, 415, 422, 429}, {404}),
        # require_user() in the view
        ("get", "/api/v1/me", {200, 401}, {304, 400, 403, 429}),
        ("delete", "/api/v1/images/{image_id}", {204, 401, 403, 404}, {200, 429}),
        ("delete", "/api/v1/sessions/{session_id}", {204, 401, 404}, {200, 429}),
        ("put", "/api/v1/users/{username}/follow", {200, 400, 404, 429}, set()),
        ("post", "/api/v1/images/{image_id}/report", {201, 400, 404, 409, 429}, set()),
        # public reads
        ("get", "/api/v1/feed", {200, 304, 400}, {401, 403, 404, 429}),
        ("get", "/api/v1/search", {200, 400, 429}, {304, 401}),
        ("get", "/api/v1/images/{image_id}", {200, 304, 404}, {400, 401}),
        ("get", "/index/images/{page}/{per_page}/", {200, 304, 400, 404}, {401}),
    ],
)
async def test_each_route_lists_what_it_answers(
    app: Quart, method: str, path: str, expected: set[int], absent: set[int]
) -> None:
    found = statuses(await openapi(app), method, path)
    assert expected <= found
    assert not absent & found


async def test_empty_answers_have_no_body_and_polls_have_etags(app: Quart) -> None:
    document = await openapi(app)
    deleted = document["paths"]["/api/v1/comments/{comment_id}"]["delete"]["responses"]
    assert "content" not in deleted["204"]
    feed = document["paths"]["/api/v1/feed"]["get"]["responses"]
    assert "content" not in feed["304"]
    assert "ETag" in feed["304"]["headers"] and "ETag" in feed["200"]["headers"]
    limited = document["paths"]["/api/v1/images/{image_id}/like"]["put"]["responses"]
    assert "Retry-After" in limited["429"]["headers"]


# -- parameter bounds --------------------------------------------------------------


async def test_paging_parameters_carry_their_bounds(app: Quart) -> None:
    document = await openapi(app)
    feed = document["paths"]["/api/v1/feed"]["get"]
    assert parameter(feed, "limit")["schema"] == {
        "type": "integer",
        "minimum": 1,
        "maximum": paging.MAX_LIMIT,
    }
    cursor = parameter(feed, "cursor")
    assert cursor["schema"]["maxLength"] == KEYSET_CURSOR_MAX_LENGTH
    assert cursor["schema"]["type"] == "string"  # never null: absent instead
    assert not cursor.get("required")
    hot = document["paths"]["/api/v1/feed/hot"]["get"]
    assert parameter(hot, "cursor")["schema"]["maxLength"] == HOT_CURSOR_MAX_LENGTH
    found = document["paths"]["/api/v1/search"]["get"]
    assert parameter(found, "cursor")["schema"]["maxLength"] == search.MAX_CURSOR_LENGTH
    q = parameter(found, "q")
    assert q["required"] is True
    assert (q["schema"]["minLength"], q["schema"]["maxLength"]) == (1, search.MAX_QUERY_LENGTH)
    assert parameter(found, "type")["schema"]["enum"] == [
        *(t.value for t in search.SearchType),
        "",
    ]


async def test_path_integers_carry_their_bounds(app: Quart) -> None:
    document = await openapi(app)
    image = document["paths"]["/api/v1/images/{image_id}"]["get"]
    assert parameter(image, "image_id")["schema"] == {
        "type": "integer",
        "minimum": 0,
        "maximum": MAX_PATH_INTEGER,
    }
    seed = document["paths"]["/index/images/{page}/{per_page}/"]["get"]
    assert parameter(seed, "page")["schema"]["minimum"] == 1
    assert parameter(seed, "page")["schema"]["maximum"] == MAX_PAGE
    assert parameter(seed, "per_page")["schema"]["minimum"] == 1
    username = document["paths"]["/api/v1/users/{username}"]["get"]
    assert parameter(username, "username")["schema"]["pattern"] == "^[^/]{1,}$"


async def test_every_route_with_an_id_in_its_path_documents_not_found(app: Quart) -> None:
    """An id past the column's range matches no route, so 404 is always possible.

    The fuzzer finds a route that forgets this only when it happens to draw such
    an id; this reads every such route instead.
    """
    document = await openapi(app)
    with_ids = [
        (method, path)
        for method, path, operation in operations(document)
        if any(
            p["in"] == "path" and p["schema"].get("type") == "integer"
            for p in operation.get("parameters", [])
        )
    ]
    assert ("delete", "/api/v1/images/{image_id}/save") in with_ids
    missing = [(m, p) for m, p in with_ids if 404 not in statuses(document, m, p)]
    assert missing == []


def test_every_cursor_the_services_issue_fits_the_documented_bounds() -> None:
    pattern = re.compile(r"[A-Za-z0-9_-]*")
    longest = {
        KEYSET_CURSOR_MAX_LENGTH: paging.encode_cursor(paging.MAX_ID),
        HOT_CURSOR_MAX_LENGTH: ranking.encode_hot_cursor("f" * 16, ranking.MAX_RANKED),
        # A tag key of the longest name, in the widest UTF-8 characters.
        search.MAX_CURSOR_LENGTH: paging.pack_cursor(
            search.KEY_CURSOR_PREFIX + "\U0001f305" * TAG_MAX_LENGTH
        ),
    }
    for bound, cursor in longest.items():
        assert len(cursor) <= bound and pattern.fullmatch(cursor), (bound, cursor)


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("limit=1", 200),
        (f"limit={paging.MAX_LIMIT}", 200),
        ("cursor=", 200),
        ("limit=0", 400),
        (f"limit={paging.MAX_LIMIT + 1}", 400),
        ("limit=abc", 400),
        ("cursor=" + "A" * (KEYSET_CURSOR_MAX_LENGTH + 1), 400),
        ("cursor=" + quote("djE6MTA="), 400),  # padding is not in the alphabet
    ],
)
async def test_the_feed_refuses_exactly_what_the_document_excludes(
    app: Quart, query: str, status: int
) -> None:
    response = await app.test_client().get(f"/api/v1/feed?{query}")
    assert response.status_code == status


@pytest.mark.parametrize(
    ("path", "status"),
    [
        (f"/index/images/{MAX_PAGE}/1/", 200),
        (f"/index/images/{MAX_PAGE + 1}/1/", 404),
        ("/index/images/1/0/", 400),
        (f"/index/images/1/{MAX_PATH_INTEGER}/", 200),  # served as the largest page
        (f"/api/v1/images/{MAX_PATH_INTEGER}", 404),
        (f"/api/v1/images/{MAX_PATH_INTEGER + 1}", 404),
        ("/api/v1/images/99999999999999999999", 404),
    ],
)
async def test_path_integers_are_refused_beyond_the_documented_bounds(
    app: Quart, path: str, status: int
) -> None:
    assert (await app.test_client().get(path)).status_code == status


async def test_an_id_out_of_range_is_not_found_whatever_the_method(
    app: Quart, runtime: Runtime
) -> None:
    """Not 405: werkzeug matched the GET and PATCH rules of the same path by path alone."""
    client, token = await signed_in(app, runtime)
    headers = {"X-CSRF-Token": token}
    for number in (MAX_PATH_INTEGER + 1, 10**22):
        path = f"/api/v1/images/{number}"
        assert (await client.delete(path, headers=headers)).status_code == 404
        assert (await client.patch(path, json={}, headers=headers)).status_code == 404
        assert (await client.put(f"{path}/like", headers=headers)).status_code == 404


# -- what a refusal says -------------------------------------------------------------


async def test_a_bad_query_string_is_called_one(app: Quart) -> None:
    response = await app.test_client().get("/api/v1/feed?limit=0")
    error = await json_error_of(response)
    assert error["code"] == "BAD_REQUEST"
    assert error["message"].startswith("The query string is not valid: limit: ")


async def test_a_bad_body_is_called_one(app: Quart, runtime: Runtime) -> None:
    author_id = await make_active_user(runtime, "olga", "olga@example.com")
    (image_id,) = await add_image_rows(runtime, author_id, 1)
    client, token = await signed_in(app, runtime)
    response = await client.post(
        f"/api/v1/images/{image_id}/comments", json={"text": "hi"}, headers={"X-CSRF-Token": token}
    )
    assert response.status_code == 400
    assert (await json_error_of(response))["message"].startswith(
        "The request body is not valid: content: "
    )


async def test_a_body_that_is_not_utf8_is_400_not_500(app: Quart, runtime: Runtime) -> None:
    author_id = await make_active_user(runtime, "olga", "olga@example.com")
    (image_id,) = await add_image_rows(runtime, author_id, 1)
    client, token = await signed_in(app, runtime)
    response = await client.patch(
        f"/api/v1/images/{image_id}",
        data=b'{"comments_enabled": "\xbe"}',
        headers={"X-CSRF-Token": token, "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert "not UTF-8" in (await json_error_of(response))["message"]


@pytest.mark.parametrize("value", [0, 1, "yes", "false"])
async def test_a_documented_boolean_takes_only_json_booleans(
    app: Quart, runtime: Runtime, value: object
) -> None:
    client, token = await signed_in(app, runtime)
    (image_id,) = await add_image_rows(runtime, await user_id_of(runtime, "alice"), 1)
    response = await client.patch(
        f"/api/v1/images/{image_id}",
        json={"comments_enabled": value},
        headers={"X-CSRF-Token": token},
    )
    assert response.status_code == 400
    assert "comments_enabled" in (await json_error_of(response))["message"]

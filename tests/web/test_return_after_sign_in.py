"""After signing in to do something that only posts (like, follow, report),
the visitor lands back on the page they were on, never on the POST-only URL."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from quart.typing import TestClientProtocol as Client

from gallery.infra.runtime import Runtime
from tests.helpers import csrf_token, make_active_user, sign_in
from tests.images import add_image_rows


def next_of(location: str) -> str:
    parts = urlsplit(location)
    assert parts.path == "/login", location
    return parse_qs(parts.query)["next"][0]


async def test_a_signed_out_like_returns_to_the_page_it_was_on(
    client: Client, runtime: Runtime
) -> None:
    owner_id = await make_active_user(runtime, "olga", "olga@example.com")
    [image_id] = await add_image_rows(runtime, owner_id, 1)
    await make_active_user(runtime)
    token = await csrf_token(client, f"/images/{image_id}")

    response = await client.post(
        f"/images/{image_id}/like",
        form={"csrf_token": token},
        headers={"Referer": "http://localhost/u/olga?cursor=abc"},
    )
    assert response.status_code == 302
    target = next_of(response.headers["Location"])
    assert target == "/u/olga?cursor=abc"

    signed_in = await sign_in(client, next_url="/u/olga%3Fcursor%3Dabc")
    assert signed_in.status_code == 302
    assert signed_in.headers["Location"] == "/u/olga?cursor=abc"


async def test_the_form_next_field_wins_over_the_referrer(client: Client, runtime: Runtime) -> None:
    await make_active_user(runtime, "olga", "olga@example.com")
    token = await csrf_token(client, "/u/olga")
    response = await client.post(
        "/u/olga/follow",
        form={"csrf_token": token, "next": "/u/olga/followers"},
        headers={"Referer": "http://localhost/"},
    )
    assert next_of(response.headers["Location"]) == "/u/olga/followers"


async def test_a_post_only_or_foreign_return_address_goes_home_instead(
    client: Client, runtime: Runtime
) -> None:
    owner_id = await make_active_user(runtime, "olga", "olga@example.com")
    [image_id] = await add_image_rows(runtime, owner_id, 1)
    token = await csrf_token(client)
    cases = [
        # The form names a URL that only takes POST: a GET there would be a 405.
        ({"next": f"/images/{image_id}/like"}, {}),
        # Another site referred the form.
        ({}, {"Referer": f"http://evil.example/images/{image_id}"}),
        # The action's own URL as the referrer.
        ({}, {"Referer": f"http://localhost/images/{image_id}/like"}),
        # No hint at all.
        ({}, {}),
    ]
    for fields, headers in cases:
        response = await client.post(
            f"/images/{image_id}/like", form={"csrf_token": token, **fields}, headers=headers
        )
        assert response.status_code == 302
        assert next_of(response.headers["Location"]) == "/", (fields, headers)


async def test_signed_out_like_and_follow_links_carry_the_current_page(
    client: Client, runtime: Runtime
) -> None:
    owner_id = await make_active_user(runtime, "olga", "olga@example.com")
    [image_id] = await add_image_rows(runtime, owner_id, 1)
    page = await (await client.get(f"/images/{image_id}")).get_data(as_text=True)
    assert f'href="/login?next=/images/{image_id}"' in page  # the heart
    profile = await (await client.get("/u/olga")).get_data(as_text=True)
    assert 'href="/login?next=/u/olga"' in profile  # the follow button


async def test_signing_in_with_a_post_only_next_lands_home(
    client: Client, runtime: Runtime
) -> None:
    await make_active_user(runtime)
    response = await sign_in(client, next_url="/u/alice/follow")
    assert response.status_code == 302
    assert response.headers["Location"] == "/"

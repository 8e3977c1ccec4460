"""The social pages and their no-JavaScript forms: likes, follows, the people lists,
the following feed, notifications and the navbar's bell."""

from __future__ import annotations

import html
import re

import pytest
from quart import Quart

from gallery.infra.runtime import Runtime
from gallery.services import notifications, social
from tests.helpers import (
    add_comment,
    add_follow,
    add_like,
    add_user_row,
    make_active_user,
    page_html,
    post_form,
    signed_in,
    stored_like_count,
    user_id_of,
)
from tests.images import add_image_rows

BADGE = re.compile(
    r'<span class="nav-bell-badge" data-unread-badge aria-hidden="true"( hidden)?>([^<]*)<'
)


def like_control(body: str, image_id: int) -> str:
    """The like control of one image on a page (the first, if it shows twice)."""
    found = re.search(
        rf'<div class="like-count[^"]*" data-like-count data-like-image="{image_id}">.*?</div>',
        body,
        re.S,
    )
    assert found, f"no like control for image {image_id}"
    return found.group(0)


def badge(body: str) -> str | None:
    """The bell's badge: its text, or None when hidden or absent."""
    found = BADGE.search(body)
    if found is None or found.group(1):
        return None
    return found.group(2)


# -- likes ---------------------------------------------------------------------


async def test_like_and_unlike_without_javascript(app: Quart, runtime: Runtime) -> None:
    alice = await make_active_user(runtime)
    (image_id,) = await add_image_rows(runtime, alice, 1)
    bob, _ = await signed_in(app, runtime, "bob")

    control = like_control(await page_html(bob, "/"), image_id)
    assert f'action="/images/{image_id}/like"' in control
    assert 'aria-pressed="false"' in control and 'aria-label="Like"' in control
    assert 'name="next" value="/"' in control
    assert '<span class="count-value">0</span>' in control

    liked = await post_form(bob, f"/images/{image_id}/like", {"next": "/?cursor=abc"})
    assert liked.status_code == 303
    assert liked.headers["Location"] == "/?cursor=abc"
    assert await stored_like_count(runtime, image_id) == 1

    control = like_control(await page_html(bob, f"/images/{image_id}"), image_id)
    assert "is-liked" in control
    assert f'action="/images/{image_id}/unlike"' in control
    assert 'aria-pressed="true"' in control and 'aria-label="Unlike"' in control
    assert '<span class="count-value">1</span><span class="visually-hidden"> like</span>' in control

    # Liking twice changes nothing; an absolute `next` is ignored for the image page.
    again = await post_form(bob, f"/images/{image_id}/like", {"next": "https://evil.example/"})
    assert again.headers["Location"] == f"/images/{image_id}"
    assert await stored_like_count(runtime, image_id) == 1

    for evil in ("//evil.example/x", "/\\evil.example", "javascript:alert(1)"):
        unliked = await post_form(bob, f"/images/{image_id}/unlike", {"next": evil})
        assert unliked.status_code == 303
        assert unliked.headers["Location"] == f"/images/{image_id}"
    assert await stored_like_count(runtime, image_id) == 0


async def test_signed_out_viewers_get_a_sign_in_link_instead_of_a_like_button(
    app: Quart, runtime: Runtime
) -> None:
    alice = await make_active_user(runtime)
    (image_id,) = await add_image_rows(runtime, alice, 1)
    client = app.test_client()

    control = like_control(await page_html(client, f"/images/{image_id}"), image_id)
    assert "<form" not in control
    assert f'href="/login?next=/images/{image_id}"' in control
    assert "data-like-signin" in control
    home = await page_html(client, "/")
    assert 'href="/login?next=/"' in like_control(home, image_id)
    assert "data-signed-in" not in home and "data-notification-bell" not in home

    # Posting anyway (with the anonymous session's token) asks to sign in.
    response = await post_form(client, f"/images/{image_id}/like")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")
    assert await stored_like_count(runtime, image_id) == 0


async def test_like_forms_need_the_csrf_token(app: Quart, runtime: Runtime) -> None:
    alice = await make_active_user(runtime)
    (image_id,) = await add_image_rows(runtime, alice, 1)
    bob, _ = await signed_in(app, runtime, "bob")

    for path in (f"/images/{image_id}/like", f"/images/{image_id}/unlike", "/u/alice/follow"):
        refused = await bob.post(path, form={"next": "/"})
        assert refused.status_code == 403, path
        refused = await bob.post(path, form={"csrf_token": "wrong", "next": "/"})
        assert refused.status_code == 403, path
    assert await stored_like_count(runtime, image_id) == 0
    async with runtime.db.session() as session:
        assert (await social.follow_counts(session, alice)).followers == 0


async def test_liking_a_missing_image_is_404(app: Quart, runtime: Runtime) -> None:
    bob, _ = await signed_in(app, runtime, "bob")
    assert (await post_form(bob, "/images/4242/like")).status_code == 404
    assert (await post_form(bob, "/images/4242/unlike")).status_code == 404


# -- follows -------------------------------------------------------------------


async def test_follow_and_unfollow_without_javascript(app: Quart, runtime: Runtime) -> None:
    alice = await make_active_user(runtime)
    (image_id,) = await add_image_rows(runtime, alice, 1)
    bob, _ = await signed_in(app, runtime, "bob")

    profile = await page_html(bob, "/u/alice")
    assert 'action="/u/alice/follow"' in profile
    assert 'aria-pressed="false"' in profile
    assert re.search(r'data-follower-count="alice">0</strong> <span[^>]*>followers<', profile)
    image_page = await page_html(bob, f"/images/{image_id}")
    assert 'action="/u/alice/follow"' in image_page
    assert f'name="next" value="/images/{image_id}"' in image_page

    followed = await post_form(bob, "/u/alice/follow", {"next": f"/images/{image_id}"})
    assert followed.status_code == 303
    assert followed.headers["Location"] == f"/images/{image_id}"
    image_page = await page_html(bob, f"/images/{image_id}")
    assert "You now follow alice." in image_page
    assert 'action="/u/alice/unfollow"' in image_page

    profile = await page_html(bob, "/u/alice")
    assert 'action="/u/alice/unfollow"' in profile
    assert 'aria-pressed="true"' in profile and "is-following" in profile
    assert re.search(r'data-follower-count="alice">1</strong> <span[^>]*>follower<', profile)
    assert re.search(r"data-following-count>1</strong> following", await page_html(bob, "/u/bob"))

    # An absolute `next` is ignored: back to the profile.
    unfollowed = await post_form(bob, "/u/alice/unfollow", {"next": "https://evil.example/"})
    assert unfollowed.status_code == 303
    assert unfollowed.headers["Location"] == "/u/alice"
    async with runtime.db.session() as session:
        assert (await social.follow_counts(session, alice)).followers == 0


async def test_no_follow_button_on_your_own_profile_or_photos(app: Quart, runtime: Runtime) -> None:
    alice, _ = await signed_in(app, runtime, "alice")
    (image_id,) = await add_image_rows(runtime, await user_id_of(runtime, "alice"), 1)
    assert "data-follow-form" not in await page_html(alice, "/u/alice")
    assert "data-follow-form" not in await page_html(alice, f"/images/{image_id}")
    assert "data-follow-signin" not in await page_html(alice, "/u/alice")

    refused = await post_form(alice, "/u/alice/follow")
    assert refused.status_code == 400
    assert "cannot follow yourself" in await refused.get_data(as_text=True)


async def test_following_someone_unknown_is_404(app: Quart, runtime: Runtime) -> None:
    bob, _ = await signed_in(app, runtime, "bob")
    assert (await post_form(bob, "/u/nobody/follow")).status_code == 404
    assert (await post_form(bob, "/u/nobody/unfollow")).status_code == 404


async def test_signed_out_viewers_get_a_sign_in_link_to_follow(
    app: Quart, runtime: Runtime
) -> None:
    alice = await make_active_user(runtime)
    (image_id,) = await add_image_rows(runtime, alice, 1)
    client = app.test_client()
    profile = await page_html(client, "/u/alice")
    assert "data-follow-form" not in profile
    assert 'href="/login?next=/u/alice" data-follow-signin' in profile
    image_page = await page_html(client, f"/images/{image_id}")
    assert f'href="/login?next=/images/{image_id}" data-follow-signin' in image_page
    response = await post_form(client, "/u/alice/follow")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")


async def test_followers_and_following_lists_page_with_more_links(
    app: Quart, runtime: Runtime
) -> None:
    alice = await make_active_user(runtime)
    fans = [await add_user_row(runtime, f"fan{index:02d}") for index in range(33)]
    for fan in fans:
        await add_follow(runtime, fan, "alice")
    await add_follow(runtime, alice, "fan00")
    client = app.test_client()

    first = await page_html(client, "/u/Alice/followers")
    shown = re.findall(r'data-person="([^"]+)"', first)
    assert shown == [f"fan{index:02d}" for index in range(32, 2, -1)]  # newest first, 30
    assert re.search(r"<strong>33</strong> followers", first)
    assert re.search(r"<strong>1</strong> following", first)
    more = re.search(r'href="([^"]+)" rel="next" data-people-more', first)
    assert more
    rest = await page_html(client, html.unescape(more.group(1)))
    assert re.findall(r'data-person="([^"]+)"', rest) == ["fan02", "fan01", "fan00"]
    assert "data-people-more" not in rest

    following = await page_html(client, "/u/alice/following")
    assert re.findall(r'data-person="([^"]+)"', following) == ["fan00"]
    assert 'href="/u/fan00"' in following

    await add_user_row(runtime, "loner")
    assert "loner does not follow anyone yet" in await page_html(client, "/u/loner/following")
    assert "No followers yet" in await page_html(client, "/u/loner/followers")

    for path in ("/u/nobody/followers", "/u/nobody/following"):
        assert (await client.get(path)).status_code == 404
    assert (await client.get("/u/alice/followers?cursor=not-a-cursor")).status_code == 400


# -- the following feed --------------------------------------------------------


async def test_following_page_needs_sign_in(app: Quart) -> None:
    response = await app.test_client().get("/following")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=/following"


async def test_following_page_shows_followed_people_only(app: Quart, runtime: Runtime) -> None:
    alice = await make_active_user(runtime)
    carol = await make_active_user(runtime, "carol", "carol@example.com")
    alice_ids = await add_image_rows(runtime, alice, 14)
    carol_ids = await add_image_rows(runtime, carol, 2)
    bob, _ = await signed_in(app, runtime, "bob")

    empty = await page_html(bob, "/following")
    assert "Follow people to see their photos here" in empty
    assert 'href="/"' in empty and "Browse the latest photos" in empty
    assert 'aria-current="page">Following</a>' in empty
    assert "data-image-id" not in empty

    await post_form(bob, "/u/alice/follow")
    body = await page_html(bob, "/following")
    shown = [int(i) for i in re.findall(r'<article class="photo-card" data-image-id="(\d+)"', body)]
    assert shown == sorted(alice_ids, reverse=True)[:12]
    assert not set(shown) & set(carol_ids)
    assert 'data-feed-url="/api/v1/feed/following"' in body
    more = re.search(r'href="(/following\?cursor=[^"]+)" rel="next"', body)
    assert more
    rest = await page_html(bob, html.unescape(more.group(1)))
    assert [int(i) for i in re.findall(r'class="photo-card" data-image-id="(\d+)"', rest)] == (
        sorted(alice_ids, reverse=True)[12:]
    )

    home = await page_html(bob, "/")
    assert 'aria-current="page">Latest</a>' in home
    assert 'href="/following"' in home


# -- notifications -------------------------------------------------------------


async def test_notifications_page_and_the_bell(app: Quart, runtime: Runtime) -> None:
    alice_client, _ = await signed_in(app, runtime, "alice")
    alice = await user_id_of(runtime, "alice")
    bob = await make_active_user(runtime, "bob", "bob@example.com")
    (image_id,) = await add_image_rows(runtime, alice, 1)

    quiet = await page_html(alice_client, "/")
    assert badge(quiet) is None
    assert "data-notification-bell" in quiet and "data-signed-in" in quiet
    assert "No notifications yet" in await page_html(alice_client, "/notifications")

    await add_like(runtime, bob, image_id)
    await add_comment(runtime, bob, image_id, "Nice <b>shot</b> & light")
    await add_follow(runtime, bob, "alice")

    body = await page_html(alice_client, "/notifications")
    assert badge(body) == "3"
    assert "Notifications (3 unread)" in body
    ids = [int(i) for i in re.findall(r'data-notification data-notification-id="(\d+)"', body)]
    assert len(ids) == 3 and ids == sorted(ids, reverse=True)  # newest first
    assert body.count("is-unread") == 3
    assert "<strong>bob</strong> started following you" in body
    assert "<strong>bob</strong> commented on your photo" in body
    assert "<strong>bob</strong> liked your photo" in body
    assert "Nice &lt;b&gt;shot&lt;/b&gt; &amp; light" in body and "<b>shot</b>" not in body
    assert f'href="/images/{image_id}#comment-' in body
    assert 'href="/u/bob"' in body
    assert "3 unread" in body and "Mark all as read" in body
    # The bell shows on every page, error pages included.
    assert badge(await page_html(alice_client, "/u/bob")) == "3"
    missing = await alice_client.get("/images/4242")
    assert missing.status_code == 404 and badge(await missing.get_data(as_text=True)) == "3"

    # One read, without JavaScript; back to the notice (an absolute next is ignored).
    marked = await post_form(
        alice_client, f"/notifications/{ids[0]}/read", {"next": "https://x.test/"}
    )
    assert marked.status_code == 303
    assert marked.headers["Location"] == f"/notifications#notification-{ids[0]}"
    body = await page_html(alice_client, "/notifications")
    assert badge(body) == "2" and body.count("is-unread") == 2
    marked = await post_form(
        alice_client, f"/notifications/{ids[1]}/read", {"next": "/notifications?x=1"}
    )
    assert marked.headers["Location"] == "/notifications?x=1"

    everything = await post_form(alice_client, "/notifications/read-all")
    assert everything.status_code == 303 and everything.headers["Location"] == "/notifications"
    body = await page_html(alice_client, "/notifications")
    assert "All notifications are marked as read." in body
    assert badge(body) is None and "is-unread" not in body
    assert "You're all caught up." in body
    async with runtime.db.session() as session:
        assert await notifications.unread_count(session, runtime.redis, alice) == 0  # type: ignore[arg-type]


async def test_notifications_are_private(app: Quart, runtime: Runtime) -> None:
    alice = await make_active_user(runtime)
    (image_id,) = await add_image_rows(runtime, alice, 1)
    bob, _ = await signed_in(app, runtime, "bob")
    bob_id = await user_id_of(runtime, "bob")
    await add_like(runtime, bob_id, image_id)
    async with runtime.db.session() as session:
        page_of_alice = await notifications.list_notifications(
            session,
            runtime.redis,  # type: ignore[arg-type]
            user_id=alice,
            limit=10,
            cursor=None,
        )
    (notice_id,) = [entry.notification.id for entry in page_of_alice.entries]

    assert "No notifications yet" in await page_html(bob, "/notifications")
    assert (await post_form(bob, f"/notifications/{notice_id}/read")).status_code == 404
    assert (await post_form(bob, "/notifications/4242/read")).status_code == 404

    anonymous = app.test_client()
    response = await anonymous.get("/notifications")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=/notifications"
    response = await post_form(anonymous, "/notifications/read-all")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    assert (await bob.post("/notifications/read-all", form={})).status_code == 403


async def test_notifications_page_more_link(app: Quart, runtime: Runtime) -> None:
    alice_client, _ = await signed_in(app, runtime, "alice")
    images = await add_image_rows(runtime, await user_id_of(runtime, "alice"), 33)
    fan = await add_user_row(runtime, "fan")
    for image_id in images:
        await add_like(runtime, fan, image_id)
    first = await page_html(alice_client, "/notifications")
    assert first.count("data-notification ") == 30
    more = re.search(r'href="([^"]+)" rel="next" data-notifications-more', first)
    assert more
    rest = await page_html(alice_client, html.unescape(more.group(1)))
    assert rest.count("data-notification ") == 3
    assert "data-notifications-more" not in rest
    assert badge(rest) == "33"


async def test_a_broken_unread_count_does_not_break_pages(
    app: Quart, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice, _ = await signed_in(app, runtime, "alice")

    async def broken(*_args: object, **_kwargs: object) -> int:
        raise RuntimeError("redis is on fire")

    monkeypatch.setattr(notifications, "unread_count", broken)
    body = await page_html(alice, "/")
    assert "data-notification-bell" in body and badge(body) is None
    assert (await alice.get("/images/4242")).status_code == 404

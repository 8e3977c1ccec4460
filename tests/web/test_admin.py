"""The administration pages: the dashboard, the report queue, the moderation log,
the account actions behind them, and the moderators' controls on profiles."""

from __future__ import annotations

import html
import re

import pytest
from quart import Quart
from quart.typing import TestClientProtocol as Client
from sqlalchemy import func, select, update

from gallery.infra.runtime import Runtime
from gallery.models import Image, User
from gallery.models.comment import Comment
from gallery.models.mail import OutboxMessage, OutboxStatus
from gallery.models.moderation import ModerationAction, Report
from gallery.models.user import Role
from gallery.services import moderation, reports
from gallery.services.reports import ReportTarget
from gallery.web.admin import ACTION_LABELS
from tests.helpers import (
    add_comment,
    add_user_rows,
    administrator_client,
    counted_statements,
    fetch_user_by_name,
    file_report,
    follow_redirect,
    lock_account_row,
    make_active_user,
    moderation_entries,
    moderator_client,
    page_html,
    post_form,
    set_permissions,
    signed_in,
    user_id_of,
)
from tests.images import add_image_rows, files_per_photo, image_row, store_image, stored_files

IMAGE = ReportTarget.IMAGE
COMMENT = ReportTarget.COMMENT


async def deactivate(runtime: Runtime, username: str) -> None:
    async with runtime.db.session() as session:
        await session.execute(update(User).where(User.username == username).values(is_active=False))
        await session.commit()


def listed_users(body: str) -> list[str]:
    return re.findall(
        r'<li class="list-group-item admin-user[^"]*" id="user-\d+" data-user="([^"]+)"', body
    )


def count_on(body: str, key: str) -> int:
    found = re.search(rf'data-count="{key}">.*?data-count-value>(\d+)<', body, flags=re.DOTALL)
    assert found, key
    return int(found.group(1))


def group_order(body: str) -> list[str]:
    return re.findall(r'data-report-group="([a-z]+-\d+)"', body)


def first_log_entry(body: str) -> str:
    found = re.search(r"<li class=\"list-group-item py-3\" id=\"log-\d+\".*?</li>", body, re.DOTALL)
    assert found, "the log is empty"
    return found.group(0)


# -- who may open what ---------------------------------------------------------


async def test_anonymous_visitors_are_sent_to_sign_in(client: Client) -> None:
    for path in ("/admin", "/admin/reports", "/admin/log?cursor=x"):
        response = await client.get(path)
        assert response.status_code == 302, path
        location = response.headers["Location"]
        assert location.startswith("/login?next="), location
        assert "admin" in location


async def test_plain_users_get_403_everywhere(app: Quart, runtime: Runtime) -> None:
    client, _ = await signed_in(app, runtime, "alice")
    bob_id = await make_active_user(runtime, "bob", "bob@example.com")
    image_id = (await add_image_rows(runtime, bob_id, 1))[0]
    await file_report(runtime, await user_id_of(runtime, "alice"), IMAGE, image_id, "not nice")
    for path in ("/admin", "/admin/reports", "/admin/log"):
        await page_html(client, path, 403)
    for path in (
        f"/admin/users/{bob_id}/lock",
        f"/admin/users/{bob_id}/unlock",
        f"/admin/users/{bob_id}/role",
        f"/admin/users/{bob_id}/resend-activation",
        f"/admin/reports/image/{image_id}/dismiss",
        f"/admin/reports/image/{image_id}/delete",
        f"/admin/reports/image/{image_id}/lock-author",
    ):
        response = await post_form(client, path, {"reason": "because", "role": "administrator"})
        assert response.status_code == 403, path
    bob = await fetch_user_by_name(runtime, "bob")
    assert not bob.is_locked and bob.permissions == int(Role.USER)
    assert await moderation_entries(runtime) == []


async def test_moderators_see_the_queue_and_log_but_not_the_dashboard(
    app: Quart, runtime: Runtime
) -> None:
    client = await moderator_client(app, runtime)
    await page_html(client, "/admin", 403)
    body = await page_html(client, "/admin/reports")
    assert "No open reports" in body
    await page_html(client, "/admin/log")
    bob_id = await make_active_user(runtime, "bob", "bob@example.com")
    response = await post_form(client, f"/admin/users/{bob_id}/role", {"role": "moderator"})
    assert response.status_code == 403


async def test_navbar_shows_the_pages_each_role_may_open(app: Quart, runtime: Runtime) -> None:
    alice, _ = await signed_in(app, runtime, "alice")
    body = await page_html(alice, "/")
    assert 'href="/admin/reports"' not in body and 'href="/admin"' not in body
    mod = await moderator_client(app, runtime)
    body = await page_html(mod, "/")
    assert 'href="/admin/reports"' in body and 'href="/admin/log"' in body
    assert 'href="/admin"' not in body
    root = await administrator_client(app, runtime)
    body = await page_html(root, "/")
    assert 'href="/admin"' in body and ">Admin</a>" in body
    assert ">Reports</a>" in body and ">Moderation log</a>" in body


# -- the dashboard -------------------------------------------------------------


async def test_dashboard_counts(app: Quart, runtime: Runtime) -> None:
    client = await administrator_client(app, runtime)
    bob_id = await make_active_user(runtime, "bob", "bob@example.com")
    await make_active_user(runtime, "carol", "carol@example.com")
    await make_active_user(runtime, "dave", "dave@example.com")
    image_ids = await add_image_rows(runtime, bob_id, 3)
    await add_comment(runtime, await user_id_of(runtime, "carol"), image_ids[0], "first")
    await add_comment(runtime, await user_id_of(runtime, "bob"), image_ids[0], "second")
    await lock_account_row(runtime, "carol")
    await deactivate(runtime, "dave")
    await file_report(runtime, await user_id_of(runtime, "root"), IMAGE, image_ids[1], "blurry")
    dismissed = image_ids[2]
    await file_report(runtime, await user_id_of(runtime, "root"), IMAGE, dismissed, "meh")
    async with runtime.db.session() as session:
        root = await session.scalar(select(User).where(User.username == "root"))
        assert root is not None
        await reports.dismiss(
            session, actor=root, kind=reports.ReportTarget.IMAGE, target_id=dismissed
        )
        # Registration queued one activation mail each; one of them went out.
        sent = await session.scalar(select(func.min(OutboxMessage.id)))
        await session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == sent)
            .values(status=OutboxStatus.SENT.value)
        )
        await session.commit()

    body = await page_html(client, "/admin")
    assert count_on(body, "users") == 4
    assert count_on(body, "active_users") == 3
    assert count_on(body, "locked_users") == 1
    assert count_on(body, "images") == 3
    assert count_on(body, "comments") == 2
    assert count_on(body, "open_reports") == 1
    assert count_on(body, "outbox_backlog") == 3
    assert 'href="/admin/reports"' in body


async def test_dashboard_rows_say_who_is_what(app: Quart, runtime: Runtime) -> None:
    client = await administrator_client(app, runtime)
    await make_active_user(runtime, "bob", "bob@example.com")
    await make_active_user(runtime, "carol", "carol@example.com")
    await make_active_user(runtime, "dave", "dave@example.com")
    await lock_account_row(runtime, "carol", "posted <b>spam</b>")
    await deactivate(runtime, "dave")
    await set_permissions(runtime, "bob", Role.MODERATOR)
    body = await page_html(client, "/admin")
    assert listed_users(body) == ["dave", "carol", "bob", "root"]

    def row(name: str) -> str:
        found = re.search(rf'data-user="{name}">(.*?)</li>', body, re.DOTALL)
        assert found, name
        return found.group(1)

    assert 'href="/u/bob"' in row("bob") and 'data-role="moderator"' in row("bob")
    assert "bob@example.com" in row("bob")
    assert "locked</span>" in row("carol") and "posted &lt;b&gt;spam&lt;/b&gt;" in row("carol")
    assert "/unlock" in row("carol") and "/lock" not in row("carol").replace("/unlock", "")
    assert "not activated" in row("dave") and "/resend-activation" in row("dave")
    assert 'href="/u/dave"' not in row("dave")
    assert "/resend-activation" not in row("bob")
    # Nobody locks themselves; the role form is there for every row.
    assert "/lock" not in row("root") and "/role" in row("root")
    assert 'data-role="administrator"' in row("root")


async def test_search_and_filters(app: Quart, runtime: Runtime) -> None:
    client = await administrator_client(app, runtime)
    for name in ("a_b", "axb", "alice", "lola", "ina", "mia"):
        await make_active_user(runtime, name, f"{name}@example.com")
    await lock_account_row(runtime, "lola")
    await deactivate(runtime, "ina")
    await set_permissions(runtime, "mia", Role.MODERATOR)

    assert listed_users(await page_html(client, "/admin?q=a_")) == ["a_b"]
    assert listed_users(await page_html(client, "/admin?q=A")) == ["alice", "axb", "a_b"]
    assert listed_users(await page_html(client, "/admin?q=axb%40example")) == ["axb"]
    empty = await page_html(client, "/admin?q=%25")
    assert listed_users(empty) == [] and "No account" in empty
    assert listed_users(await page_html(client, "/admin?q=_")) == []
    assert listed_users(await page_html(client, "/admin?filter=locked")) == ["lola"]
    assert listed_users(await page_html(client, "/admin?filter=unactivated")) == ["ina"]
    assert listed_users(await page_html(client, "/admin?filter=moderators")) == ["mia", "root"]
    assert listed_users(await page_html(client, "/admin?filter=moderators&q=m")) == ["mia"]
    assert len(listed_users(await page_html(client, "/admin?filter=all"))) == 7
    bad = await page_html(client, "/admin?filter=banned", 400)
    assert "There is no user filter" in html.unescape(bad)
    await page_html(client, "/admin?cursor=nonsense", 400)


async def test_dashboard_pages_by_thirty(app: Quart, runtime: Runtime) -> None:
    client = await administrator_client(app, runtime)
    await add_user_rows(runtime, *(f"user{index:02d}" for index in range(34)))
    first = await page_html(client, "/admin?q=user")
    assert len(listed_users(first)) == 30
    more = re.search(r'<a class="[^"]*" href="([^"]+)" rel="next">More</a>', first)
    assert more and "q=user" in more.group(1)
    second = await page_html(client, html.unescape(more.group(1)))
    assert listed_users(second) == ["user03", "user02", "user01", "user00"]
    assert 'rel="next">More' not in second


# -- account actions -----------------------------------------------------------


async def test_lock_and_unlock_go_back_flash_and_log(app: Quart, runtime: Runtime) -> None:
    client = await administrator_client(app, runtime)
    bob_id = await make_active_user(runtime, "bob", "bob@example.com")
    back = "/admin?filter=all&q=b"

    response = await post_form(
        client, f"/admin/users/{bob_id}/lock", {"reason": "spam links", "next": back}
    )
    assert response.headers["Location"] == back
    body = await follow_redirect(client, response)
    assert "bob is locked." in body
    bob = await fetch_user_by_name(runtime, "bob")
    assert bob.is_locked and bob.lock_reason == "spam links"

    entry = first_log_entry(await page_html(client, "/admin/log"))
    assert "Locked an account" in entry and "user bob" in entry
    assert 'data-log-actor><a class="fw-semibold" href="/u/root">root</a>' in entry
    assert 'href="/u/bob"' in entry and "spam links" in entry

    response = await post_form(
        client, f"/admin/users/{bob_id}/unlock", {"reason": "appealed", "next": back}
    )
    assert response.headers["Location"] == back
    assert "bob is unlocked." in await follow_redirect(client, response)
    assert not (await fetch_user_by_name(runtime, "bob")).is_locked
    entry = first_log_entry(await page_html(client, "/admin/log"))
    assert "Unlocked an account" in entry and "appealed" in entry

    # Unlocking again is a mistake the page explains, not an error page.
    response = await post_form(client, f"/admin/users/{bob_id}/unlock", {"next": back})
    assert "bob is not locked." in await follow_redirect(client, response)


async def test_lock_without_a_reason_changes_nothing(app: Quart, runtime: Runtime) -> None:
    client = await administrator_client(app, runtime)
    bob_id = await make_active_user(runtime, "bob", "bob@example.com")
    response = await post_form(
        client, f"/admin/users/{bob_id}/lock", {"reason": "   ", "next": "/admin"}
    )
    assert response.headers["Location"] == "/admin"
    body = await follow_redirect(client, response)
    assert "alert-danger" in body and "Say why" in body
    assert not (await fetch_user_by_name(runtime, "bob")).is_locked
    assert await moderation_entries(runtime) == []


async def test_unknown_user_is_404(app: Quart, runtime: Runtime) -> None:
    client = await administrator_client(app, runtime)
    response = await post_form(client, "/admin/users/999999/lock", {"reason": "x"})
    assert response.status_code == 404


async def test_change_role(app: Quart, runtime: Runtime) -> None:
    client = await administrator_client(app, runtime)
    bob_id = await make_active_user(runtime, "bob", "bob@example.com")
    response = await post_form(
        client,
        f"/admin/users/{bob_id}/role",
        {"role": "moderator", "reason": "helps a lot", "next": "/admin?filter=moderators"},
    )
    assert response.headers["Location"] == "/admin?filter=moderators"
    body = await follow_redirect(client, response)
    assert "bob is now a moderator (was a user)." in body
    assert listed_users(body) == ["bob", "root"]
    assert (await fetch_user_by_name(runtime, "bob")).permissions == int(Role.MODERATOR)
    entry = first_log_entry(await page_html(client, "/admin/log"))
    assert "Changed a role" in entry and "helps a lot" in entry and "user → moderator" in entry

    response = await post_form(
        client, f"/admin/users/{bob_id}/role", {"role": "emperor", "next": "/admin"}
    )
    assert "There is no role" in html.unescape(await follow_redirect(client, response))
    assert (await fetch_user_by_name(runtime, "bob")).permissions == int(Role.MODERATOR)
    assert len(await moderation_entries(runtime)) == 1


async def test_resend_activation(app: Quart, runtime: Runtime) -> None:
    client = await administrator_client(app, runtime)
    dave_id = await make_active_user(runtime, "dave", "dave@example.com")
    await deactivate(runtime, "dave")

    async def mails_to_dave() -> int:
        async with runtime.db.session() as session:
            return int(
                await session.scalar(
                    select(func.count())
                    .select_from(OutboxMessage)
                    .where(OutboxMessage.recipient == "dave@example.com")
                )
                or 0
            )

    before = await mails_to_dave()
    response = await post_form(
        client, f"/admin/users/{dave_id}/resend-activation", {"next": "/admin?filter=unactivated"}
    )
    assert response.headers["Location"] == "/admin?filter=unactivated"
    assert "A new activation mail to dave is on its way." in await follow_redirect(client, response)
    assert await mails_to_dave() == before + 1
    entry = first_log_entry(await page_html(client, "/admin/log"))
    assert "Resent the activation mail" in entry and "dave@example.com" in entry

    root_id = await user_id_of(runtime, "root")
    response = await post_form(
        client, f"/admin/users/{root_id}/resend-activation", {"next": "/admin"}
    )
    assert "root is already active." in await follow_redirect(client, response)


# -- on profiles ---------------------------------------------------------------


async def test_moderator_locks_a_plain_user_from_the_profile(app: Quart, runtime: Runtime) -> None:
    mod = await moderator_client(app, runtime)
    bob_id = await make_active_user(runtime, "bob", "bob@example.com")
    body = await page_html(mod, "/u/bob")
    assert f'action="/admin/users/{bob_id}/lock"' in body
    assert 'name="next" value="/u/bob"' in body
    assert 'data-role="user"' in body

    response = await post_form(
        mod, f"/admin/users/{bob_id}/lock", {"reason": "trolling", "next": "/u/bob"}
    )
    assert response.headers["Location"] == "/u/bob"
    body = await follow_redirect(mod, response)
    assert "bob is locked." in body
    assert "This account is locked since" in body and "trolling" in body
    assert f'action="/admin/users/{bob_id}/unlock"' in body

    # Without ``next`` a moderator lands on the profile, not on the admin-only dashboard.
    response = await post_form(mod, f"/admin/users/{bob_id}/unlock", {})
    assert response.headers["Location"] == "/u/bob"


async def test_moderator_cannot_lock_an_administrator(app: Quart, runtime: Runtime) -> None:
    mod = await moderator_client(app, runtime)
    root_id = await make_active_user(runtime, "root", "root@example.com")
    await set_permissions(runtime, "root", Role.ADMINISTRATOR)
    body = await page_html(mod, "/u/root")
    assert "/lock" not in body and 'data-role="administrator"' in body
    response = await post_form(
        mod, f"/admin/users/{root_id}/lock", {"reason": "coup", "next": "/u/root"}
    )
    assert response.status_code == 403
    assert not (await fetch_user_by_name(runtime, "root")).is_locked
    assert await moderation_entries(runtime) == []


# -- the report queue ----------------------------------------------------------


async def queue_fixture(runtime: Runtime) -> dict[str, int]:
    """bob's two images and carol's comment, reported 1, 3 and 2 times."""
    bob_id = await make_active_user(runtime, "bob", "bob@example.com")
    await make_active_user(runtime, "carol", "carol@example.com")
    for name in ("rep1", "rep2", "rep3"):
        await make_active_user(runtime, name, f"{name}@example.com")
    async with runtime.db.session() as session:
        rows = [
            image_row(bob_id, index, description)
            for index, description in enumerate(["once reported", "thrice <reported>"])
        ]
        session.add_all(rows)
        await session.commit()
        once, thrice = rows[0].id, rows[1].id
    comment_id = await add_comment(
        runtime, await user_id_of(runtime, "carol"), once, "a rude & nasty comment"
    )
    await file_report(runtime, await user_id_of(runtime, "rep1"), IMAGE, once, "boring")
    for name in ("rep1", "rep2", "rep3"):
        await file_report(
            runtime, await user_id_of(runtime, name), IMAGE, thrice, f"{name} says: offensive"
        )
    await file_report(runtime, await user_id_of(runtime, "rep1"), COMMENT, comment_id, "rude")
    await file_report(runtime, await user_id_of(runtime, "rep2"), COMMENT, comment_id, "very rude")
    return {"once": once, "thrice": thrice, "comment": comment_id}


async def test_queue_groups_most_reported_first(app: Quart, runtime: Runtime) -> None:
    ids = await queue_fixture(runtime)
    mod = await moderator_client(app, runtime)
    body = await page_html(mod, "/admin/reports")
    assert group_order(body) == [
        f"image-{ids['thrice']}",
        f"comment-{ids['comment']}",
        f"image-{ids['once']}",
    ]
    assert "thrice &lt;reported&gt;" in body and "a rude &amp; nasty comment" in body
    assert "3 reports" in body and "2 reports" in body and "1 report<" in body
    assert "rep3 says: offensive" in body and "very rude" in body
    assert f'href="/images/{ids["once"]}#comment-{ids["comment"]}"' in body
    assert f'href="/images/{ids["thrice"]}"' in body
    assert html.escape(runtime.storage.url(f"00/00/{1:032x}_thumb.jpg")) in body
    assert body.count("/lock-author") == 3  # bob and carol are plain users
    assert body.count('name="next" value="/admin/reports"') == 9


async def test_queue_paging(app: Quart, runtime: Runtime) -> None:
    mod = await moderator_client(app, runtime)
    await page_html(mod, "/admin/reports?page=0", 400)
    await page_html(mod, "/admin/reports?page=two", 400)
    await page_html(mod, "/admin/reports?page=-1", 400)
    body = await page_html(mod, "/admin/reports?page=3")
    assert "No open reports on this page" in body and 'rel="prev"' in body
    assert 'rel="next"' not in body


async def test_dismiss_closes_the_reports(app: Quart, runtime: Runtime) -> None:
    ids = await queue_fixture(runtime)
    mod = await moderator_client(app, runtime)
    path = f"/admin/reports/image/{ids['thrice']}/dismiss"
    response = await post_form(mod, path, {"reason": "it is art", "next": "/admin/reports?page=1"})
    assert response.headers["Location"] == "/admin/reports?page=1"
    body = await follow_redirect(mod, response)
    assert "Dismissed 3 reports on the photo." in body
    assert group_order(body) == [f"comment-{ids['comment']}", f"image-{ids['once']}"]
    async with runtime.db.session() as session:
        assert await session.get(Image, ids["thrice"]) is not None
    entry = first_log_entry(await page_html(mod, "/admin/log"))
    assert "Dismissed reports" in entry and "it is art" in entry and "mod</a>" in entry

    # A second moderator's click after the first: news, not an error page.
    response = await post_form(mod, path, {"next": "/admin/reports"})
    body = await follow_redirect(mod, response)
    assert "alert-info" in body and "no open reports on this photo" in body


async def test_delete_removes_the_image_and_its_files(app: Quart, runtime: Runtime) -> None:
    bob_id = await make_active_user(runtime, "bob", "bob@example.com")
    await make_active_user(runtime, "rep1", "rep1@example.com")
    image_id = await store_image(runtime, bob_id, "a real upload", width=64, height=48)
    assert len(await stored_files(runtime)) == files_per_photo(64)
    await file_report(runtime, await user_id_of(runtime, "rep1"), IMAGE, image_id, "stolen photo")
    mod = await moderator_client(app, runtime)
    body = await page_html(mod, "/admin/reports")
    async with runtime.db.session() as session:
        image = await session.get_one(Image, image_id)
    assert html.escape(runtime.storage.url(image.cover.thumb_key)) in body

    response = await post_form(
        mod, f"/admin/reports/image/{image_id}/delete", {"next": "/admin/reports"}
    )
    body = await follow_redirect(mod, response)
    assert "The reported photo is deleted." in body and "No open reports" in body
    async with runtime.db.session() as session:
        assert await session.get(Image, image_id) is None
        assert await session.scalar(select(func.count()).select_from(Report)) == 0
    assert await stored_files(runtime) == []
    entry = first_log_entry(await page_html(mod, "/admin/log"))
    assert "Deleted a photo" in entry and "stolen photo" in entry and 'href="/u/bob"' in entry


async def test_delete_removes_a_reported_comment(app: Quart, runtime: Runtime) -> None:
    ids = await queue_fixture(runtime)
    mod = await moderator_client(app, runtime)
    response = await post_form(
        mod,
        f"/admin/reports/comment/{ids['comment']}/delete",
        {"reason": "insults", "next": "/admin/reports"},
    )
    body = await follow_redirect(mod, response)
    assert "The reported comment is deleted." in body
    assert f"comment-{ids['comment']}" not in group_order(body)
    async with runtime.db.session() as session:
        assert await session.get(Comment, ids["comment"]) is None
    entry = first_log_entry(await page_html(mod, "/admin/log"))
    assert "Deleted a comment" in entry and "insults" in entry


async def test_lock_author(app: Quart, runtime: Runtime) -> None:
    ids = await queue_fixture(runtime)
    mod = await moderator_client(app, runtime)
    response = await post_form(
        mod,
        f"/admin/reports/comment/{ids['comment']}/lock-author",
        {"reason": "", "next": "/admin/reports"},
    )
    body = await follow_redirect(mod, response)
    assert "carol is locked." in body
    carol = await fetch_user_by_name(runtime, "carol")
    assert carol.is_locked and "rude" in (carol.lock_reason or "")
    # The reports stay open; the lock form for carol is gone, the badge is there.
    group = body.split(f'data-report-group="comment-{ids["comment"]}"')[1].split("</li>\n      \n")[
        0
    ]
    assert "locked</span>" in group and "/lock-author" not in group
    assert body.count("/lock-author") == 2
    entry = first_log_entry(await page_html(mod, "/admin/log"))
    assert "Locked an account" in entry and "user carol" in entry


async def test_lock_author_is_hidden_and_refused_for_moderators_content(
    app: Quart, runtime: Runtime
) -> None:
    mod = await moderator_client(app, runtime)
    other_id = await make_active_user(runtime, "other", "other@example.com")
    await set_permissions(runtime, "other", Role.MODERATOR)
    await make_active_user(runtime, "rep1", "rep1@example.com")
    image_id = (await add_image_rows(runtime, other_id, 1))[0]
    await file_report(runtime, await user_id_of(runtime, "rep1"), IMAGE, image_id, "hmm")
    body = await page_html(mod, "/admin/reports")
    assert group_order(body) == [f"image-{image_id}"] and "/lock-author" not in body
    response = await post_form(mod, f"/admin/reports/image/{image_id}/lock-author", {"reason": "x"})
    assert response.status_code == 403
    assert not (await fetch_user_by_name(runtime, "other")).is_locked


async def test_unknown_report_kinds_are_404(app: Quart, runtime: Runtime) -> None:
    mod = await moderator_client(app, runtime)
    for action in ("dismiss", "delete", "lock-author"):
        response = await post_form(mod, f"/admin/reports/user/1/{action}", {})
        assert response.status_code == 404


async def test_queue_statements_do_not_grow_with_the_groups(app: Quart, runtime: Runtime) -> None:
    mod = await moderator_client(app, runtime)
    bob_id = await make_active_user(runtime, "bob", "bob@example.com")
    for name in ("rep1", "rep2"):
        await make_active_user(runtime, name, f"{name}@example.com")
    image_ids = await add_image_rows(runtime, bob_id, 6)

    async def statements_for_queue() -> int:
        await page_html(mod, "/admin/reports")  # warm: the sign-in and the bell are cached alike
        with counted_statements(runtime) as statements:
            body = await page_html(mod, "/admin/reports")
        assert body
        return len(statements)

    await file_report(runtime, await user_id_of(runtime, "rep1"), IMAGE, image_ids[0], "one")
    comment_id = await add_comment(
        runtime, await user_id_of(runtime, "bob"), image_ids[0], "comment"
    )
    await file_report(runtime, await user_id_of(runtime, "rep1"), COMMENT, comment_id, "c")
    small = await statements_for_queue()
    for image_id in image_ids[1:]:
        for name in ("rep1", "rep2"):
            await file_report(
                runtime, await user_id_of(runtime, name), IMAGE, image_id, f"{name} on {image_id}"
            )
    for index in range(4):
        more_comment = await add_comment(
            runtime, await user_id_of(runtime, "bob"), image_ids[1], f"comment {index}"
        )
        await file_report(runtime, await user_id_of(runtime, "rep2"), COMMENT, more_comment, "c")
    body = await page_html(mod, "/admin/reports")
    assert len(group_order(body)) == 11
    assert await statements_for_queue() == small


# -- the log -------------------------------------------------------------------


async def test_log_names_the_command_line_and_pages(app: Quart, runtime: Runtime) -> None:
    mod = await moderator_client(app, runtime)
    bob_id = await make_active_user(runtime, "bob", "bob@example.com")
    async with runtime.db.session() as session:
        await moderation.set_role(session, actor=None, user_id=bob_id, role="moderator")
    entry = first_log_entry(await page_html(mod, "/admin/log"))
    assert "<em>command line</em>" in entry and "Changed a role" in entry
    utc_time = r'<time class="[^"]*" datetime="\d{4}-\d\d-\d\dT[^"]+Z">[^<]+ UTC</time>'
    assert re.search(utc_time, entry)

    async with runtime.db.session() as session:
        for index in range(55):
            moderation.record(
                session,
                actor=None,
                action=ModerationAction.ENABLE_COMMENTS,
                target=f"image {index}",
            )
        await session.commit()
    first = await page_html(mod, "/admin/log")
    assert first.count('data-log-entry="') == 50
    more = re.search(r'href="([^"]+)" rel="next">More</a>', first)
    assert more
    second = await page_html(mod, html.unescape(more.group(1)))
    assert second.count('data-log-entry="') == 6
    assert "Changed a role" in second
    await page_html(mod, "/admin/log?cursor=garbage", 400)


@pytest.mark.parametrize("action", list(ModerationAction))
def test_every_action_has_words(action: ModerationAction) -> None:
    assert action in ACTION_LABELS
    assert ACTION_LABELS[action][0].isupper()

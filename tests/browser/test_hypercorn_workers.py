"""Sign-ins under real Hypercorn: shared by its workers, kept across a restart.

Sessions live in Redis and the secret key is fixed, so whichever worker process
answers, and whichever server process runs, a signed-in client stays signed in
until it signs out, and then its old cookies are worthless everywhere.
"""

from __future__ import annotations

import asyncio

import httpx

from gallery.settings import Settings
from tests.browser.conftest import (
    GalleryServer,
    MailWatcher,
    ServerFactory,
    post_form,
    seed_site,
)
from tests.images import jpeg_bytes

USERNAME = "bob"
EMAIL = "bob@example.com"
PASSWORD = "correct horse battery"


async def register_and_activate(
    client: httpx.AsyncClient, server: GalleryServer, mails: MailWatcher
) -> None:
    response = await post_form(
        client,
        "/register",
        {"username": USERNAME, "email": EMAIL, "password": PASSWORD, "password2": PASSWORD},
    )
    assert response.status_code == 302, response.text
    assert response.headers["Location"] == "/login"
    path = await mails.activation_path(EMAIL, server.url)
    response = await client.get(path)
    assert response.status_code == 302
    assert "is active" in (await client.get("/login")).text


async def me(server: GalleryServer, cookies: httpx.Cookies) -> httpx.Response:
    """GET /api/v1/me on a connection of its own, so any worker may accept it."""
    async with httpx.AsyncClient(base_url=server.url, cookies=cookies, timeout=5.0) as client:
        return await client.get("/api/v1/me")


async def test_two_workers_and_a_restart_keep_everyone_signed_in(
    start_server: ServerFactory, mails: MailWatcher
) -> None:
    server = await start_server(workers=2)
    async with httpx.AsyncClient(base_url=server.url, timeout=5.0) as client:
        await register_and_activate(client, server, mails)
        response = await post_form(client, "/login", {"login": USERNAME, "password": PASSWORD})
        assert response.status_code == 302, response.text
        assert {"gallery_auth", "gallery_session"} <= set(client.cookies.keys())

        # Twenty requests on fresh connections, at once: both workers answer some.
        responses = await asyncio.gather(*(me(server, client.cookies) for _ in range(20)))
        assert [r.status_code for r in responses] == [200] * 20
        assert {r.json()["username"] for r in responses} == {USERNAME}
        served_by = server.access_log_pids("/api/v1/me")
        # The kernel picks the accepting worker, and on a loaded machine one
        # worker can take every connection for a while (CI once saw a single
        # worker answer all 120 in two seconds): keep asking, for up to 30 s.
        deadline = asyncio.get_running_loop().time() + 30
        while len(served_by) < 2 and asyncio.get_running_loop().time() < deadline:
            await asyncio.gather(*(me(server, client.cookies) for _ in range(10)))
            await asyncio.sleep(0.2)
            served_by = server.access_log_pids("/api/v1/me")
        assert len(served_by) == 2, f"expected both workers to serve, got {served_by}"

        # A restart (a deploy) on the same port signs nobody out.
        await server.restart()
        response = await client.get("/api/v1/me")
        assert response.status_code == 200, response.text
        assert response.json()["username"] == USERNAME

        # Signing out ends the sign-in, and the old cookies with it.
        old_cookies = httpx.Cookies(client.cookies)  # a copy
        response = await post_form(client, "/logout", {})
        assert response.status_code == 302, response.text
        assert (await client.get("/api/v1/me")).status_code == 401

    async with httpx.AsyncClient(base_url=server.url, cookies=old_cookies, timeout=5.0) as replay:
        assert "gallery_auth" in replay.cookies
        response = await replay.get("/api/v1/me")
        assert response.status_code == 401, response.text
        assert response.json()["error"]["code"] == "UNAUTHORIZED"


async def test_a_worker_that_made_photos_stops_on_sigterm_without_being_killed(
    start_server: ServerFactory, settings: Settings
) -> None:
    """The imaging process is ended with the app: left to the interpreter's exit,
    it kept a stopping worker alive until the test server's SIGKILL, 15 s later."""
    await seed_site(settings, (USERNAME,), PASSWORD, users=0, images=0, comments=0)
    server = await start_server(workers=1)
    async with httpx.AsyncClient(base_url=server.url, timeout=10.0) as client:
        response = await post_form(client, "/login", {"login": USERNAME, "password": PASSWORD})
        assert response.status_code == 302, response.text
        token = (await client.get("/api/v1/me")).json()["csrf_token"]
        posted = await client.post(
            "/api/v1/images",
            files={"file": ("photo.jpg", jpeg_bytes(), "image/jpeg")},
            headers={"X-CSRF-Token": token},
        )
        assert posted.status_code == 201, posted.text
    # Exit status 0: the master and its worker stopped on SIGTERM, not SIGKILL (-9).
    assert await server.stop() == 0

"""The account routes of the JSON API: GET /api/v1/me, and listing and revoking sign-ins
(``web/api/__init__.py``, tagged ``account`` in the OpenAPI document)."""

from __future__ import annotations

from quart import Quart

from gallery.infra.runtime import Runtime
from gallery.models.base import utcnow
from gallery.models.user import User
from tests.helpers import csrf_token, make_active_user, sign_in


async def test_me_describes_the_signed_in_user(app: Quart, runtime: Runtime) -> None:
    await make_active_user(runtime)
    client = app.test_client()
    await sign_in(client)
    data = await (await client.get("/api/v1/me")).get_json()
    assert data["username"] == "alice"
    assert data["role"] == "user"
    assert data["permissions"] == 7
    assert data["locked"] is False
    assert data["avatar_url"].startswith("/")
    assert data["created_at"].endswith(("Z", "+00:00"))
    # The token in /me is the one unsafe requests must send.
    assert data["csrf_token"] == await csrf_token(client)


async def test_me_says_when_the_account_is_locked(app: Quart, runtime: Runtime) -> None:
    user_id = await make_active_user(runtime)
    async with runtime.db.session() as session:
        user = await session.get_one(User, user_id)
        user.locked_at = utcnow()
        await session.commit()
    client = app.test_client()
    # Locked accounts still sign in (and browse).
    assert (await sign_in(client)).status_code == 302
    data = await (await client.get("/api/v1/me")).get_json()
    assert data["locked"] is True
    assert data["permissions"] == 7


async def test_sessions_list_and_revoke(app: Quart, runtime: Runtime) -> None:
    await make_active_user(runtime)
    laptop = app.test_client()
    phone = app.test_client()
    await sign_in(laptop, remember=True)
    await sign_in(phone)

    listing = await (await laptop.get("/api/v1/sessions")).get_json()
    sessions = listing["sessions"]
    assert len(sessions) == 2
    assert [s["current"] for s in sessions].count(True) == 1
    mine = next(s for s in sessions if s["current"])
    other = next(s for s in sessions if not s["current"])
    assert mine["remember"] is True and other["remember"] is False
    assert set(mine) == {
        "id",
        "created_at",
        "last_seen_at",
        "ip",
        "user_agent",
        "remember",
        "current",
    }

    token = (await (await laptop.get("/api/v1/me")).get_json())["csrf_token"]
    response = await laptop.delete(
        f"/api/v1/sessions/{other['id']}", headers={"X-CSRF-Token": token}
    )
    assert response.status_code == 204
    assert (await phone.get("/api/v1/me")).status_code == 401
    assert (await laptop.get("/api/v1/me")).status_code == 200

    again = await laptop.delete(f"/api/v1/sessions/{other['id']}", headers={"X-CSRF-Token": token})
    assert again.status_code == 404
    assert (await again.get_json())["error"]["code"] == "NOT_FOUND"


async def test_a_user_cannot_revoke_someone_elses_session(app: Quart, runtime: Runtime) -> None:
    await make_active_user(runtime)
    await make_active_user(runtime, "bob", "bob@example.com")
    alice = app.test_client()
    bob = app.test_client()
    await sign_in(alice)
    await sign_in(bob, "bob")
    bobs = (await (await bob.get("/api/v1/sessions")).get_json())["sessions"][0]["id"]
    token = (await (await alice.get("/api/v1/me")).get_json())["csrf_token"]
    response = await alice.delete(f"/api/v1/sessions/{bobs}", headers={"X-CSRF-Token": token})
    assert response.status_code == 404
    assert (await bob.get("/api/v1/me")).status_code == 200


async def test_signed_out_session_routes_are_401_json(app: Quart) -> None:
    client = app.test_client()
    assert (await client.get("/api/v1/sessions")).status_code == 401
    token = await csrf_token(client)
    response = await client.delete("/api/v1/sessions/abc", headers={"X-CSRF-Token": token})
    assert response.status_code == 401
    assert response.headers.get("Location") is None


async def test_deactivated_user_is_signed_out(app: Quart, runtime: Runtime) -> None:
    user_id = await make_active_user(runtime)
    client = app.test_client()
    await sign_in(client)
    from gallery.models import User

    async with runtime.db.session() as session:
        user = await session.get(User, user_id)
        assert user is not None
        user.is_active = False
        await session.commit()
    assert (await client.get("/api/v1/me")).status_code == 401


async def test_openapi_document_describes_the_api(app: Quart) -> None:
    document = await (await app.test_client().get("/openapi.json")).get_json()
    assert "/api/v1/me" in document["paths"]
    assert "/api/v1/sessions/{session_id}" in document["paths"]


async def test_expired_sign_ins_drop_out_of_the_list(app: Quart, runtime: Runtime) -> None:
    user_id = await make_active_user(runtime)
    laptop = app.test_client()
    phone = app.test_client()
    await sign_in(laptop)
    await sign_in(phone)
    redis = runtime.redis
    assert redis is not None
    index = await redis.hgetall(f"user-auth:{user_id}")
    phone_id = next(
        s["id"]
        for s in (await (await phone.get("/api/v1/sessions")).get_json())["sessions"]
        if s["current"]
    )
    await redis.delete(f"auth:{index[phone_id]}")  # as its expiry would
    sessions = (await (await laptop.get("/api/v1/sessions")).get_json())["sessions"]
    assert [s["current"] for s in sessions] == [True]
    assert phone_id not in await redis.hgetall(f"user-auth:{user_id}")
    assert (await phone.get("/api/v1/me")).status_code == 401

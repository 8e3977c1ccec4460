"""Errors answered in one place: JSON for the API's routes, HTML pages for the rest."""

from __future__ import annotations

from quart import Quart
from quart.typing import TestClientProtocol as Client

from tests.helpers import csrf_token


async def test_json_routes_answer_json_errors(client: Client) -> None:
    response = await client.get("/api/v1/me")
    assert response.status_code == 401
    assert await response.get_json() == {
        "error": {"code": "UNAUTHORIZED", "message": "You need to sign in for this."}
    }
    missing = await client.get("/api/v1/nothing-here")
    assert missing.status_code == 404
    assert (await missing.get_json())["error"]["code"] == "NOT_FOUND"


async def test_pages_answer_html_errors(client: Client) -> None:
    response = await client.get("/no-such-page")
    assert response.status_code == 404
    assert response.mimetype == "text/html"
    assert "Page not found" in await response.get_data(as_text=True)
    response = await client.get("/logout")
    assert response.status_code == 405


async def test_too_large_body_is_413(client: Client) -> None:
    token = await csrf_token(client)
    big = "x" * (16 * 1024 * 1024 + 10)
    response = await client.post("/register", form={"csrf_token": token, "username": big})
    assert response.status_code == 413
    assert "Too large" in await response.get_data(as_text=True)


async def test_unexpected_errors_are_a_clean_500(app: Quart, client: Client) -> None:
    @app.get("/boom-for-test")
    async def boom() -> str:
        raise RuntimeError("secret internals")

    response = await client.get("/boom-for-test")
    assert response.status_code == 500
    body = await response.get_data(as_text=True)
    assert "secret internals" not in body and "Traceback" not in body

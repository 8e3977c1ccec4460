from quart.typing import TestClientProtocol as Client


async def test_home_page_renders(client: Client) -> None:
    response = await client.get("/")
    assert response.status_code == 200
    body = await response.get_data(as_text=True)
    assert '<meta name="csrf-token"' in body

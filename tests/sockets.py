"""The live socket as the app's test client speaks it: frames in, frames out."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from quart.typing import TestWebsocketConnectionProtocol as Socket

# A bound on waiting for a frame: generous, never a measured time.
FRAME_TIMEOUT_SECONDS = 10.0
Message = dict[str, Any]


async def receive(socket: Socket, *, keepalives: bool = False) -> Message:
    """The next message; an idle socket's ``keepalive`` is skipped, as a page does,
    unless ``keepalives``."""
    async with asyncio.timeout(FRAME_TIMEOUT_SECONDS):
        while True:
            message: Message = orjson.loads(await socket.receive())
            if keepalives or message.get("type") != "keepalive":
                return message


async def send(socket: Socket, message: Message) -> None:
    await socket.send(orjson.dumps(message).decode())


async def subscribe(socket: Socket, *topics: str) -> dict[str, int | None]:
    """Subscribe to ``topics``; their sequence numbers (None: nothing there to follow)."""
    await send(socket, {"type": "subscribe", "topics": list(topics)})
    reply = await receive(socket)
    assert reply["type"] == "subscribed", reply
    return reply["seqs"]

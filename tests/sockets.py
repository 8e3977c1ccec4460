"""The live socket as the app's test client speaks it: frames in, frames out."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from quart.typing import TestWebsocketConnectionProtocol as Socket

# A bound on waiting for a frame: generous, never a measured time.
FRAME_TIMEOUT_SECONDS = 10.0
Message = dict[str, Any]


async def receive(socket: Socket) -> Message:
    return orjson.loads(await asyncio.wait_for(socket.receive(), FRAME_TIMEOUT_SECONDS))


async def send(socket: Socket, message: Message) -> None:
    await socket.send(orjson.dumps(message).decode())


async def subscribe(socket: Socket, *topics: str) -> dict[str, int | None]:
    """Subscribe to ``topics``; their sequence numbers (None: nothing there to follow)."""
    await send(socket, {"type": "subscribe", "topics": list(topics)})
    reply = await receive(socket)
    assert reply["type"] == "subscribed", reply
    return reply["seqs"]

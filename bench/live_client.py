"""The live benchmark's load client: N anonymous WebSockets to /api/v1/live, in a
process of its own so that its work does not land on the bench driver's or the
server's loop.

    python bench/live_client.py --url ws://127.0.0.1:PORT/api/v1/live \\
        --origin http://127.0.0.1:PORT --sockets 5000 [--concurrency 100]
        [--sockets-per-address 50]

It opens the sockets with at most ``--concurrency`` handshakes in flight, each as
a page would: the ``hello`` first, then ``subscribe`` to ``feed`` and its
``subscribed`` answer. The server allows only so many sockets per client
address (GALLERY_LIVE_MAX_SOCKETS_PER_ADDRESS, 100 by default), and 5,000 real
visitors come from many addresses: so the sockets leave from many loopback
addresses (127.0.1.1, 127.0.1.2, …: Linux routes all of 127/8 to lo), at most
``--sockets-per-address`` from each. Then it talks to the driver in JSON lines (stdin
commands, stdout answers; progress and errors go to stderr):

    (on its own)                          {"type": "opened", "open": N, "failed": 0, ...}
    {"cmd": "status"}                 ->  {"type": "status", "open": N, "closed": {...}}
    {"cmd": "wait", "photo_id": 41,
     "published_at": <time.time()>,
     "timeout": 30}                   ->  {"type": "delivered", "received": N, "open": N,
                                           "latencies_ms": [...], ...}
    {"cmd": "close"} (or end of stdin) -> {"type": "closed", ...}, then it exits

Every ``photo.new`` a socket receives is stamped with time.time() when this
process reads it; the driver runs on the same machine, so its clock is the same.
The stamp includes this process's own turn to read the frame (5,000 frames of
one broadcast are read one after another), so latencies are, if anything, high.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import resource
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException

# A handshake (TCP, upgrade, hello, subscribe, subscribed) slower than this counts
# as a failure: the server is not keeping up with the opening rate.
OPEN_TIMEOUT_SECONDS = 30
CLOSE_TIMEOUT_SECONDS = 5
# Source addresses: 127.0.<third>.<fourth>, fourth in 1..250, from 127.0.1.1 on.
ADDRESSES_PER_OCTET = 250
# How often a "wait" looks again at how many sockets have the event.
WAIT_POLL_SECONDS = 0.05


@dataclass
class Sockets:
    """The open sockets and what they have received."""

    open: dict[int, ClientConnection] = field(default_factory=dict)
    # photo id -> time.time() of each socket's receipt of its photo.new on "feed".
    arrivals: dict[int, list[float]] = field(default_factory=lambda: defaultdict(list))
    # Close codes of sockets that closed while we were not closing them.
    closed: Counter[str] = field(default_factory=Counter)
    # Messages that are neither photo.new nor the handshake's (resync, say).
    other_messages: Counter[str] = field(default_factory=Counter)
    # The negotiated Sec-WebSocket-Extensions (permessage-deflate or none).
    extensions: Counter[str] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)
    readers: set[asyncio.Task[None]] = field(default_factory=set)
    closing: bool = False


def say(message: str) -> None:
    print(f"live client: {message}", file=sys.stderr, flush=True)


def answer(message: dict[str, Any]) -> None:
    print(json.dumps(message), flush=True)


def source_address(index: int, per_address: int) -> str:
    """The loopback address socket ``index`` leaves from."""
    group = index // per_address
    third, fourth = divmod(group, ADDRESSES_PER_OCTET)
    if third + 1 > 255:
        raise ValueError("too many sockets for the loopback addresses: raise --sockets-per-address")
    return f"127.0.{third + 1}.{fourth + 1}"


def raise_open_file_limit() -> int:
    """One descriptor per socket: take the soft limit up to the hard one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


async def expect(ws: ClientConnection, kind: str) -> dict[str, Any]:
    message = json.loads(await ws.recv())
    while message.get("type") == "keepalive":  # an idle socket's, as a page skips them
        message = json.loads(await ws.recv())
    if message.get("type") != kind:
        raise RuntimeError(f"expected {kind!r}, got {str(message)[:200]}")
    return message


async def open_one(
    index: int, args: argparse.Namespace, sockets: Sockets, gate: asyncio.Semaphore
) -> None:
    async with gate:
        ws: ClientConnection | None = None
        try:
            async with asyncio.timeout(OPEN_TIMEOUT_SECONDS):
                ws = await connect(
                    args.url,
                    origin=args.origin,
                    compression=None if args.compression == "none" else "deflate",
                    # Browsers send no protocol-level pings; the server's own
                    # keep-alive messages are what keep an idle socket.
                    ping_interval=None,
                    open_timeout=None,  # the timeout above covers the whole handshake
                    close_timeout=CLOSE_TIMEOUT_SECONDS,
                    proxy=None,
                    # Passed on to loop.create_connection: the socket's own address.
                    local_addr=(source_address(index, args.sockets_per_address), 0),
                )
                await expect(ws, "hello")
                await ws.send(json.dumps({"type": "subscribe", "topics": args.topics}))
                await expect(ws, "subscribed")
        except InvalidStatus as error:
            sockets.failures[f"HTTP {error.response.status_code}"] += 1
        except (OSError, TimeoutError, WebSocketException, RuntimeError, ValueError) as error:
            sockets.failures[type(error).__name__ + (f": {error}"[:120] if str(error) else "")] += 1
        else:
            assert ws is not None
            sockets.open[index] = ws
            sockets.extensions[ws.response.headers.get("Sec-WebSocket-Extensions", "none")] += 1
            reader = asyncio.create_task(read_events(index, ws, sockets))
            sockets.readers.add(reader)
            reader.add_done_callback(sockets.readers.discard)
            return
        if ws is not None:
            with contextlib.suppress(Exception):
                await ws.close()


async def read_events(index: int, ws: ClientConnection, sockets: Sockets) -> None:
    try:
        async for raw in ws:
            received = time.time()
            message = json.loads(raw)
            kind = message.get("type")
            if kind == "photo.new" and message.get("topic") == "feed":
                sockets.arrivals[int(message["photo"]["id"])].append(received)
            elif kind != "pong":
                sockets.other_messages[str(kind)] += 1
    except ConnectionClosed:
        pass
    finally:
        sockets.open.pop(index, None)
        if not sockets.closing:
            code = ws.close_code
            sockets.closed[f"{code} {ws.close_reason or ''}".strip()] += 1


async def open_all(args: argparse.Namespace, sockets: Sockets) -> None:
    began = time.monotonic()
    gate = asyncio.Semaphore(args.concurrency)
    tasks = [asyncio.create_task(open_one(i, args, sockets, gate)) for i in range(args.sockets)]
    step = max(1, args.sockets // 10)
    for done, task in enumerate(asyncio.as_completed(tasks), start=1):
        await task
        if done % step == 0:
            say(f"{done:,} of {args.sockets:,} handshakes done, {len(sockets.open):,} open")
    answer(
        {
            "type": "opened",
            "open": len(sockets.open),
            "failed": sum(sockets.failures.values()),
            "failures": dict(sockets.failures),
            "extensions": dict(sockets.extensions),
            "seconds": round(time.monotonic() - began, 2),
        }
    )


async def wait_for_photo(sockets: Sockets, command: dict[str, Any]) -> None:
    """Until every socket still open has the photo's event, or the timeout; then
    the latencies of those that got it."""
    photo_id = int(command["photo_id"])
    deadline = time.monotonic() + float(command.get("timeout", 30))
    while len(sockets.arrivals[photo_id]) < len(sockets.open) and time.monotonic() < deadline:
        await asyncio.sleep(WAIT_POLL_SECONDS)
    published_at = float(command["published_at"])
    arrivals = sockets.arrivals[photo_id]
    answer(
        {
            "type": "delivered",
            "photo_id": photo_id,
            "received": len(arrivals),
            "open": len(sockets.open),
            "latencies_ms": [round((at - published_at) * 1000, 2) for at in arrivals],
        }
    )


async def close_all(sockets: Sockets) -> None:
    sockets.closing = True
    count = len(sockets.open)
    gate = asyncio.Semaphore(500)

    async def close(ws: ClientConnection) -> None:
        async with gate:
            with contextlib.suppress(Exception):
                await ws.close()

    await asyncio.gather(*(close(ws) for ws in list(sockets.open.values())))
    answer({"type": "closed", "closed": count, "closed_by_server": dict(sockets.closed)})


async def serve_commands(sockets: Sockets) -> None:
    while True:
        # Reading stdin in a thread keeps the sockets' loop free meanwhile.
        line = await asyncio.to_thread(sys.stdin.readline)
        if not line:
            break
        command = json.loads(line)
        match command.get("cmd"):
            case "status":
                answer(
                    {
                        "type": "status",
                        "open": len(sockets.open),
                        "closed_by_server": dict(sockets.closed),
                        "other_messages": dict(sockets.other_messages),
                    }
                )
            case "wait":
                await wait_for_photo(sockets, command)
            case "close":
                break
            case other:
                say(f"unknown command {other!r}")
    await close_all(sockets)


async def main_async(args: argparse.Namespace) -> None:
    sockets = Sockets()
    await open_all(args, sockets)
    await serve_commands(sockets)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--url", required=True, help="ws://host:port/api/v1/live")
    parser.add_argument("--origin", required=True, help="the site's own origin")
    parser.add_argument("--sockets", type=int, default=5000)
    parser.add_argument(
        "--concurrency", type=int, default=100, help="handshakes in flight at most (default 100)"
    )
    parser.add_argument(
        "--sockets-per-address",
        type=int,
        default=50,
        help="sockets leaving from one loopback address at most (default 50)",
    )
    parser.add_argument("--topics", nargs="+", default=["feed"])
    parser.add_argument(
        "--compression",
        choices=["deflate", "none"],
        default="deflate",
        help="offer permessage-deflate as browsers do (default), or not",
    )
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    limit = raise_open_file_limit()
    if limit < args.sockets + 100:
        say(f"warning: open files limited to {limit}; {args.sockets} sockets may not all open")
    try:
        import uvloop  # Hypercorn's worker class: the same loop the server runs.
    except ImportError:
        asyncio.run(main_async(args))
    else:
        uvloop.run(main_async(args))


if __name__ == "__main__":
    main()

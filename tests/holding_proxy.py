"""A TCP proxy that can hold a server's answers while letting requests through.

For the crash drill of the two-instance test: with the object store's answers
held, an upload's files are in the bucket but the instance is still waiting
to hear so, before it commits the row; that is the moment to kill it with
SIGKILL, and it arrives every time, not by luck of timing. Real sockets, real
bytes: nothing of the instance or the store is patched.
"""

from __future__ import annotations

import asyncio
import contextlib

CHUNK = 65536
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


class HoldingProxy:
    """``127.0.0.1:<port>`` → ``target``; ``hold()`` stops answers, ``release()`` sends them."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target_host = target_host
        self.target_port = target_port
        self._passing = asyncio.Event()
        self._passing.set()
        self._server: asyncio.Server | None = None
        self._pumps: set[asyncio.Task[None]] = set()
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._connect, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    def hold(self) -> None:
        self._passing.clear()

    def release(self) -> None:
        self._passing.set()

    async def close(self) -> None:
        self.release()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for pump in list(self._pumps):
            pump.cancel()
        await asyncio.gather(*self._pumps, return_exceptions=True)

    async def _connect(
        self, client_in: asyncio.StreamReader, client_out: asyncio.StreamWriter
    ) -> None:
        try:
            server_in, server_out = await asyncio.open_connection(
                self.target_host, self.target_port
            )
        except OSError:
            client_out.close()
            return
        for pump in (
            self._pump(client_in, server_out, held=False),
            self._pump(server_in, client_out, held=True),
        ):
            task = asyncio.create_task(pump)
            self._pumps.add(task)
            task.add_done_callback(self._pumps.discard)

    async def _pump(
        self, source: asyncio.StreamReader, sink: asyncio.StreamWriter, *, held: bool
    ) -> None:
        try:
            while data := await source.read(CHUNK):
                if held and not self._passing.is_set():
                    # botocore sends an upload's body only after the store's
                    # "100 Continue": that interim answer passes, the final one waits.
                    if data.startswith(CONTINUE):
                        sink.write(CONTINUE)
                        await sink.drain()
                        data = data[len(CONTINUE) :]
                    await self._passing.wait()
                sink.write(data)
                await sink.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            with contextlib.suppress(ConnectionError, OSError):
                sink.close()

"""A TCP proxy on 127.0.0.1 that delays every byte by a fixed time each way: a remote IdP's round trip, on loopback.

The benchmark's IdP answers in well under a millisecond, where a real one is tens of milliseconds away: a client that
waits for each answer before the next request looks as quick as one that keeps several in flight. Behind this proxy
each direction's bytes leave ``one_way`` seconds after they arrived, in order, and the delays of successive chunks
overlap (a body in ten chunks costs one delay, not ten), as on a long link. TLS passes through untouched.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time


class DelayingProxy:
    """Listens on 127.0.0.1 (``port``) and forwards to ``127.0.0.1:target`` once ``target`` is set."""

    def __init__(self, one_way: float) -> None:
        self.one_way = one_way
        self.target: int | None = None
        self._loop = asyncio.new_event_loop()
        self._started = threading.Event()
        self._server: asyncio.base_events.Server | None = None
        self._thread = threading.Thread(target=self._run, name="latency-proxy", daemon=True)
        self._thread.start()
        self._started.wait(10)
        assert self._server is not None, "the latency proxy did not start"
        self.port: int = self._server.sockets[0].getsockname()[1]

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(asyncio.start_server(self._connection, "127.0.0.1", 0,
                                                                          backlog=1024))
        self._started.set()
        self._loop.run_forever()
        pending = asyncio.all_tasks(self._loop)
        for task in pending:
            task.cancel()
        self._loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        self._loop.close()

    async def _connection(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        if self.target is None:
            client_writer.close()
            return
        try:
            server_reader, server_writer = await asyncio.open_connection("127.0.0.1", self.target)
        except OSError:
            client_writer.close()
            return
        await asyncio.gather(self._pipe(client_reader, server_writer), self._pipe(server_reader, client_writer))

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        chunks: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def deliver() -> None:
            while True:
                due, data = await chunks.get()
                if not data:
                    break
                wait = due - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                writer.write(data)
                await writer.drain()

        delivering = asyncio.ensure_future(deliver())
        try:
            while data := await reader.read(65536):
                chunks.put_nowait((time.monotonic() + self.one_way, data))
        except (ConnectionError, OSError):
            pass
        finally:
            chunks.put_nowait((time.monotonic() + self.one_way, b""))
            with contextlib.suppress(ConnectionError, OSError):
                await delivering
                writer.close()

    def close(self) -> None:
        def stop() -> None:
            if self._server is not None:
                self._server.close()
            self._loop.stop()

        self._loop.call_soon_threadsafe(stop)
        self._thread.join(5)

"""The HTTP server's closes (service.server.LingeringTransport), on real loopback sockets under
both event loops uvicorn may run: a connection closed while the client's bytes are still unread
delivers the whole answer and a clean end, where a plain close resets it and loses the rest."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable, Coroutine
from typing import Any, cast

import pytest
import uvloop

from service.server import LingeringTransport

ANSWER = b"x" * 1_000_000  # more than the kernel's buffers hold at once
RUNNERS: dict[str, Callable[[Coroutine[Any, Any, str]], str]] = {
    "asyncio": asyncio.run,
    "uvloop": uvloop.run,
}


async def _answer_with_unread_bytes(linger: bool) -> str:
    """A server that stops reading after the request, answers 1 MB and closes, while the
    client's next 10 KB lie unread in its socket; what the client then reads."""
    loop = asyncio.get_running_loop()

    class Server(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            plain = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
            self.transport = LingeringTransport(plain, loop) if linger else plain
            self.seen = 0

        def data_received(self, data: bytes) -> None:
            self.seen += len(data)
            if self.seen >= 7:  # the "request": stop reading and answer a little later
                self.transport.pause_reading()
                loop.call_later(0.3, self.answer)

        def answer(self) -> None:
            self.transport.write(ANSWER)
            self.transport.close()

    server = await loop.create_server(Server, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]

    def client() -> str:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(b"request")
            time.sleep(0.1)
            s.sendall(b"y" * 10_000)  # still sending: the server never reads this
            time.sleep(0.5)
            got = 0
            try:
                while chunk := s.recv(65536):
                    got += len(chunk)
            except ConnectionResetError:
                return f"reset after {got} bytes"
            return f"closed after {got} bytes"

    try:
        return await asyncio.to_thread(client)
    finally:
        server.close()


@pytest.mark.parametrize("loop", sorted(RUNNERS))
def test_a_lingering_close_delivers_the_whole_answer(loop: str) -> None:
    run = RUNNERS[loop]
    assert run(_answer_with_unread_bytes(linger=True)) == f"closed after {len(ANSWER)} bytes"
    # The failure it prevents, shown on the same sockets: a plain close resets the connection.
    assert run(_answer_with_unread_bytes(linger=False)).startswith("reset after")

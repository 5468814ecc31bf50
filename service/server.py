"""The HTTP server: uvicorn, configured from the settings in one place for ``paperrec serve``
and its workers, with a cut-off for clients that trickle their headers.

uvicorn closes an idle keep-alive connection (``timeout_keep_alive``), but it has no limit on
how long a request's headers may take: a client sending one byte every few seconds kept a
connection (and its memory) for as long as it liked, and a few hundred such clients use up a
process's connections. :class:`GuardedHttpToolsProtocol` gives each request's headers
``PAPERREC_CLIENT_HEADER_TIMEOUT_S`` from its first byte (a new connection: from connecting),
then answers 408 and closes. A trickled *body* is cut off by the app
(:class:`service.middleware.BodyLimit`).

A connection the server closes is closed *lingering* (:class:`LingeringTransport`), as nginx
does: a plain close with the client's bytes still arriving makes the kernel answer them with a
reset, and a reset can discard the answer before the client reads it (CI saw a trickling client
get the 408's head and then "connection reset" instead of its body).
"""

from __future__ import annotations

import asyncio
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from service.settings import Settings

__all__ = ["GuardedHttpToolsProtocol", "LingeringTransport", "uvicorn_config"]

#: Seconds uvicorn keeps an idle keep-alive connection open (its default, said here).
KEEP_ALIVE_S = 5
#: Seconds a connection the server closed keeps reading (and dropping) what the client still
#: sends, so that its last answer is not lost to a reset; the client closing ends it sooner.
LINGER_S = 2.0


class LingeringTransport(asyncio.Transport):
    """A connection's transport whose :meth:`close` sends the rest of the answer and a FIN
    (``write_eof``), drops what the client sends after it, and closes when the client does or
    after :data:`LINGER_S`. :meth:`abort` is immediate; everything else is the transport's own."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self._transport = transport
        self._loop = loop
        self.lingering = False
        self._timer: asyncio.TimerHandle | None = None

    def close(self) -> None:
        if self.lingering or self._transport.is_closing():
            return
        self.lingering = True
        if not self._transport.can_write_eof():
            self._transport.close()
            return
        self._transport.resume_reading()  # read on to drop, even where uvicorn had paused it
        self._transport.write_eof()
        self._timer = self._loop.call_later(LINGER_S, self._transport.close)

    def closed(self) -> None:
        """The connection is gone: the timer has nothing left to close."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def is_closing(self) -> bool:
        return self.lingering or self._transport.is_closing()

    def abort(self) -> None:
        self.lingering = True
        self._transport.abort()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._transport.get_extra_info(name, default)

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._transport.set_protocol(protocol)

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._transport.get_protocol()

    def is_reading(self) -> bool:
        return self._transport.is_reading()

    def pause_reading(self) -> None:
        if not self.lingering:
            self._transport.pause_reading()

    def resume_reading(self) -> None:
        self._transport.resume_reading()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._transport.set_write_buffer_limits(high, low)

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size()

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self._transport.get_write_buffer_limits()

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not self.lingering:
            self._transport.write(data)

    def writelines(self, list_of_data: Any) -> None:
        if not self.lingering:
            self._transport.writelines(list_of_data)

    def write_eof(self) -> None:
        self._transport.write_eof()

    def can_write_eof(self) -> bool:
        return self._transport.can_write_eof()


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a deadline for each request's headers, whose closes
    linger (:class:`LingeringTransport`)."""

    header_timeout_s: float = 10.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._lingering = LingeringTransport(transport, self.loop)
        super().connection_made(self._lingering)
        self._arm()

    def data_received(self, data: bytes) -> None:
        if self._lingering.lingering:
            return  # the answer is sent and the connection closing: what comes now is dropped
        super().data_received(data)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._header_timer is None:
            self._arm()

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        self._lingering.closed()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._disarm()
        self._header_timer = self.loop.call_later(self.header_timeout_s, self._headers_too_slow)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_complete:
            self._arm()  # a response is still being written: the next request waits its turn
            return
        body = b"request headers too slow"
        self.transport.write(
            b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\n"
            + f"content-length: {len(body)}\r\nconnection: close\r\n\r\n".encode()
            + body
        )
        self.transport.close()


def _protocol(settings: Settings) -> type[GuardedHttpToolsProtocol]:
    return type(
        "GuardedHttpToolsProtocol",
        (GuardedHttpToolsProtocol,),
        {"header_timeout_s": settings.client_header_timeout_s},
    )


def uvicorn_config(
    settings: Settings, app: Any, host: str, port: int, **kwargs: Any
) -> uvicorn.Config:
    """The uvicorn configuration of ``paperrec serve`` (``app``: the app, or an import string
    with ``factory=True``)."""
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=settings.log_level.lower(),
        http=_protocol(settings),
        timeout_keep_alive=KEEP_ALIVE_S,
        forwarded_allow_ips=settings.forwarded_allow_ips,
        **kwargs,
    )

"""The HTTP server: uvicorn, configured from the settings in one place for ``paperrec serve``
and its workers, with a cut-off for clients that trickle their headers.

uvicorn closes an idle keep-alive connection (``timeout_keep_alive``), but it has no limit on
how long a request's headers may take: a client sending one byte every few seconds kept a
connection (and its memory) for as long as it liked, and a few hundred such clients use up a
process's connections. :class:`GuardedHttpToolsProtocol` gives each request's headers
``PAPERREC_CLIENT_HEADER_TIMEOUT_S`` from its first byte (a new connection: from connecting),
then answers 408 and closes. A trickled *body* is cut off by the app
(:class:`service.middleware.BodyLimit`).
"""

from __future__ import annotations

import asyncio
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from service.settings import Settings

__all__ = ["GuardedHttpToolsProtocol", "uvicorn_config"]

#: Seconds uvicorn keeps an idle keep-alive connection open (its default, said here).
KEEP_ALIVE_S = 5


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a deadline for each request's headers."""

    header_timeout_s: float = 10.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._header_timer is None:
            self._arm()

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
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

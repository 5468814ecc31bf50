"""ASGI middleware of the app: request bodies bounded in size and in time, and every request
counted for /metrics."""

from __future__ import annotations

import asyncio
import time

from fastapi import status
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.metrics import Metrics

__all__ = ["BodyLimit", "RequestMetrics", "too_large"]


def too_large(max_bytes: int) -> str:
    return (
        f"request body larger than {max_bytes} bytes: send smaller batches (a library file: "
        "split it, or raise PAPERREC_MAX_BODY_BYTES)"
    )


class BodyLimit:
    """Refuse request bodies over ``max_bytes`` with 413, whether announced by Content-Length
    (refused before reading) or streamed in chunks (refused once the limit is passed), and
    bodies that do not arrive within ``timeout_s`` (a client that trickles them: 408, and the
    connection is closed). Headers trickled are cut off by the server (:mod:`service.server`)."""

    def __init__(self, app: ASGIApp, max_bytes: int, timeout_s: float) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout_s = timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > self.max_bytes:
                response = JSONResponse(
                    {"detail": too_large(self.max_bytes)},
                    status_code=status.HTTP_413_CONTENT_TOO_LARGE,
                )
                await response(scope, receive, send)
                return
        seen = 0
        complete = False
        deadline = time.monotonic() + self.timeout_s

        async def limited_receive() -> Message:
            nonlocal seen, complete
            if complete:  # after the body: a wait for the client to disconnect, not bounded
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), max(0.0, deadline - time.monotonic()))
            except TimeoutError:
                # FastAPI passes an HTTPException raised while reading the body through.
                raise StarletteHTTPException(
                    status.HTTP_408_REQUEST_TIMEOUT,
                    f"the request body did not arrive within {self.timeout_s:g} s",
                    headers={"Connection": "close"},
                ) from None
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                complete = not message.get("more_body", False)
                if seen > self.max_bytes:
                    raise StarletteHTTPException(status.HTTP_413_CONTENT_TOO_LARGE)
            else:
                complete = True
            return message

        await self.app(scope, limited_receive, send)


class RequestMetrics:
    """Count each request by method, route template (``/users/{user_id}/recommendations``: a
    bounded set of labels, not the paths themselves) and status, and time it."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        code = 500  # an exception that escaped everything

        async def counted_send(message: Message) -> None:
            nonlocal code
            if message["type"] == "http.response.start":
                code = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, counted_send)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            self.metrics.observe_request(scope["method"], route, code, time.perf_counter() - start)

"""Deadlines on reading a request, so that a client cannot hold a connection open by
sending its request slowly or never finishing it.

uvicorn arms its keep-alive timer only once a response is sent: a connection that
sends nothing, or half its headers, or announces a body and never sends it, would
stay open (and hold its memory and file descriptor) for as long as the client likes.

- `header_deadline(seconds)`: a uvicorn HTTP protocol that closes a connection whose
  next request's headers have not all arrived `seconds` after the connection opened
  or its last response ended (with a 408 answer if part of a request came).
- `BodyDeadline`: an ASGI middleware that answers 408 to a request whose body has
  not all arrived `seconds` after its headers did, and closes the connection.

>>> config = uvicorn.Config(BodyDeadline(app, 30.0), http=header_deadline(10.0))
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

import anyio  # a dependency of httpx: this module imports without the server extra

from memstrata.errors import MemstrataError

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

HEADER_TIMEOUT_S = 10.0
BODY_TIMEOUT_S = 30.0


class RequestTimeout(MemstrataError):
    """The request did not arrive in time; the connection is closed."""

    code = "request_timeout"


def _timeout_body(message: str) -> bytes:
    return json.dumps({"error": {"code": RequestTimeout.code, "message": message}}).encode()


class BodyDeadline:
    """Answers 408 (`request_timeout`) to a request whose body is not all in
    `seconds` after the app was called with its headers, and makes the app's own
    `receive` raise RequestTimeout so that it stops waiting; whatever the app sends
    after that is dropped. Reads after the body (waiting for a disconnect) are not
    bounded."""

    def __init__(self, app: ASGIApp, seconds: float = BODY_TIMEOUT_S) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        deadline = anyio.current_time() + self.seconds
        state = {"body_done": False, "started": False, "timed_out": False}

        async def timed_receive() -> Message:
            if state["body_done"] or state["timed_out"]:
                return await receive()
            try:
                with anyio.fail_after(max(0.0, deadline - anyio.current_time())):
                    message = await receive()
            except TimeoutError:
                state["timed_out"] = True
                await _refuse(send, state["started"], self.seconds)
                raise RequestTimeout(
                    f"the request body did not arrive within {self.seconds:g} s"
                ) from None
            if message["type"] != "http.request" or not message.get("more_body", False):
                state["body_done"] = True
            return message

        async def guarded_send(message: Message) -> None:
            if state["timed_out"]:
                return  # the 408 went out; the connection is closing
            if message["type"] == "http.response.start":
                state["started"] = True
            await send(message)

        try:
            await self.app(scope, timed_receive, guarded_send)
        except RequestTimeout:
            if not state["timed_out"]:
                raise


async def _refuse(send: Send, started: bool, seconds: float) -> None:
    if started:  # a response is under way: the app's error ends it, uvicorn closes
        return
    body = _timeout_body(
        f"the request body did not arrive within {seconds:g} s; send the whole request "
        "at once (the connection is closed)"
    )
    await send({
        "type": "http.response.start",
        "status": 408,
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ],
    })  # fmt: skip
    await send({"type": "http.response.body", "body": body, "more_body": False})


def header_deadline(seconds: float = HEADER_TIMEOUT_S, base: type | None = None) -> type:
    """A uvicorn HTTP/1.1 protocol class (`uvicorn.Config(http=...)`): uvicorn's own
    (`base`, by default the one `http="auto"` picks: httptools if installed, else
    h11) with a deadline on each request's headers."""
    if base is None:
        from uvicorn.protocols.http.auto import AutoHTTPProtocol

        base = AutoHTTPProtocol

    class HeaderDeadline(base):  # type: ignore[misc, valid-type]
        """Arms a timer whenever the connection waits for a request's headers (when
        it opens, when a response ends); if `self.cycle` (the request uvicorn builds
        once headers are complete) is the same when the timer fires, no request came:
        answer 408 if part of one came, and close."""

        _deadline_seconds = seconds

        def connection_made(self, transport: Any) -> None:
            self._header_timer: asyncio.TimerHandle | None = None
            super().connection_made(transport)
            self._arm_header_deadline()

        def data_received(self, data: bytes) -> None:
            if self._header_timer is not None and data:
                self._partial_request = True
            super().data_received(data)

        def on_response_complete(self) -> None:
            served = self.cycle
            super().on_response_complete()
            if not self.transport.is_closing() and self.cycle is served:
                self._arm_header_deadline()  # no request queued behind: wait for one

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm_header_deadline()
            super().connection_lost(exc)

        def _arm_header_deadline(self) -> None:
            self._disarm_header_deadline()
            self._waiting_after = self.cycle
            self._partial_request = False
            self._header_timer = self.loop.call_later(
                self._deadline_seconds, self._header_deadline_passed
            )

        def _disarm_header_deadline(self) -> None:
            timer = getattr(self, "_header_timer", None)
            if timer is not None:
                timer.cancel()
            self._header_timer = None

        def _header_deadline_passed(self) -> None:
            self._header_timer = None
            if self.transport.is_closing() or self.cycle is not self._waiting_after:
                return  # closed already, or a request's headers came in time
            if self._partial_request:
                body = _timeout_body(
                    f"the request headers did not arrive within {self._deadline_seconds:g} s "
                    "(the connection is closed)"
                )
                self.transport.write(
                    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
                    b"connection: close\r\ncontent-length: " + str(len(body)).encode()
                    + b"\r\n\r\n" + body
                )  # fmt: skip
            self.transport.close()

    HeaderDeadline.__name__ = f"HeaderDeadline{base.__name__}"
    return HeaderDeadline

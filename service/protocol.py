"""The HTTP protocol of ``rules serve``: uvicorn's h11 protocol, with a deadline for a request's headers.

uvicorn closes a connection that stays idle *after* a response (``--keep-alive``), but not one that never
finishes sending its first request: a thousand such connections hold a thousand open files, which is the
server at the usual limit of 1,024. Here every connection has ``RULES_SERVE_HEADER_TIMEOUT`` seconds to send
a whole request line and its headers, and is closed when it has not.
"""
from __future__ import annotations

import asyncio
import os

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol


class HeaderDeadline(H11Protocol):
    """h11, closing a connection that has not sent a complete request head within the header timeout."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        seconds = float(os.environ.get("RULES_SERVE_HEADER_TIMEOUT", "10"))
        self._head_deadline = self.loop.call_later(seconds, self._head_too_slow)

    def handle_events(self) -> None:
        super().handle_events()
        if self._head_deadline is not None and self.conn.their_state is not h11.IDLE:
            self._head_deadline.cancel()  # a whole request head arrived: the body has the time limit
            self._head_deadline = None

    def connection_lost(self, exc: Exception | None) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None
        super().connection_lost(exc)

    def _head_too_slow(self) -> None:
        self._head_deadline = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.transport.close()

"""uvicorn's httptools protocol, with each response written in one ``send()``.

uvicorn writes the status line and headers on ``http.response.start`` and the body on
``http.response.body``: two system calls per response, and two wake-ups of the client, which reads a
head without its body first. Profiled under ``freshrec bench api``, that was two transport writes per
request. Here the transport handed to the protocol gathers what one event-loop turn writes and sends
it at the end of that turn (``call_soon``): the same bytes in the same order, one ``send()``; a
streamed body still goes out turn by turn. Only the write path is wrapped; everything else is the
real transport's.

Importing this module needs httptools (``uvicorn[standard]``); ``freshrec serve`` falls back to
uvicorn's own choice without it.
"""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class CoalescingTransport:
    """Delegates to ``transport``; writes made in one loop turn leave in one ``write``."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop):
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []
        self._scheduled = False

    def write(self, data: bytes) -> None:
        if not data:
            return
        self._pending.append(data)
        if not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self.flush)

    def writelines(self, lines) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        self._scheduled = False
        if not self._pending:
            return
        data = self._pending[0] if len(self._pending) == 1 else b"".join(self._pending)
        self._pending.clear()
        if not self._transport.is_closing():
            self._transport.write(data)

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + sum(map(len, self._pending))

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def close(self) -> None:
        self.flush()  # what was written before close() is sent, as with the real transport
        self._transport.close()

    def abort(self) -> None:
        self._pending.clear()
        self._transport.abort()

    def __getattr__(self, name: str):
        return getattr(self._transport, name)


class CoalescingHttpToolsProtocol(HttpToolsProtocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(CoalescingTransport(transport, self.loop))  # type: ignore[arg-type]

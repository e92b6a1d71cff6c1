"""serving/http_protocol.py: one response, one send(); nothing lost, reordered or sent after close."""

from __future__ import annotations

import asyncio

from serving.http_protocol import CoalescingTransport


class FakeTransport:
    def __init__(self):
        self.sent: list[bytes] = []
        self.closed = self.aborted = False

    def write(self, data: bytes) -> None:
        assert not self.closed, "write after close"
        self.sent.append(data)

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = self.closed = True

    def get_write_buffer_size(self) -> int:
        return 0

    def get_extra_info(self, name, default=None):
        return {"peername": ("127.0.0.1", 5)}.get(name, default)


async def test_writes_of_one_turn_leave_in_one_send_in_order():
    real = FakeTransport()
    t = CoalescingTransport(real, asyncio.get_running_loop())
    t.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n")
    t.write(b"")
    t.write(b"{}")
    assert real.sent == [] and t.get_write_buffer_size() == 40
    await asyncio.sleep(0)
    assert real.sent == [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}"]
    t.writelines([b"a", b"b"])
    await asyncio.sleep(0)
    assert real.sent[1:] == [b"ab"]


async def test_close_sends_what_was_written_first_and_abort_drops_it():
    real = FakeTransport()
    t = CoalescingTransport(real, asyncio.get_running_loop())
    t.write(b"bye")
    t.close()
    assert (real.sent, real.closed) == ([b"bye"], True)
    await asyncio.sleep(0)  # the scheduled flush finds nothing left and writes nothing
    assert real.sent == [b"bye"]
    other = FakeTransport()
    t = CoalescingTransport(other, asyncio.get_running_loop())
    t.write(b"never")
    t.abort()
    await asyncio.sleep(0)
    assert (other.sent, other.aborted) == ([], True)


async def test_everything_else_is_the_real_transports():
    t = CoalescingTransport(FakeTransport(), asyncio.get_running_loop())
    assert t.get_extra_info("peername") == ("127.0.0.1", 5) and not t.is_closing()

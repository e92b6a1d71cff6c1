"""The benchmarks' load phases (freshrec/benchmarks/loadgen.py) and the hand-packed RESP of serving/connections.py."""

from __future__ import annotations

import asyncio

from freshrec.benchmarks.loadgen import fixed_rate, max_rate
from serving.connections import pack


async def test_fixed_rate_starts_every_request_and_counts_errors():
    seen: list[int] = []

    async def call(i: int) -> None:
        seen.append(i)
        await asyncio.sleep(0)
        if i % 10 == 3:
            raise RuntimeError("boom")
    out = await fixed_rate(call, rate=1000, seconds=0.2)
    assert sorted(seen) == list(range(200))
    assert (out["requests"], out["errors"]) == (200, 20)
    # latency is from the scheduled instant, so it can never be below the time from the actual start
    assert out["p50_ms"] >= out["service_p50_ms"] and out["start_lag_p50_ms"] >= 0


async def test_max_rate_keeps_the_requested_concurrency():
    running = peak = 0

    async def call(i: int) -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.001)
        running -= 1
    out = await max_rate(call, concurrency=4, seconds=0.1)
    assert peak == 4 and out["max_rps"] > 0 and out["max_rps_errors"] == 0


def test_pack_is_resp():
    assert pack(("HGET", "fr:rec:user:u1", b"body")) == b"*3\r\n$4\r\nHGET\r\n$14\r\nfr:rec:user:u1\r\n$4\r\nbody\r\n"
    assert pack(("MGET", "é", 5)) == b"*3\r\n$4\r\nMGET\r\n$2\r\n\xc3\xa9\r\n$1\r\n5\r\n"


async def test_an_alarm_set_before_the_run_is_given_back():
    # the schedule borrows SIGALRM; pytest-timeout (and anyone else) must find theirs afterwards
    import signal

    def handler(signum, frame):  # pragma: no cover - never fires within the test
        raise AssertionError("fired")
    before = signal.signal(signal.SIGALRM, handler)
    before_timer = signal.setitimer(signal.ITIMER_REAL, 60.0)
    try:
        await fixed_rate(lambda i: asyncio.sleep(0), rate=500, seconds=0.05)
        assert signal.getsignal(signal.SIGALRM) is handler
        assert 50.0 < signal.getitimer(signal.ITIMER_REAL)[0] <= 60.0
    finally:
        signal.setitimer(signal.ITIMER_REAL, *before_timer)
        signal.signal(signal.SIGALRM, before)


async def test_line_conn_answers_requests_in_order_across_split_reads():
    from freshrec.benchmarks.loadgen import LineConn

    class Transport:
        sent: list[bytes] = []

        def write(self, data: bytes) -> None:
            self.sent.append(data)
    conn = LineConn()
    conn.connection_made(Transport())
    first, second = conn.request(b"u1 i1"), conn.request(b"- i2")
    conn.data_received(b"1\n0 deg")
    conn.data_received(b"raded\n")
    assert (await first, await second) == (b"1", b"0 degraded")
    assert Transport.sent == [b"u1 i1\n", b"- i2\n"]


async def test_the_bare_app_answers_a_fixed_body_and_its_lifespan():
    from freshrec.benchmarks.bounds import BODY, bare_app

    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)
    messages = iter([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])

    async def receive() -> dict:
        return next(messages)
    await bare_app({"type": "lifespan"}, receive, send)
    await bare_app({"type": "http"}, receive, send)
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete",
                                         "http.response.start", "http.response.body"]
    assert sent[-1]["body"] == BODY and (b"content-length", str(len(BODY)).encode()) in sent[-2]["headers"]

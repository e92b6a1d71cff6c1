"""Hypothesis strategies for malformed and hostile messages on the events topic.

Each strategy starts from a valid event and breaks exactly one thing (or sends bytes that are not an
event at all), so every message it draws must be rejected: the fuzz test checks that against the
worker's own router before sending, then checks the worker dead-lettered every one.
"""

from __future__ import annotations

import json
import re
import time

from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from contracts.events import EVENT_TYPES, MIN_TS
from contracts.ids import ID_PATTERN, MAX_ID_LEN

_ID_RE = re.compile(ID_PATTERN)
NOW = int(time.time() * 1000)
# session_id is optional (null is valid), so it is broken by a bad id, never by a wrong type alone.
FIELDS = ("event_id", "ts", "user_id", "type", "item_id")
ID_FIELDS = ("event_id", "user_id", "item_id", "session_id", "list_id")

good_id = st.text("abcdefghijklmnopqrstuvwxyz0123456789_.-", min_size=1, max_size=12)
HOSTILE_IDS = ["a:b*", "../x", "a\r\nb", "x\n", "\r", "", "*", "?", "[a]", "a b", "ü", "{u}",
               "rec:user:x", "\x00", "fr:rec:user:v", "a/b", "\\x", "${jndi:x}", "%0d%0a", "\u202ex", "😀",
               "x" * (MAX_ID_LEN + 1), "DEL *", "a\tb", "\ufeffa", "e\u0301"]
bad_id = st.one_of(
    st.sampled_from(HOSTILE_IDS),
    st.text(min_size=1, max_size=40).filter(lambda s: not _ID_RE.match(s)),
    st.text("ab", min_size=MAX_ID_LEN + 1, max_size=300),
)
bad_ts = st.one_of(
    st.integers(max_value=MIN_TS - 1),
    st.integers(min_value=NOW + 3 * 86_400_000, max_value=2**80),
    st.floats(allow_nan=False, allow_infinity=False).map(lambda f: f + 0.5),
    st.text(max_size=20), st.none(), st.booleans(), st.lists(st.integers(), max_size=3),
)
wrong_type = st.one_of(
    st.integers(), st.floats(allow_nan=False, allow_infinity=False), st.booleans(), st.none(),
    st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
bad_event_type = st.one_of(st.text(max_size=30).filter(lambda s: s not in EVENT_TYPES),
                           st.sampled_from(["VIEW", "view ", "purchase", "delete", "forget\n"]))


@st.composite
def valid_event(draw) -> dict:
    ev = {"event_id": draw(good_id), "ts": draw(st.integers(MIN_TS, NOW)), "user_id": draw(good_id),
          "type": draw(st.sampled_from(["view", "click", "cart", "order"])), "item_id": draw(good_id)}
    if draw(st.booleans()):
        ev["session_id"] = draw(good_id)
    return ev


def _dump(ev: dict) -> bytes:
    return json.dumps(ev).encode()


@st.composite
def broken_field(draw) -> tuple[bytes, bytes]:
    ev = draw(valid_event())
    kind = draw(st.sampled_from(["id", "ts", "type", "wrong_type", "missing", "huge", "position", "page"]))
    if kind == "huge" and draw(st.integers(0, 19)) == 0:
        kind = "oversized"  # over the router's 64 KiB limit; rare, or the run ships ~100 MB
    if kind == "id":
        ev[draw(st.sampled_from(ID_FIELDS))] = draw(bad_id)
    elif kind == "ts":
        ev["ts"] = draw(bad_ts)
    elif kind == "type":
        ev["type"] = draw(bad_event_type)
    elif kind == "wrong_type":
        field = draw(st.sampled_from(FIELDS))
        ev[field] = draw(wrong_type.filter(lambda v: not isinstance(v, int) or isinstance(v, bool))
                         if field == "ts" else wrong_type)  # an int ts may well be valid
    elif kind == "missing":
        del ev[draw(st.sampled_from(["event_id", "ts", "user_id", "type", "item_id"]))]
    elif kind == "huge":
        size = draw(st.sampled_from([100, 1000, 3000]))
        ev[draw(st.sampled_from(ID_FIELDS + ("type",)))] = draw(st.sampled_from("xé\u202e😀")) * size
    elif kind == "oversized":
        ev["item_id"] = "x" * 70_000
    elif kind == "position":
        ev["position"] = draw(st.integers(0, 10))  # without a list_id
    else:
        ev["page"] = draw(st.text(max_size=10).filter(lambda s: s not in ("detail", "home", "search", "cart")))
    key = ev["user_id"] if isinstance(ev.get("user_id"), str) else "k"
    return key.encode(errors="surrogatepass")[:100], _dump(ev)


@st.composite
def not_an_event(draw) -> tuple[bytes, bytes]:
    kind = draw(st.sampled_from(["binary", "truncated", "toplevel", "nested", "text", "empty"]))
    if kind == "binary":
        value = draw(st.binary(max_size=300))
    elif kind == "truncated":
        raw = _dump(draw(valid_event()))
        value = raw[: draw(st.integers(0, len(raw) - 1))]
    elif kind == "toplevel":
        value = json.dumps(draw(st.one_of(wrong_type, st.text(max_size=50)))).encode()
    elif kind == "nested":
        depth = draw(st.integers(100, 3000))
        value = b"[" * depth + b"]" * draw(st.integers(0, depth))
    elif kind == "text":
        value = draw(st.text(max_size=200)).encode("utf-8", errors="surrogatepass")
    else:
        value = b""
    return draw(st.binary(min_size=1, max_size=20)), value


@st.composite
def wrong_key(draw) -> tuple[bytes, bytes]:
    """A valid event keyed by someone else: it would split a user's state over two partitions."""
    ev = draw(valid_event())
    key = draw(st.one_of(st.binary(max_size=20), bad_id.map(lambda s: s.encode(errors="surrogatepass"))))
    if key == ev["user_id"].encode():
        key += b"!"
    return key, _dump(ev)


hostile_message = st.one_of(broken_field(), broken_field(), not_an_event(), wrong_key())


def draw_many(strategy, n: int) -> list:
    """``n`` draws from ``strategy``, the same ones on every run (derandomized, no example database)."""
    out: list = []

    @hsettings(max_examples=n, derandomize=True, database=None, phases=[Phase.generate], deadline=None,
               suppress_health_check=list(HealthCheck))
    @given(strategy)
    def collect(message):
        out.append(message)

    collect()
    return out

"""The Redis key schema: the one contract between the stream (writer) and serving (reader).

Every key Freshrec writes is built here and nowhere else. Ids reaching this module have passed the
event schema (``[A-Za-z0-9_.-]``), so a key can never contain a separator, a glob character or a
line break; :func:`_check_id` re-checks because a key outside the schema is a bug worth a crash in tests.

Recommendation lists are Redis hashes with two fields: ``ts`` (the event time they answer, epoch ms)
and ``body`` (a JSON :class:`RecList`). Writes go through :data:`WRITE_IF_NEWER_LUA`, which compares
``ts`` server-side, so a re-delivered or late event can never replace a newer list with an older one.

Key                          | type   | written by | read by  | content
---------------------------- | ------ | ---------- | -------- | ------------------------------------------
``{p}rec:user:{user}``       | hash   | worker     | serving  | ts, body = RecList for the detail page
``{p}rec:item:{item}``       | hash   | worker     | serving  | ts, body = RecList (similar + complementary)
``{p}rec:trending``          | hash   | worker     | serving  | ts, body = RecList of globally trending items
``{p}rec:trending:{cat}``    | hash   | worker     | serving  | ts, body = RecList trending in a category
``{p}item:{item}``           | string | worker     | serving  | JSON catalog item (title, category, ...)
``{p}model:{name}:current``  | string | trainer    | worker   | version id of the published model
``{p}stats:{name}``          | hash   | worker     | serving  | live counters (events, freshness, CTR ...)
``{p}ab:{experiment}:{var}`` | hash   | worker     | serving  | per-variant impressions, clicks, orders

``{p}`` is the configurable prefix (default ``fr:``) so several deployments can share one Redis.

A ``stats:{name}`` hash holds, besides counters, a freshness histogram: fields ``fh:<upper ms>`` (and
``fh:inf``) counting events by write delay; serving reads it (``serving/stats.py``).
"""

from __future__ import annotations

import re

import msgspec

from contracts.ids import ID_CHARS, MAX_ID_LEN, is_id

DEFAULT_PREFIX = "fr:"
# Categories are shop-defined names: ids plus spaces (a space becomes "_" in the key).
_CATEGORY = re.compile(rf"[{ID_CHARS} ]{{1,80}}")
_PREFIX = re.compile(rf"[{ID_CHARS}]{{0,32}}:")


def _check_id(value: str, what: str = "id") -> str:
    if not is_id(value):
        raise ValueError(f"{what} {value!r} is not allowed in a Redis key")
    return value


def _check_category(value: str) -> str:
    # fullmatch: with match, ``$`` also matches before a trailing newline ("x\n" would pass).
    if not isinstance(value, str) or not _CATEGORY.fullmatch(value):
        raise ValueError(f"category {value!r} is not allowed in a Redis key")
    return value


class Keys:
    """Builds every key; construct once with the deployment's prefix."""

    def __init__(self, prefix: str = DEFAULT_PREFIX):
        if prefix and not _PREFIX.fullmatch(prefix):
            raise ValueError(f"prefix {prefix!r} must be [A-Za-z0-9_.-] and end with ':'")
        self.prefix = prefix

    def user_recs(self, user_id: str) -> str:
        return f"{self.prefix}rec:user:{_check_id(user_id, 'user id')}"

    def item_recs(self, item_id: str) -> str:
        return f"{self.prefix}rec:item:{_check_id(item_id, 'item id')}"

    def trending(self, category: str | None = None) -> str:
        if category is None:
            return f"{self.prefix}rec:trending"
        return f"{self.prefix}rec:trending:{_check_category(category).replace(' ', '_')}"

    def item(self, item_id: str) -> str:
        return f"{self.prefix}item:{_check_id(item_id, 'item id')}"

    def model_current(self, name: str) -> str:
        return f"{self.prefix}model:{_check_id(name, 'model name')}:current"

    def stats(self, name: str) -> str:
        return f"{self.prefix}stats:{_check_id(name, 'stats name')}"

    def ab(self, experiment: str, variant: str) -> str:
        return f"{self.prefix}ab:{_check_id(experiment, 'experiment')}:{_check_id(variant, 'variant')}"

    def user_pattern(self, user_id: str) -> str:
        """Every key holding this user's data (for forgetting a user)."""
        return self.user_recs(user_id)

    def all_pattern(self) -> str:
        return f"{self.prefix}*"

    def owns(self, key: str) -> bool:
        """True if ``key`` is one this schema can produce (used by the fuzz tests)."""
        return bool(_KEY_SHAPE.fullmatch(key.removeprefix(self.prefix))) and key.startswith(self.prefix)


_I = rf"[{ID_CHARS}]{{1,{MAX_ID_LEN}}}"
_KEY_SHAPE = re.compile(
    rf"rec:user:{_I}|rec:item:{_I}|rec:trending(:[{ID_CHARS}]{{1,80}})?"
    rf"|item:{_I}|model:{_I}:current|stats:{_I}|ab:{_I}:{_I}"
)


class RecItem(msgspec.Struct, frozen=True, array_like=False):
    item: str
    score: float
    reason: str


class RecList(msgspec.Struct, frozen=True, omit_defaults=True):
    """The body of every ``rec:*`` hash."""

    items: list[RecItem]
    event_ts: int
    write_ts: int
    context_item: str | None = None
    model_version: str | None = None
    list_id: str | None = None
    variant: str | None = None
    #: for ``rec:item:*``: complementary items (bought with), kept apart from ``items`` (similar)
    complementary: list[RecItem] = []


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(RecList)


def encode_rec_list(rec: RecList) -> bytes:
    return _encoder.encode(rec)


def decode_rec_list(data: bytes | str) -> RecList:
    return _decoder.decode(data)


#: KEYS[1] = the hash; ARGV = ts, body, ttl_ms. Returns 1 if written, 0 if the stored list is newer.
#: Equal ts is written: a re-computation for the same event may carry a fresher model.
WRITE_IF_NEWER_LUA = """
local cur = redis.call('HGET', KEYS[1], 'ts')
if cur and tonumber(cur) > tonumber(ARGV[1]) then
  return 0
end
redis.call('HSET', KEYS[1], 'ts', ARGV[1], 'body', ARGV[2])
if tonumber(ARGV[3]) > 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
end
return 1
"""

#: The same rule for many lists in one call (the worker writes a take window's lists this way: one
#: command instead of one per user halves the writer's CPU per list). KEYS = the hashes;
#: ARGV = ttl_ms, then ts, body per key. Returns how many were written.
WRITE_MANY_IF_NEWER_LUA = """
local ttl = tonumber(ARGV[1])
local n = 0
for i, key in ipairs(KEYS) do
  local ts = ARGV[2 * i]
  local cur = redis.call('HGET', key, 'ts')
  if not (cur and tonumber(cur) > tonumber(ts)) then
    redis.call('HSET', key, 'ts', ts, 'body', ARGV[2 * i + 1])
    if ttl > 0 then
      redis.call('PEXPIRE', key, ttl)
    end
    n = n + 1
  end
end
return n
"""

BODY_FIELD = "body"
TS_FIELD = "ts"


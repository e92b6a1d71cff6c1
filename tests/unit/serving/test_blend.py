"""Which list a detail page shows (serving/blend.py): every rule, on hand-made lists."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from contracts.redis_keys import RecItem, RecList
from serving.blend import choose, item_entries

NOW = 1_800_000_000_000


def rl(*items: str, ctx: str | None = None, ts: int = NOW - 1000, comp: tuple[str, ...] = (), **kw) -> RecList:
    return RecList(items=[RecItem(i, 1.0 / (n + 1), f"r-{i}") for n, i in enumerate(items)], event_ts=ts,
                   write_ts=ts + 5, context_item=ctx, complementary=[RecItem(i, 0.5, f"bought with {i}")
                                                                      for i in comp], **kw)


def pick(**kw):
    kw.setdefault("now_ms", NOW)
    kw.setdefault("fresh_ms", 60_000)
    kw.setdefault("k", 10)
    return choose(kw.pop("user", None), kw.pop("item", None), kw.pop("trending", None), **kw)


def items(recs):
    return [r.item for r in recs.items]


def test_user_list_for_this_page_is_served_alone_and_topped_up():
    recs = pick(user=rl("a", "b", ctx="p", ts=NOW - 3_600_000, model_version="m7", list_id="L1"),
                item=rl("c", "a"), trending=rl("t"), page_item="p")
    assert recs.source == "user"
    assert items(recs) == ["a", "b", "c", "t"]
    assert (recs.model_version, recs.list_id, recs.context_item) == ("m7", "L1", "p")
    assert recs.freshness_ms == 3_600_000
    assert recs.items[0].reason == "r-a"


def test_recent_user_list_for_another_page_is_served_alone():
    recs = pick(user=rl("a", "b", ctx="other", ts=NOW - 10_000), item=rl("c"), page_item="p", k=2)
    assert (recs.source, items(recs)) == ("user", ["a", "b"])


def test_old_user_list_for_another_page_is_blended_item_first():
    recs = pick(user=rl("a", "b", ctx="other", ts=NOW - 600_000), item=rl("c", "d", "a"), page_item="p")
    assert recs.source == "blend"
    assert items(recs) == ["c", "a", "d", "b"]


def test_anonymous_visitor_gets_the_item_list_with_complements_interleaved():
    recs = pick(user=None, item=rl("s1", "s2", comp=("c1",)), trending=rl("t"), page_item="p")
    assert recs.source == "item"
    assert items(recs) == ["s1", "c1", "s2", "t"]
    assert recs.items[1].reason == "bought with c1"


def test_unknown_item_gets_trending_without_the_page_item():
    recs = pick(user=None, item=None, trending=rl("p", "t1", "t2"), page_item="p")
    assert (recs.source, items(recs)) == ("trending", ["t1", "t2"])


def test_nothing_in_redis_gives_an_empty_list():
    recs = pick(page_item="p")
    assert (recs.source, recs.items, recs.degraded) == ("none", (), False)


def test_empty_user_list_falls_through_to_the_item_list():
    assert pick(user=rl(ctx="p"), item=rl("x"), page_item="p").source == "item"


def test_item_entries_keeps_every_entry_once():
    assert [e.item for e in item_entries(rl("a", "b", "c", comp=("x",)))] == ["a", "x", "b", "c"]


ids = st.sampled_from([f"i{n}" for n in range(12)])


@given(user=st.lists(ids, max_size=8), item=st.lists(ids, max_size=8), trending=st.lists(ids, max_size=8),
       page=ids, k=st.integers(1, 20), age=st.integers(0, 10**7), ctx=ids)
def test_never_the_page_item_never_twice_never_more_than_k(user, item, trending, page, k, age, ctx):
    recs = pick(user=rl(*user, ctx=ctx, ts=NOW - age), item=rl(*item), trending=rl(*trending), page_item=page, k=k)
    got = items(recs)
    assert page not in got
    assert len(got) == len(set(got)) <= k
    available = set(user) | set(item) | set(trending)
    available.discard(page)
    assert len(got) == min(k, len(available))

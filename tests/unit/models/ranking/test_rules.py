from contracts.events import CatalogItem
from models.base import Candidate, Interaction, Session
from models.ranking.rules import CatalogFacts, Rules, cap_per_category


def cands(*items):
    return [Candidate(i, 1.0, "r", "s") for i in items]


def facts(**cats):
    f = CatalogFacts()
    for item, cat in cats.items():
        f.learn_item(CatalogItem(item_id=item, title=item, category=[cat], price=1.0))
    return f


SESSION = Session("u", [Interaction("a"), Interaction("b", "order"), Interaction("c")], purchased={"p"})


def test_purchased_items_are_never_recommended():
    for rules in (Rules(), Rules.for_protocol(page_rules=False)):
        got = [c.item for c in rules.apply(SESSION, cands("p", "b", "x"), 10)]
        assert got == ["x"]


def test_current_item_dropped_only_with_page_rules():
    assert [c.item for c in Rules().apply(SESSION, cands("c", "a"), 10)] == ["a"]
    assert [c.item for c in Rules.for_protocol(False).apply(SESSION, cands("c", "a"), 10)] == ["c", "a"]


def test_out_of_stock_dropped():
    f = CatalogFacts()
    f.learn_item(CatalogItem(item_id="x", title="x", category=["k"], price=1.0, in_stock=False))
    f.learn_item(CatalogItem(item_id="y", title="y", category=["k"], price=1.0))
    assert [c.item for c in Rules().apply(SESSION, cands("x", "y"), 10, f)] == ["y"]
    f.learn_item(CatalogItem(item_id="x", title="x", category=["k"], price=1.0, in_stock=True))
    assert [c.item for c in Rules().apply(SESSION, cands("x", "y"), 10, f)] == ["x", "y"]


def test_diversity_cap_holds():
    f = facts(s1="shoes", s2="shoes", s3="shoes", t1="tv", t2="tv")
    got = [c.item for c in Rules(diversity_cap=2).apply(SESSION, cands("s1", "s2", "s3", "t1", "u", "t2"), 10, f)]
    assert got == ["s1", "s2", "t1", "u", "t2"]
    assert [c.item for c in cap_per_category(cands("s1", "s2", "s3"), f, 1)] == ["s1"]
    off = Rules.for_protocol(False).apply(SESSION, cands("s1", "s2", "s3"), 10, f)
    assert len(off) == 3


def test_items_seen_too_often_excluded():
    s = Session("u", [Interaction("a")], seen_counts={"x": 25, "y": 3})
    assert [c.item for c in Rules(max_seen=20).apply(s, cands("x", "y"), 10)] == ["y"]
    assert [c.item for c in Rules(overexposed=False).apply(s, cands("x", "y"), 10)] == ["x", "y"]


def test_k_bounds_the_output():
    assert len(Rules().apply(SESSION, cands(*"vwxyz"), 3)) == 3
    assert Rules().apply(SESSION, cands(*"vwxyz"), 0) == []

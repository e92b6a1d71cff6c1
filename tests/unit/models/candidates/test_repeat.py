from models.base import Interaction, Session
from models.candidates.repeat import Repeat


def test_count_and_recency_order_the_session_items():
    s = Session("u", [Interaction(i) for i in ["a", "b", "a", "c", "a", "d"]])
    got = Repeat(decay=0.7).candidates(s, 10)
    assert [c.item for c in got] == ["a", "d", "c", "b"]
    assert got[0].score > 1.0 > got[1].score * 0.99
    assert got[0].reason == "you looked at a earlier"


def test_orders_and_impressions_do_not_count():
    s = Session("u", [Interaction("a", "order"), Interaction("b", "impression"), Interaction("c")])
    assert [c.item for c in Repeat().candidates(s, 10)] == ["c"]


def test_k_bounds_the_list():
    s = Session("u", [Interaction(str(i)) for i in range(30)])
    assert len(Repeat().candidates(s, 5)) == 5

from contracts.events import CatalogItem
from models.base import Interaction, Session
from models.candidates.complementary import Complementary


def test_bought_together_from_carts_and_orders():
    model = Complementary(half_life_ms=None)
    for user in range(3):
        s = Session(str(user), [Interaction("phone", "cart")])
        model.learn_one(s, Interaction("case", "order"))
    s = Session("x", [Interaction("phone", "view")])
    model.learn_one(s, Interaction("cable", "view"))  # views are not baskets
    got = model.candidates(Session("u", [Interaction("phone")]), 5)
    assert [c.item for c in got] == ["case"]
    assert got[0].reason == "bought with phone"
    assert [c.item for c in model.candidates(Session("u", [Interaction("case")]), 5)] == ["phone"]


def test_catalog_complements_both_ways():
    model = Complementary()
    model.learn_item(CatalogItem(item_id="case", title="Case", category=["acc"], price=5, complements=["phone"]))
    assert [c.item for c in model.candidates(Session("u", [Interaction("phone")]), 5)] == ["case"]
    assert [c.item for c in model.candidates(Session("u", [Interaction("case")]), 5)] == ["phone"]


def test_pairs_only_for_basket_events():
    model = Complementary()
    s = Session("u", [Interaction("a", "cart"), Interaction("b", "view"), Interaction("c", "order")])
    assert model.pairs(s, Interaction("d", "view")) == []
    assert sorted(model.pairs(s, Interaction("d", "cart"))) == sorted(
        [("c", "d", 1.0), ("d", "c", 1.0), ("a", "d", 1.0), ("d", "a", 1.0)])

from contracts.events import CatalogItem
from models.base import Interaction, Session
from models.candidates.content import ContentIndex


def item(item_id, title, category, price=50.0, brand=None, **kw):
    return CatalogItem(item_id=item_id, title=title, category=category, price=price, brand=brand, **kw)


CATALOG = [
    item("run1", "Trail running shoe", ["shoes", "running"], 90, "Acme"),
    item("run2", "Road running shoe", ["shoes", "running"], 95, "Acme"),
    item("boot", "Leather boot", ["shoes", "boots"], 150, "Other"),
    item("tv", "OLED television 55 inch", ["electronics", "tv"], 900, "Vision"),
]


def index(items=CATALOG):
    idx = ContentIndex(refresh_every=1)
    for it in items:
        idx.learn_item(it)
    return idx


def test_similar_items_share_category_brand_and_terms():
    got = index().candidates(Session("u", [Interaction("run1")]), 3)
    assert got[0].item == "run2" and got[0].reason == "similar to run1"
    assert "tv" not in [c.item for c in got]


def test_new_item_is_recommendable_at_once():
    idx = index()
    idx.learn_item(item("run3", "Running shoe ultra", ["shoes", "running"], 99, "Acme"))
    assert "run3" in [c.item for c in idx.candidates(Session("u", [Interaction("run1")]), 2)]
    assert [c.item for c in idx.candidates(Session("u", [Interaction("run3")]), 1)][0] in {"run1", "run2"}


def test_upsert_replaces_and_remove_forgets():
    idx = index()
    idx.learn_item(item("run2", "OLED television 65 inch", ["electronics", "tv"], 1200, "Vision"))
    assert idx.candidates(Session("u", [Interaction("tv")]), 1)[0].item == "run2"
    idx.remove_item("run2")
    assert "run2" not in [c.item for c in idx.candidates(Session("u", [Interaction("tv")]), 5)]
    assert idx.candidates(Session("u", [Interaction("unknown")]), 5) == []


def test_ids_outside_the_catalog_are_not_cached():
    idx = ContentIndex(refresh_every=1000)
    for it in CATALOG:
        idx.learn_item(it)
    for n in range(500):
        assert idx.similar(f"ghost{n}", 5) == []
    assert len(idx._cache) == 0
    # An id asked about before it was in the catalog is scored once it arrives, not served stale-empty.
    idx.learn_item(item("ghost7", "Trail running shoe", ["shoes", "running"], 90, "Acme"))
    assert idx.similar("ghost7", 1)[0][0] == "run1"
    assert set(idx._cache) == {"ghost7"}

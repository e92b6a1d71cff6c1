"""The array path (pool, ``rank_pool``, ``Rules.keep``) gives the lists the object path gives."""

import random

import numpy as np
import pytest

from contracts.events import CatalogItem
from models.base import Candidate, Interaction, Session
from models.ranking.fusion import WeightedFusion
from models.ranking.pool import ItemIds, Pool, rank_in_group, top_order
from models.recommender import StreamRecommender

T0 = 1_700_000_000_000


def trained(page_rules: bool, seed: int) -> StreamRecommender:
    rng = random.Random(seed)
    model = StreamRecommender(page_rules=page_rules, diversity_cap=2, max_seen=3)
    for n in range(60):
        model.learn_item(CatalogItem(item_id=f"i{n}", title=f"thing {n % 7} model {n % 3}",
                                     category=["root", f"c{n % 4}"], price=5.0 + n, in_stock=n % 11 != 0,
                                     complements=[f"i{(n + 1) % 60}"] if n % 9 == 0 else []))
    types = ["view"] * 6 + ["cart", "order", "click"]
    for u in range(150):
        s = Session(f"u{u}")
        for step in range(rng.randint(1, 8)):
            it = Interaction(f"i{rng.randrange(60) if rng.random() < 0.3 else (u + step) % 60}", rng.choice(types),
                             T0 + u * 100 + step)
            model.learn_one(s, it)
            s.interactions.append(it)
    model.trending.refresh_every = 1
    return model


def probes(seed: int) -> list[Session]:
    rng = random.Random(seed)
    out = [Session("new"), Session("ctx", context={"hour": 3})]
    for u in range(80):
        items = [f"i{rng.randrange(70)}" for _ in range(rng.randint(1, 9))]
        inter = [Interaction(i, rng.choice(["view", "view", "cart", "order"]), T0 + n) for n, i in enumerate(items)]
        out.append(Session(f"p{u}", inter, purchased={f"i{rng.randrange(60)}" for _ in range(rng.randint(0, 3))},
                           seen_counts={i: rng.randint(1, 5) for i in items}))
    return out


def as_rows(lists: list[list[Candidate]]):
    return [[(c.item, c.reason, c.source) for c in cands] for cands in lists]


@pytest.mark.parametrize("page_rules", [True, False])
@pytest.mark.parametrize("seed", [1, 2])
def test_array_path_equals_the_object_path(page_rules, seed):
    model = trained(page_rules, seed)
    sessions = probes(seed)
    fast, slow = model.recommend_many(sessions, 10), model.recommend_objects(sessions, 10)
    assert as_rows(fast) == as_rows(slow)
    for f, s in zip(fast, slow):
        assert [c.score for c in f] == pytest.approx([c.score for c in s])
    assert any(len(c) == 10 for c in fast) and any(c.source == "covisit" for cands in fast for c in cands)


def test_rank_pool_sums_normalised_sources_and_keeps_the_strongest_reason():
    ids = ItemIds()
    pool = Pool(2, ["a", "b"], ids)
    fusion = WeightedFusion({"a": 1.0, "b": 2.0}, raw=("b",))
    pool.add_candidates(0, [[Candidate("x", 4.0, "ax", "a"), Candidate("y", 2.0, "ay", "a")], []])
    pool.add_candidates(1, [[Candidate("y", 0.5, "by", "b")], [Candidate("z", 1.0, "bz", "b")]])
    ranked = fusion.rank_pool(pool)
    got = ranked.to_lists(pool)
    assert [(c.item, c.score, c.reason) for c in got[0]] == [("y", 1.5, "by"), ("x", 1.0, "ax")]
    assert [(c.item, c.score) for c in got[1]] == [("z", 2.0)]
    session = Session("u", [Interaction("x")])
    objects = fusion.rank(session, [Candidate("x", 4.0, "ax", "a"), Candidate("y", 2.0, "ay", "a"),
                                    Candidate("y", 0.5, "by", "b")], 5)
    assert [(c.item, c.score, c.reason) for c in objects] == [(c.item, c.score, c.reason) for c in got[0]]


def test_rank_in_group_counts_within_runs():
    assert rank_in_group(np.array([0, 0, 1, 2, 2, 2])).tolist() == [0, 1, 0, 0, 1, 2]
    assert rank_in_group(np.array([], dtype=np.int64)).tolist() == []


def test_item_ids_translate_a_growing_vocabulary():
    from models.candidates.pairstore import Vocab

    ids, vocab = ItemIds(), Vocab(["b", "a"])
    ids.id("a")
    assert ids.from_vocab("v", vocab).tolist() == [1, 0]
    vocab.id("c")
    assert ids.from_vocab("v", vocab).tolist() == [1, 0, 2] and ids.items == ["a", "b", "c"]


@pytest.mark.parametrize("k", [1, 3, 6, 10])
def test_top_order_is_the_k_best_best_first_ties_by_position(k):  # no tie at any of these cut-offs
    scores = np.array([0.5, 2.0, 0.5, 3.0, -1.0, 2.0])
    want = sorted(range(len(scores)), key=lambda i: (-scores[i], i))[:k]
    assert top_order(scores, k).tolist() == want

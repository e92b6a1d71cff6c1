"""The ceiling analysis scores lists with the judge's own chances: the vectorised copy must equal the
shop's ``_click_prob`` and add-to-cart term on every item, the bound is the cascade at the maximum,
and the oracle is never below the popular list on the same shop."""

from __future__ import annotations

import math

import numpy as np

from freshrec.experiment import ceiling
from producers.shop import _MAX_SLOT_CTR, _sigmoid
from producers.shop_taste import INTENT_CART


def sessions_of(shop, n: int):
    """The shop's sessions as it runs (closed loop off), captured at their views."""
    seen = []
    orig = shop._view

    def spy(sess, idx, ts):
        orig(sess, idx, ts)
        seen.append((sess.user, sess.intent, sess.leaf, sess.owned, sess.current, sess))

    shop._view = spy
    for _, _rec in shop.run():
        if len(seen) >= n:
            break
    return seen


def test_vectorised_judge_equals_the_shops_click_and_cart_chances():
    shop = ceiling.ScoredShop(pick=lambda *a: [], pick_name="t", users=60, items=200, rate=5.0, seed=3,
                              duration_s=4000, shift_at_s=20)
    captured = sessions_of(shop, 300)
    assert shop.trending, "the shift happened: the trendy term is covered"
    kinds = {intent for _, intent, *_ in captured}
    assert {"browse", "accessory"} <= kinds or {"browse", "compare"} <= kinds
    scores = ceiling.JudgeScores(shop)
    for user, intent, leaf, owned, current, sess in captured[-40:]:
        # The session object moved on; put back the state of that view.
        sess.intent, sess.leaf, sess.owned, sess.current = intent, leaf, owned, current
        p = scores.click(sess)
        cart = scores.cart(sess)
        for idx in range(len(shop.catalog)):
            assert math.isclose(p[idx], shop._click_prob(sess, idx), rel_tol=1e-9)
            fit = shop.utility(user, idx) + 0.5 + (INTENT_CART if shop._in_intent(sess, idx) else 0.0)
            want = 2 * _sigmoid(fit) if shop.catalog.in_stock[idx] else 0.0
            assert math.isclose(cart[idx], want, rel_tol=1e-9)


def test_bound_is_the_cascade_at_the_judges_maximum():
    assert math.isclose(ceiling.BOUND, 1 - np.prod([1 - _MAX_SLOT_CTR / (1 + 0.5 * p) for p in range(6)]))
    assert 0.28 < ceiling.BOUND < 0.282
    assert ceiling.cascade_ctr([]) == 0.0
    assert math.isclose(ceiling.cascade_ctr([0.1]), 0.1)


def test_oracle_beats_popular_on_the_same_shop_and_stays_under_the_bound():
    kw = dict(hours=0.1, users=120, items=150, seed=5)
    pop = ceiling.simulate("popular", **kw)
    orc = ceiling.simulate("oracle", **kw)
    assert pop["impressions"] > 200 and orc["impressions"] > 200
    assert pop["expected_ctr"] < orc["expected_ctr"] <= ceiling.BOUND
    assert orc == ceiling.simulate("oracle", **kw)  # seeded: the same run again

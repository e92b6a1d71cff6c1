"""Search spaces: dataset-independent ranges each model's selection draws from.

Ranges span what the session-kNN literature and our own earlier runs found useful on very different
logs (short e-commerce sessions, long sessions that revisit items), so a new dataset can land anywhere in
them; the values inside are the defaults' neighbours on a roughly geometric grid. A repeat boost of 0 is
always a choice: a log without repeats should be able to turn it off.
"""

from __future__ import annotations

from models.baselines.sknn import NEIGHBOUR_DECAYS, POSITION_WEIGHTS

NEIGHBOURHOOD = {"k": [50, 100, 200, 500, 1000], "sample_size": [500, 1000, 2000, 5000]}
BOOST = {"repeat_boost": [0.0, 0.02, 0.05, 0.1, 0.2, 0.4, 0.8, 1.6]}

SKNN = dict(NEIGHBOURHOOD)
VSKNN = {**NEIGHBOURHOOD, "position_weight": list(POSITION_WEIGHTS), "neighbour_decay": list(NEIGHBOUR_DECAYS),
         "idf_weight": [0.0, 1.0, 2.0, 5.0, 10.0]}
# l2 stays "the number of indexed sessions" (None): a scale-free choice, where any constant would be a
# number of sessions that only means something for one dataset's size.
STAN = {**NEIGHBOURHOOD, "l1": [0.5, 1.0, 2.0, 4.0, 8.0], "l3": [1.0, 2.0, 4.0, 8.0, 16.0]}


def boosted(space: dict) -> dict:
    return {**space, **BOOST}


# The stream's co-visitation window and backward weight change what is learned (one fit per distinct
# pair); the rest is scoring only. The co-visitation score is max-normalised in the fusion, so its
# weight stays 1 and the others are relative to it. The half-life is not here: the offline split has no
# time, so a fit cannot measure it (the prequential protocol can).
STREAM = {
    "window": [3, 5, 8, 12],
    "backward": [0.25, 0.5, 1.0],
    "weights.repeat": [0.3, 0.6, 0.9, 1.2, 1.6, 2.2, 3.0],
    "weights.trending": [0.0, 0.01, 0.05],
    "repeat_decay": [0.4, 0.55, 0.7, 0.8, 0.9, 1.0],
    "recent": [1, 2, 3, 5, 8],
    "recency_exponent": [0.5, 1.0, 2.0],
    "norm_exponent": [0.5, 0.6, 0.75, 0.9, 1.0],
}
# The hybrid shares one trained deep network among all its candidates (HybridRecommender.fit_shared), so
# it can search the stream's settings with the deep weight at the cost of stream fits only.
HYBRID = {**STREAM, "deep_weight": [0.0, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0]}

# A production re-tune (models/selection/retune.py) also chooses how many neighbours the items side keeps
# per item: pruning changes what is learned (one fit per distinct value), and in the worker it is the
# items side's, so the published configuration must carry it there.
STREAM_LIVE = {**STREAM, "top_k": [50, 100, 200, 500]}

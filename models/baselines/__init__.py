"""Reference baselines from the session-rec literature, run by the evaluation harness beside our models.

All implement ``models.base.Recommender`` and learn incrementally (``learn_one``), so they also run
prequentially; the neighbourhood ones take a ``repeat_boost`` for items already in the session.
"""

from models.baselines.itemknn import ItemKNN
from models.baselines.popularity import Pop, SessionPop
from models.baselines.sknn import SKNN, VSKNN
from models.baselines.stan import STAN

__all__ = ["ItemKNN", "Pop", "SessionPop", "SKNN", "STAN", "VSKNN"]

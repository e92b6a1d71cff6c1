from __future__ import annotations

from models.base import Interaction, Session

# Items first appear in increasing order, so ids from fit and from learn_one agree.
TRAIN = [["1", "2", "3"], ["2", "3", "4"], ["1", "2"], ["3", "4", "5"], ["5", "6", "5"], ["2", "6"]]


def session(items, user="u") -> Session:
    return Session(user_id=user, interactions=[Interaction(item=i, ts=n) for n, i in enumerate(items)])


def replay(model, sessions, prefix="train"):
    """Teach ``model`` whole sessions one click at a time, as the stream does."""
    for n, items in enumerate(sessions):
        s = Session(user_id=f"{prefix}-{n}")
        for item in items:
            inter = Interaction(item=item)
            model.learn_one(s, inter)
            s.interactions.append(inter)
    return model

"""One item vocabulary: the deep model's is models.vocab.Vocab (ids 0..n-1), its tokens are id + 1."""

from __future__ import annotations

import pickle

from hypothesis import given, strategies as st

from models.base import Interaction, Session
from models.deep.data import PAD, ItemVocab
from models.vocab import Vocab

session_lists = st.lists(st.lists(st.sampled_from("abcdefgh"), min_size=1, max_size=6), max_size=10)


@given(session_lists)
def test_ids_are_the_shared_vocabulary_and_tokens_are_one_more(sessions):
    deep, shared = ItemVocab.from_sessions(sessions), Vocab(i for s in sessions for i in s)
    assert isinstance(deep, Vocab)
    assert deep.items == shared.items and deep.index == shared.index
    for s in sessions:
        tokens = deep.encode(s)
        assert tokens == [shared.id(i) + 1 for i in s] and PAD not in tokens
        assert [deep.decode(t) for t in tokens] == s


def test_growing_keeps_every_id_and_unknown_items_are_dropped():
    vocab = ItemVocab(["a", "b"])
    assert vocab.extend(["b", "c"]) == 1
    assert vocab.index == {"a": 0, "b": 1, "c": 2} and vocab.encode(["x", "c", "a"]) == [3, 1]


def test_a_pickle_from_the_one_based_vocabulary_loads_zero_based():
    old = ItemVocab(["a", "b"])
    old.__dict__["index"] = {"a": 1, "b": 2}  # as ItemVocab pickled before the vocabularies were one
    assert pickle.loads(pickle.dumps(old)).index == {"a": 0, "b": 1}


def test_output_column_j_is_item_id_j(trained):
    probs = trained.torch_probs([["i1", "i2"]])
    assert probs.shape == (1, len(trained.vocab))
    # the cycle's next item after i1, i2 is i3: its column is its id, as validation and scoring read it
    assert int(probs[0].argmax()) == trained.vocab.index["i3"]
    assert trained.recommend(Session("u", [Interaction("i1"), Interaction("i2")]), 1)[0].item == "i3"

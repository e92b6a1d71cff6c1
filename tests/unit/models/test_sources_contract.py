"""One contract suite over every candidate source (no ignore list): see STYLE.md rule 3."""

import pickle

import pytest

from contracts.events import CatalogItem
from models.base import CandidateSource, Interaction, Learner, Session
from models.candidates.complementary import Complementary
from models.candidates.content import ContentIndex
from models.candidates.covisit import CoVisitation
from models.candidates.repeat import Repeat
from models.candidates.trending import Trending

SOURCES = [CoVisitation, Complementary, ContentIndex, Repeat, Trending]
T0 = 1_700_000_000_000
TYPES = ["view", "view", "click", "cart", "view", "order"]


def train(source):
    for n in range(30):
        source_item = CatalogItem(item_id=f"i{n}", title=f"thing {n % 4} model {n}", category=["c", f"c{n % 3}"],
                                  price=10.0 + n, brand=f"b{n % 2}", complements=[f"i{(n + 1) % 30}"])
        if hasattr(source, "learn_item"):
            source.learn_item(source_item)
    for u in range(40):
        s = Session(f"u{u}")
        for pos in range(6):
            it = Interaction(f"i{(u * 7 + pos * (u % 5 + 1)) % 30}", TYPES[pos], T0 + 1000 * (u * 6 + pos))
            source.learn_one(s, it)
            s.interactions.append(it)
    return source


PROBES = [Session("p", [Interaction("i1", "view", T0), Interaction("i2", "cart", T0 + 1)]),
          Session("q", [Interaction("i7", "view", T0 + 5)]), Session("new"),
          Session("r", [Interaction("unknown", "view", T0)])]


def scores(source, k=5):
    return [[(c.item, round(c.score, 9), c.reason) for c in source.candidates(s, k)] for s in PROBES]


@pytest.fixture(params=SOURCES, ids=lambda cls: cls.__name__)
def source(request):
    return train(request.param())


def test_implements_the_protocols(source):
    assert isinstance(source, CandidateSource) and isinstance(source, Learner)
    assert source.name


def test_clone_is_untrained_with_same_hyperparameters(source):
    twin = source.clone()
    assert type(twin) is type(source) and repr(twin) == repr(source)
    if not isinstance(source, Repeat):  # repeat reads the session only
        assert scores(twin) != scores(source)
        assert all(got == [] for got in scores(twin))


def test_at_most_k_and_sorted(source):
    for k in (1, 3, 10):
        for s in PROBES:
            got = source.candidates(s, k)
            assert len(got) <= k
            assert [c.score for c in got] == sorted((c.score for c in got), reverse=True)
            assert all(c.source == source.name and c.reason for c in got)


def test_same_input_same_output(source):
    assert scores(source) == scores(source)
    assert scores(train(type(source)())) == scores(source)


def test_candidates_many_equals_candidates(source):
    many = source.candidates_many(PROBES, 5)
    assert [[(c.item, round(c.score, 9), c.reason) for c in got] for got in many] == scores(source)


def test_state_round_trip_gives_identical_scores(source):
    twin = type(source)()
    twin.load_state_dict(pickle.loads(pickle.dumps(source.state_dict())))
    assert scores(twin) == scores(source)
    assert scores(pickle.loads(pickle.dumps(source))) == scores(source)

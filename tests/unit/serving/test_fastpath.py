"""Query parsing of the bare-ASGI ``GET /recommendations`` (serving/fastpath.py)."""

from __future__ import annotations

import pytest

from serving.fastpath import BadParam, parse_query


def test_defaults_and_values():
    assert parse_query("") == (None, None, 10, False)
    assert parse_query("user=u1&item=i%2E9&k=3&details=1") == ("u1", "i.9", 3, True)
    assert parse_query("user=&item=&details=false") == (None, None, 10, False)


@pytest.mark.parametrize("query, field", [("k=0", "k"), ("k=101", "k"), ("k=x", "k"), ("k=", "k"),
                                          ("details=perhaps", "details")])
def test_bad_parameters_name_the_field(query, field):
    with pytest.raises(BadParam) as exc:
        parse_query(query)
    assert exc.value.field == field


def test_only_whole_words_shaped_like_ids_are_looked_up():
    # match() with ``$`` accepted "a\n"; a line break must never reach a Redis key
    from serving.blend import Recommendation, Recommendations
    from serving.fastpath import title_ids

    recs = Recommendations(items=(Recommendation("a", 1.0, "similar to p\n"), Recommendation("b", 0.5, "bought with c")),
                           source="user")
    assert title_ids(recs) == ["a", "b", "bought", "c", "similar", "to", "with"]
    assert title_ids(recs, limit=3) == ["a", "b", "bought"]


@pytest.mark.parametrize("query", ["user=u1%0A", "item=i9%0A", "user=a%0Ab"])
def test_a_trailing_newline_is_not_an_id(query):
    from contracts.ids import is_id

    user, item, _, _ = parse_query(query)
    assert not is_id(user or item)

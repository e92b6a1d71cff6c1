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

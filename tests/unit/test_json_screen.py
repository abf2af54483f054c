"""The JSON text screen never clears what the walk would refuse.

``json_text_clears`` lets a body skip the node-by-node walk; it may send a clean
body to the walk (a false alarm costs time), but it must never clear a body the
walk refuses, whatever the strings, numbers and nesting in it.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conveyor.api.input import decode_json
from conveyor.domain.validation import find_problem, json_text_clears
from conveyor.errors import InvalidInput

# Text rich in what the screen looks at: escapes, quotes, backslashes, brackets,
# digits, "e", NUL and surrogates.
tricky_text = st.text(
    alphabet=st.sampled_from(
        [
            *['"', "\\", "u", "0", "d", "D", "8", "f", "e", "E", "[", "]", "{", "}", "\x00"],
            *["\ud800", "\udfff", "\ud7ff", "\ue000", "a", " ", "é", "t", "9"],
        ]
    ),
    max_size=12,
)
numbers = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.integers(min_value=-(2**63) - 2, max_value=-(2**63) + 2),
    st.integers(min_value=2**63 - 2, max_value=2**63 + 2),
    st.floats(allow_nan=False, allow_infinity=False),
)
scalars = st.one_of(st.none(), st.booleans(), numbers, tricky_text)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(tricky_text, inner, max_size=4)
    ),
    max_leaves=40,
)


def _texts(value: Any) -> list[bytes]:
    """``value`` as JSON text, escaped and (when UTF-8 can hold it) raw."""
    texts = [json.dumps(value, ensure_ascii=True).encode()]
    # With a lone surrogate, only the escaped form is JSON text in UTF-8.
    with contextlib.suppress(UnicodeEncodeError):
        texts.append(json.dumps(value, ensure_ascii=False).encode("utf-8"))
    return texts


@settings(max_examples=600, deadline=None)
@given(values, st.integers(min_value=0, max_value=6))
def test_the_screen_never_clears_what_the_walk_refuses(value: Any, depth: int) -> None:
    for raw in _texts(value):
        if json_text_clears(raw, depth):
            assert find_problem(json.loads(raw), depth) is None, raw


@settings(max_examples=300, deadline=None)
@given(values)
def test_a_body_is_refused_exactly_when_the_walk_refuses_it(value: Any) -> None:
    for raw in _texts(value):
        problem = find_problem(json.loads(raw), 36)
        if problem is None:
            assert decode_json(raw) == json.loads(raw)
        else:
            with pytest.raises(InvalidInput):
                decode_json(raw)


@pytest.mark.parametrize(
    "raw",
    [
        rb'["\u0000"]',
        rb'{"\uD800": 1}',
        rb'["\udFfF"]',
        rb"[1E19]",
        rb"[1e+19]",
        rb"[-9223372036854775809]",
        rb"[9223372036854775808]",
        rb"[92233720368547758070.5]",
        rb"[[[[1]]]]",
        rb'["x\\", "\u0000"]',
    ],
)
def test_what_the_screen_must_not_clear(raw: bytes) -> None:
    assert not json_text_clears(raw, 3)


@pytest.mark.parametrize(
    "raw",
    [
        rb'{"items": [{"i": 1, "pad": ""}, {"i": 2, "pad": "[{\"]"}], "ok": true}',
        rb'["a \\\\ b", "line\nbreak", "\u00e9", 1.5, false, null]',
        rb"[[[1]]]",
        b'"\xc3\xa9"',
        rb"-12",
    ],
)
def test_what_the_screen_clears(raw: bytes) -> None:
    assert json_text_clears(raw, 3)
    assert find_problem(json.loads(raw), 3) is None

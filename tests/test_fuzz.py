"""Fuzz: generated and mutated histories in every format through the API and the CLI.

The inputs (tests/fuzzing.py) are small histories rendered as JSON Lines, Jepsen EDN or
Jepsen log lines, then damaged: flipped bytes, truncation, lines duplicated or lost,
huge numbers, deep nesting, odd unicode, fields of the wrong type. Whatever the input,
the API raises nothing but HistoryError, and the CLI prints no traceback and exits 0, 1,
2 or 3 as the API's answer says (1 only for a violation). The examples are the ci
profile's (tests/conftest.py): the same on every run. bench/fuzz_campaign.py runs the
same judge for as long as it is given.
"""

from __future__ import annotations

import random

import pytest
from fuzzing import FORMATS, describe, judge, make_input
from hypothesis import given, settings
from hypothesis import strategies as st


@pytest.mark.parametrize("fmt", FORMATS)
def test_hostile_histories_get_an_answer_or_one_line_of_bad_input(tmp_path, fmt):
    @settings(max_examples=200)
    @given(st.randoms(use_true_random=False))
    def run(rng: random.Random) -> None:
        inp = make_input(rng, fmt)
        finding = judge(inp, tmp_path / ("h" + {"jsonl": ".jsonl", "edn": ".edn"}.get(fmt, ".log")), rng)
        assert finding is None, f"{describe(inp)}\ninput: {inp.data[:2000]!r}\n{finding}"

    run()

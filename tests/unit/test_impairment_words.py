"""What a person types for an impairment in the TUI, read into the same Impairment the CLI makes."""

from __future__ import annotations

import pytest

from vtui.errors import LinkError
from vtui.net.plan import Impairment, parse_impairment


@pytest.mark.parametrize(("typed", "sides", "impairment"), [
    ("a 10mbit 50ms jitter 5ms loss 1% corrupt 0.1%", ("a",),
     Impairment(rate_kbit=10_000, delay_ms=50, jitter_ms=5, loss_pct=1, corrupt_pct=0.1)),
    ("20ms", None, Impairment(delay_ms=20)),
    ("both 1gbit", ("a", "b"), Impairment(rate_kbit=1_000_000)),
    ("b ±3ms 10ms", ("b",), Impairment(delay_ms=10, jitter_ms=3)),
    ("off", None, Impairment()),
    ("a off", ("a",), Impairment()),
    ("500kbit 1s", None, Impairment(rate_kbit=500, delay_ms=1000)),
])
def test_typed_words_become_an_impairment(typed: str, sides: tuple[str, ...] | None, impairment: Impairment) -> None:
    assert parse_impairment(typed) == (sides, impairment)


@pytest.mark.parametrize(("typed", "sentence"), [
    ("1%", "a percentage needs its name before it"),
    ("10 mbit", "'10': write a rate (10mbit)"),
    ("loss 5ms", "loss is a percentage, e.g. loss 1%"),
    ("10mbit 5mbit", "rate is given twice"),
    ("a", "say what to impair"),
    ("rm -rf /", "'rm': write a rate"),
])
def test_anything_else_is_named(typed: str, sentence: str) -> None:
    with pytest.raises(LinkError, match=sentence.replace("(", r"\(").replace(")", r"\)")):
        parse_impairment(typed)

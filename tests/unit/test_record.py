"""``ocireg.record``: the value classes behave as the dataclasses they replace (#16, start-up).

Each case builds the same class twice, with ``dataclasses.dataclass`` and with ``ocireg.record.record``, and
compares what a caller can observe: construction (positional, keyword, defaults, factories, errors), ``repr``,
equality, hashing, immutability, ``__post_init__``, ``replace`` and methods written in the class body.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest

from ocireg import record as rec


def _pair(frozen: bool) -> list[Any]:
    made: list[Any] = []
    pairs: list[tuple[Any, Any]] = [(dataclasses.dataclass, dataclasses.field), (rec._record, rec._field)]
    for decorate, field in pairs:

        class Point:
            x: int
            label: str
            weight: float = 1.0
            tags: list[str] = field(default_factory=list)
            secret: str = field(default="", repr=False, compare=False)
            note: str = field(default="", hash=False)
            seen: set[str] = field(default_factory=set, init=False, compare=False)

            def __post_init__(self) -> None:
                self.seen.add("post")

        made.append(decorate(frozen=frozen)(Point))
    return made


@pytest.mark.parametrize("frozen", [True, False])
def test_records_construct_compare_and_show_as_dataclasses(frozen: bool) -> None:
    """#16: same repr, equality, hash, defaults and factories as the dataclass."""
    dc, rc = _pair(frozen)
    for args, kwargs in (((1, "a"), {}), ((1,), {"label": "b", "weight": 2.0}), ((), {"x": 3, "label": "c"})):
        d, r = dc(*args, **kwargs), rc(*args, **kwargs)
        assert repr(d) == repr(r)
        assert vars(d) == vars(r)
    assert rc(1, "a", secret="s") == rc(1, "a", secret="t")  # compare=False
    assert rc(1, "a") != rc(2, "a")
    assert rc(1, "a").__eq__(object()) is NotImplemented
    assert rc(1, "a").tags is not rc(1, "a").tags  # a fresh list each time
    assert rc.__match_args__ == dc.__match_args__
    if frozen:
        assert hash(rc(1, "a", tags=(), secret="x", note="n")) == hash(dc(1, "a", tags=()))
        assert rc(1, "a", note="n") != rc(1, "a")
    else:
        assert rc.__hash__ is None


def test_frozen_records_refuse_assignment() -> None:
    """#16: a frozen record refuses assignment and deletion with an AttributeError, as a frozen dataclass."""
    _, rc = _pair(True)
    point = rc(1, "a")
    with pytest.raises(AttributeError, match="cannot assign to field 'x'"):
        point.x = 2
    with pytest.raises(AttributeError, match="cannot delete field 'label'"):
        del point.label


@pytest.mark.parametrize(
    "call",
    [
        lambda cls: cls(1),
        lambda cls: cls(1, "a", 1.0, [], "", "", 7),
        lambda cls: cls(1, "a", x=2),
        lambda cls: cls(1, "a", nope=2),
        lambda cls: cls(1, "a", seen=set()),
    ],
)
def test_bad_construction_is_a_type_error_as_for_dataclasses(call: Callable[[type], object]) -> None:
    """#16: missing, surplus, repeated and unknown arguments raise TypeError."""
    dc, rc = _pair(True)
    with pytest.raises(TypeError):
        call(dc)
    with pytest.raises(TypeError):
        call(rc)


def test_replace_copies_through_init() -> None:
    """#16: ``replace`` makes a new record through ``__init__`` (so ``__post_init__`` runs again)."""
    _, rc = _pair(True)
    point = rc(1, "a", tags=["t"])
    moved: Any = rec._replace(point, x=5)
    assert (moved.x, moved.label, moved.tags, moved.seen) == (5, "a", ["t"], {"post"})
    with pytest.raises(ValueError, match="init=False"):
        rec._replace(point, seen=set())


def test_methods_written_in_the_class_are_kept_and_misuse_is_refused() -> None:
    """#16: a hand-written ``__repr__`` wins; a required field after a defaulted one and inheritance are refused."""

    class Shown:
        name: str

        def __repr__(self) -> str:
            return "<hidden>"

    decorate: Any = rec._record(frozen=True)
    assert repr(decorate(Shown)("x")) == "<hidden>"

    class Bad:
        a: int = 0
        b: int

    with pytest.raises(TypeError, match="without a default"):
        rec._record(Bad)

    base: Any = rec._record(type("Base", (), {"__annotations__": {"a": "int"}}))
    with pytest.raises(TypeError, match="inherit"):
        rec._record(type("Child", (base,), {"__annotations__": {"b": "int"}}))

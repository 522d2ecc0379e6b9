"""``Quantity.count``: the one way the provider suites state "how many problems" (compared as a number, shown as
the problems themselves)."""

from __future__ import annotations

from pytest_authcheck._expect import AtMost, Quantity, matches, shown


def test_a_count_compares_as_its_number_and_shows_its_items() -> None:
    none = Quantity.count([], "3 key(s), none weak")
    assert none == Quantity(0, "3 key(s), none weak")
    assert matches(AtMost(0, "no weak key"), none)

    two = Quantity.count(["kid a: 1024 bits", "kid b: 512 bits"], "unused")
    assert two.value == 2 and shown(two) == "kid a: 1024 bits; kid b: 512 bits"
    assert not matches(AtMost(0, "no weak key"), two)

    many = Quantity.count([f"problem {n}" for n in range(12)], "unused")
    assert many.value == 12
    assert shown(many) == "; ".join(f"problem {n}" for n in range(10)) + " [...]"
    assert shown(Quantity.count(list("abc"), "unused", shown=2)) == "a; b [...]"

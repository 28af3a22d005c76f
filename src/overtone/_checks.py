"""Argument checks shared by every component: each raises ``ValueError`` naming the bad value
and what is allowed (``dt must be a finite number > 0, got -1``)."""

from __future__ import annotations

import math
import numbers


def is_number(value: object) -> bool:
    """A real number that is not a bool (``True`` is an ``int`` to Python, not to a config)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def is_finite(value: object) -> bool:
    return is_number(value) and math.isfinite(value)


def positive_int(name: str, value: object) -> int:
    """``value`` as an ``int >= 1``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def finite(name: str, value: object, low: float | None = None, *, strict: bool = False) -> float:
    """``value`` as a finite float, ``>= low`` (``> low`` when ``strict``) if ``low`` is given."""
    ok = is_finite(value) and (low is None or (value > low if strict else value >= low))
    if not ok:
        bound = "" if low is None else f" {'>' if strict else '>='} {low:g}"
        raise ValueError(f"{name} must be a finite number{bound}, got {value!r}")
    return float(value)


def in_interval(
    name: str, value: object, low: float, high: float, *, closed: str = "[]", what: str = "a number"
) -> float:
    """``value`` as a float in the interval ``low..high``; ``closed`` is two of ``[](`` ``)``:
    ``"[)"`` allows ``low`` but not ``high``."""
    if len(closed) != 2 or closed[0] not in "[(" or closed[1] not in "])":
        raise ValueError(f"closed must be two brackets such as '[)', got {closed!r}")
    ok = is_number(value) and (value >= low if closed[0] == "[" else value > low)
    ok = ok and (value <= high if closed[1] == "]" else value < high)
    if not ok:
        raise ValueError(
            f"{name} must be {what} in {closed[0]}{low:g}, {high:g}{closed[1]}, got {value!r}"
        )
    return float(value)

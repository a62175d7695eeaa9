"""Points → a Moodle grade: scaled to the grade item's maximum, formatted like the site.

A notebook's raw points (say 17 of 20) rarely equal the Moodle assignment's maximum (often
100): the grade is ``points × maximum / total``, rounded half-up to the site's decimals,
never below 0 and never above the maximum (Moodle silently skips a row whose grade is
above it). Sites write grades with their decimal separator (``85.00`` or ``85,00``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal

_NUMBER = re.compile(r"^\s*'?(?P<int>\d+)(?:(?P<sep>[.,])(?P<frac>\d+))?\s*$")


@dataclass(frozen=True)
class GradeFormat:
    decimals: int = 2
    separator: str = "."

    def format(self, value: Decimal) -> str:
        text = f"{value.quantize(self.quantum, rounding=ROUND_HALF_UP):f}"
        return text.replace(".", self.separator)

    @property
    def quantum(self) -> Decimal:
        return Decimal(1).scaleb(-self.decimals)


def parse_grade(text: str) -> Decimal | None:
    """A grade cell as a number (``85.00``, ``85,00``, ``100``); ``None`` when not a number."""
    found = _NUMBER.match(text)
    if found is None:
        return None
    return Decimal(f"{found['int']}.{found['frac'] or '0'}")


def detect_format(samples: Iterable[str], default: GradeFormat | None = None) -> GradeFormat:
    """The format used by the first numeric cell among ``samples``."""
    for text in samples:
        found = _NUMBER.match(text)
        if found is not None:
            frac = found["frac"] or ""
            return GradeFormat(decimals=len(frac), separator=found["sep"] or ".")
    return default or GradeFormat()


@dataclass(frozen=True)
class Scaled:
    value: Decimal
    clamped: bool     # the raw ratio was outside [0, 1]


def scale(score: float, max_score: float, maximum: Decimal, fmt: GradeFormat) -> Scaled:
    """``score`` of ``max_score`` points as a grade out of ``maximum``, rounded per ``fmt``."""
    if max_score <= 0:
        raise ValueError(f"the assignment's total points must be positive, got {max_score}")
    exact = Decimal(str(score)) * maximum / Decimal(str(max_score))
    value = exact.quantize(fmt.quantum, rounding=ROUND_HALF_UP)
    clamped = exact < 0 or exact > maximum
    # Never above the maximum, even by rounding: Moodle would skip the row.
    value = min(max(value, Decimal(0)), _floor_to(maximum, fmt))
    return Scaled(value.quantize(fmt.quantum), clamped)


def _floor_to(value: Decimal, fmt: GradeFormat) -> Decimal:
    return value.quantize(fmt.quantum, rounding=ROUND_FLOOR)

"""Money as integer fen (0.01 CNY), and the one rounding rule.

Invariants:
- every amount the ledger stores or adds is an ``int`` in fen; names end in ``_fen``;
- floats never touch money: rates are ``Decimal`` built from strings, products are exact;
- the one rounding rule is half up (away from zero for halves), applied in ``round_half_up``;
- a split is exact: the personal share is rounded, the pooling share is the rest, so the
  parts always add back to the whole.
"""

from __future__ import annotations

import re
from decimal import Decimal
from fractions import Fraction

from ledger.domain.errors import InvalidAmount

FEN_PER_YUAN = 100

_YUAN = re.compile(r"^(?P<sign>[-+]?)(?P<whole>\d{1,15})(?:\.(?P<frac>\d{1,2}))?$")


def parse_yuan(text: str, field: str = "amount") -> int:
    """Parse a yuan string (``"1432.40"``, ``"7162"``, ``"-0.5"``) into fen.

    Commas between thousands and a leading ``¥`` are accepted; more than two decimal
    places are refused rather than rounded, since silently dropping fen is a loss.
    """
    if not isinstance(text, str):
        raise InvalidAmount(field, f"expected a yuan string, got {type(text).__name__}")
    cleaned = text.strip().replace(",", "").removeprefix("¥").removeprefix("￥")
    match = _YUAN.match(cleaned)
    if match is None:
        raise InvalidAmount(field, f"{text!r} is not a yuan amount with at most two decimal places")
    fen = int(match["whole"]) * FEN_PER_YUAN + int((match["frac"] or "").ljust(2, "0"))
    return -fen if match["sign"] == "-" else fen


def format_yuan(amount_fen: int) -> str:
    """Format fen as a yuan string with exactly two places: ``143240`` → ``"1432.40"``."""
    if not isinstance(amount_fen, int) or isinstance(amount_fen, bool):
        raise TypeError(f"amount_fen must be int, got {type(amount_fen).__name__}")
    sign = "-" if amount_fen < 0 else ""
    whole, frac = divmod(abs(amount_fen), FEN_PER_YUAN)
    return f"{sign}{whole}.{frac:02d}"


def round_half_up(value: Decimal | Fraction | int, unit_fen: int = 1) -> int:
    """Round an exact amount in fen to a multiple of ``unit_fen``, halves away from zero.

    This is the ledger's one rounding rule. ``unit_fen=1`` rounds to the fen (every
    contribution and interest amount); ``unit_fen=100`` rounds to the whole yuan, which
    is how published bases are derived from average wages (11,937 × 60% = 7,162.2 → 7,162).
    Integer arithmetic on the exact ratio: no precision to run out of, however long the
    fraction.
    """
    if isinstance(value, float):
        raise TypeError("floats never touch money: pass a Decimal, Fraction or int")
    if unit_fen <= 0:
        raise ValueError("unit_fen must be positive")
    if isinstance(value, int):
        numerator, denominator = value, unit_fen
    elif not isinstance(value, Decimal | Fraction):
        raise TypeError(f"pass a Decimal, Fraction or int, got {type(value).__name__}")
    else:
        numerator, denominator = value.as_integer_ratio()
        denominator *= unit_fen
    return _nearest(numerator, denominator) * unit_fen


def _nearest(numerator: int, denominator: int) -> int:
    """``numerator / denominator`` (denominator > 0) to the nearest integer, halves away
    from zero."""
    units, rest = divmod(abs(numerator), denominator)
    if 2 * rest >= denominator:
        units += 1
    return units if numerator >= 0 else -units


def apply_rate(amount_fen: int, rate: Decimal | Fraction) -> int:
    """``amount_fen × rate``, rounded to the fen by the one rule."""
    if isinstance(rate, float):
        raise TypeError("floats never touch money: pass the rate as a Decimal or Fraction")
    numerator, denominator = rate.as_integer_ratio()
    return _nearest(amount_fen * numerator, denominator)


def split(total_fen: int, personal_fen: int) -> tuple[int, int]:
    """Split a total into (personal, pooling) where pooling is whatever personal leaves.

    The personal share is computed and rounded by the caller (usually ``apply_rate`` on the
    base); the pooling share is the remainder, so ``personal + pooling == total`` always.
    """
    if abs(personal_fen) > abs(total_fen) or (total_fen and personal_fen * total_fen < 0):
        raise ValueError(f"personal share {personal_fen} does not fit in total {total_fen}")
    return personal_fen, total_fen - personal_fen


def parse_rate(text: str | int, field: str = "rate") -> Decimal:
    """Parse a rate written as a decimal fraction (``"0.20"``) or percent (``"20%"``)."""
    raw = str(text).strip()
    try:
        value = Decimal(raw[:-1]) / 100 if raw.endswith("%") else Decimal(raw)
    except ArithmeticError as exc:
        raise InvalidAmount(field, f"{text!r} is not a rate") from exc
    if not value.is_finite():
        raise InvalidAmount(field, f"{text!r} is not a finite rate")
    return value

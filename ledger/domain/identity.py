"""Citizen ID numbers (公民身份号码, GB 11643-1999) and their GB/T 2260 region codes.

The social security number **is** the citizen ID number (Social Insurance Law Art. 58), so
every member record starts here. Invariants of a ``CitizenId`` (DOMAIN.md §1):

- It exists only for text that passed every rule below, checked in this order, each refusal
  an ``InvalidCitizenId(field, rule)`` naming its rule: surrounding whitespace stripped;
  length 18 (or 15 for a legacy number); characters (17 ASCII digits then a digit or X, or
  15 ASCII digits); region (the province, then the whole 6-digit code, is in the shipped
  list); birth date (a real date, from 1900-01-01 to ``today``); check character.
- ``number`` is always 18 characters: 17 digits and the ISO 7064 MOD 11-2 check character,
  ``X`` upper-case. A 15-digit legacy number (region, YYMMDD of the 1900s, sequence) is
  upgraded by inserting ``19`` and computing the check character; ``upgraded_from`` keeps it.
- ``sex`` follows the 3-digit sequence: odd is male, even is female.
- ``region_code`` is one that GB/T 2260 listed in some revision from 1980 to 2024, not only
  today's: an ID keeps the code that was valid when it was issued, and codes change yearly.
  The list is ``ledger/data/regions.tsv`` (every province, prefecture and county code); its
  header says where it came from.

Pure: standard library only; the one read is the packaged region list, loaded once on first
use and cached.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from functools import lru_cache
from pathlib import Path

from ledger.domain.errors import InvalidCitizenId

_REGIONS_PATH = Path(__file__).parent / "data" / "regions.tsv"

# ISO 7064 MOD 11-2: the weight of position i (1-based, left to right) is 2**(18 - i) mod 11.
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
# Indexed by the weighted sum mod 11: the character that brings the full sum to 1 mod 11.
_CHECK_CHARACTERS = "10X98765432"
_EARLIEST_BIRTH = date(1900, 1, 1)

# [0-9], never \d: \d also matches full-width and other Unicode digits, which no ID contains.
_FIRST17 = re.compile(r"[0-9]{17}")
_MODERN = re.compile(r"[0-9]{17}[0-9Xx]")
_LEGACY = re.compile(r"[0-9]{15}")


class Sex(StrEnum):
    """Sex as encoded by the parity of the sequence number."""

    MALE = "male"
    FEMALE = "female"


@dataclass(frozen=True, slots=True)
class CitizenId:
    """A citizen ID number that passed every rule of GB 11643-1999; build with ``parse_citizen_id``.

    ``number`` is the normalised 18-character form; ``upgraded_from`` the 15-digit legacy
    number it was upgraded from, or None.
    """

    number: str
    region_code: str
    birth_date: date
    sequence: int
    sex: Sex
    upgraded_from: str | None = None

    @property
    def region_name(self) -> str | None:
        """The Chinese name of the region code (latest name the list knows), or None."""
        return _region_names().get(self.region_code)

    def __str__(self) -> str:
        return self.number


@lru_cache(maxsize=1)
def _region_names() -> dict[str, str]:
    """Read ``regions.tsv`` once: code -> Chinese name. Comment and header lines are skipped."""
    names: dict[str, str] = {}
    with _REGIONS_PATH.open(encoding="utf-8") as lines:
        for line in lines:
            if line.startswith("#") or line.startswith("code\t") or not line.strip():
                continue
            code, name_zh, *_english = line.rstrip("\n").split("\t")
            names[code] = name_zh
    return names


def region_name(code: str) -> str | None:
    """The Chinese name of a 6-digit GB/T 2260 code, or None when the list does not know it."""
    return _region_names().get(code)


def is_known_region(code: str) -> bool:
    """True when the 6-digit code is in the shipped GB/T 2260 list (any revision since 1980)."""
    return code in _region_names()


def check_character(first17: str) -> str:
    """The ISO 7064 MOD 11-2 check character ("0"-"9" or "X") for the first 17 digits."""
    if not _FIRST17.fullmatch(first17):
        raise InvalidCitizenId("id", "the check character needs exactly 17 digits")
    total = sum(int(digit) * weight for digit, weight in zip(first17, _WEIGHTS, strict=True))
    return _CHECK_CHARACTERS[total % 11]


def parse_citizen_id(text: str, today: date | None = None, field: str = "id") -> CitizenId:
    """Validate and normalise a citizen ID number (18 characters, or a 15-digit legacy one).

    ``today`` bounds the birth date (default: the system date); ``field`` names the input in
    errors. Raises ``InvalidCitizenId`` naming the first rule broken, in the module's order.
    """
    if not isinstance(text, str):
        raise InvalidCitizenId(field, "must be text")
    candidate = text.strip()
    if len(candidate) not in (18, 15):
        raise InvalidCitizenId(
            field, f"must be 18 characters (or 15 for a legacy number), got {len(candidate)}"
        )
    legacy = len(candidate) == 15
    if legacy:
        if not _LEGACY.fullmatch(candidate):
            raise InvalidCitizenId(field, "a 15-character legacy number must be all digits")
        first17 = candidate[:6] + "19" + candidate[6:]
    else:
        if not _MODERN.fullmatch(candidate):
            raise InvalidCitizenId(field, "must be 17 digits followed by a digit or X")
        candidate = candidate.upper()  # safe now: only the last character can be a letter
        first17 = candidate[:17]

    region_code = first17[:6]
    if not is_known_region(region_code[:2] + "0000"):
        raise InvalidCitizenId(field, f"unknown province code {region_code[:2]}")
    if not is_known_region(region_code):
        raise InvalidCitizenId(field, f"unknown region code {region_code}")

    birth_date = _birth_date(first17[6:14], today or date.today(), field)

    expected = check_character(first17)
    if not legacy and candidate[17] != expected:
        raise InvalidCitizenId(field, f"check character is {candidate[17]}, expected {expected}")

    sequence = int(first17[14:17])
    return CitizenId(
        number=first17 + expected,
        region_code=region_code,
        birth_date=birth_date,
        sequence=sequence,
        sex=Sex.MALE if sequence % 2 else Sex.FEMALE,
        upgraded_from=candidate if legacy else None,
    )


def _birth_date(yyyymmdd: str, today: date, field: str) -> date:
    """The birth date from its 8 digits: real, not before 1900-01-01 and not after today."""
    try:
        born = date(int(yyyymmdd[:4]), int(yyyymmdd[4:6]), int(yyyymmdd[6:]))
    except ValueError:
        raise InvalidCitizenId(field, f"birth date {yyyymmdd} is not a real date") from None
    if born > today:
        raise InvalidCitizenId(field, f"birth date {born.isoformat()} is after today {today}")
    if born < _EARLIEST_BIRTH:
        raise InvalidCitizenId(field, f"birth date {born.isoformat()} is before 1900-01-01")
    return born

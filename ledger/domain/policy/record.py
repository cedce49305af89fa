"""What every policy record carries, and how its values are read from a file.

A record is in force from ``effective`` on, known from ``published`` on, taken from
``source``; ``status`` says whether the figure is ``official``, ``derived`` (``note`` says
how), ``provisional`` or ``unverified`` (``note`` says what to verify). Money is written in
yuan as strings under keys ending ``_yuan`` and held in fen under the same name ending
``_fen``; rates are strings held as ``Decimal``; a float is refused.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from ledger.domain.money import parse_rate, parse_yuan


def _rate(value: Any) -> Decimal:
    if isinstance(value, float):
        raise ValueError('write rates as strings ("0.20"), not floats')
    if isinstance(value, Decimal):
        return value
    rate = parse_rate(value)
    if not Decimal(0) <= rate <= Decimal(1):
        raise ValueError(f"rate {value!r} must lie between 0 and 1")
    return rate


Rate = Annotated[Decimal, BeforeValidator(_rate)]


class Record(BaseModel):
    """What every record carries: when it is in force, when it was known, where it is from."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    path: ClassVar[str] = ""
    scope: ClassVar[Literal["region", "national", "both"]] = "both"

    effective: date
    published: date | None = None
    source: str = Field(min_length=3)
    status: Literal["official", "derived", "provisional", "unverified"] = "official"
    note: str | None = None
    variant: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _yuan_to_fen(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        converted: dict[str, Any] = {}
        for key, value in data.items():
            if isinstance(value, float):
                raise ValueError(f"{key}: write money and rates as strings, not floats")
            if key.endswith("_yuan"):
                name = key.removesuffix("_yuan") + "_fen"
                if isinstance(value, list):
                    converted[name] = [parse_yuan(str(v), key) for v in value]
                else:
                    converted[name] = parse_yuan(str(value), key)
            else:
                converted[key] = value
        return converted

    @model_validator(mode="after")
    def _derived_says_how(self) -> Record:
        if self.status == "derived" and not self.note:
            raise ValueError("a derived figure needs a note saying how it was derived")
        if self.status == "unverified" and not self.note:
            raise ValueError("an unverified figure needs a note saying what to verify")
        if self.published is not None and self.published < date(1990, 1, 1):
            raise ValueError("published date is implausibly early")
        return self

    @property
    def known_from(self) -> date:
        """The first day the ledger could have known this record."""
        return self.published or self.effective

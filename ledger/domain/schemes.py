"""The four schemes a flexible employee can pay into (DOMAIN.md §1)."""

from __future__ import annotations

from enum import StrEnum

from ledger.domain.errors import UnknownScheme


class Scheme(StrEnum):
    """Employee pension and medical (as a flexible employee), and the residents' two."""

    PENSION = "pension"
    MEDICAL = "medical"
    RESIDENT_PENSION = "resident-pension"
    RESIDENT_MEDICAL = "resident-medical"

    @classmethod
    def parse(cls, text: str, field: str = "scheme") -> Scheme:
        try:
            return cls(text)
        except ValueError:
            names = ", ".join(s.value for s in cls)
            raise UnknownScheme(field, f"{text!r} is not a scheme ({names})") from None

    @property
    def is_resident(self) -> bool:
        return self in (Scheme.RESIDENT_PENSION, Scheme.RESIDENT_MEDICAL)

    @property
    def is_yearly(self) -> bool:
        """Residents' schemes are paid once a year; employee schemes by the month."""
        return self.is_resident

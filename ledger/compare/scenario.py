"""The assumptions of ``flexledger compare``: defaults with sources, overridable by a file.

The defaults are ``data/compare.toml``; every figure there carries its source and a status
(``official``, ``derived``, ``provisional``, ``unverified``), printed with every result.
A scenario file given with ``--scenario`` overrides tables key by key; a figure it changes
without giving a source is shown as coming from that file, status ``unverified``.

Rates and probabilities are ``Decimal``, written as strings; a float is refused, as in the
policy files. Reading the file is the one I/O here (``load``); the models are pure.
"""

from __future__ import annotations

import tomllib
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from ledger.domain.errors import BadInput

DEFAULTS = Path(__file__).parent / "data" / "compare.toml"

Status = Literal["official", "derived", "provisional", "unverified"]


def _decimal(value: Any) -> Decimal:
    if isinstance(value, float):
        raise ValueError('write figures as strings ("0.05"), not floats')
    result = Decimal(str(value).strip())
    if not result.is_finite():
        raise ValueError(f"{value!r} is not a finite number")
    return result


Exact = Annotated[Decimal, BeforeValidator(_decimal)]


class _Sourced(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    status: Status
    source: str = Field(min_length=3)
    note: str | None = None


class Rate(_Sourced):
    """A yearly rate between -50% and 100%."""

    value: Exact

    @model_validator(mode="after")
    def _plausible(self) -> Rate:
        if not Decimal("-0.5") <= self.value <= Decimal(1):
            raise ValueError(f"value {self.value} is not a yearly rate between -0.5 and 1")
        return self


class Index(_Sourced):
    """A contribution index (base ÷ average wage), 0.6 to 3 in law."""

    value: Exact

    @model_validator(mode="after")
    def _plausible(self) -> Index:
        if not Decimal("0.1") <= self.value <= Decimal(3):
            raise ValueError(f"value {self.value} is not an index between 0.1 and 3")
        return self


class BaseRange(_Sourced):
    floor_percent: Exact
    ceiling_percent: Exact

    @model_validator(mode="after")
    def _ordered(self) -> BaseRange:
        if not Decimal(0) < self.floor_percent <= self.ceiling_percent <= Decimal(1000):
            raise ValueError("floor_percent must be above 0 and not above ceiling_percent")
        return self


class AwayFromHukou(_Sourced):
    value: Literal["agency", "direct", "both"]


class LifeTable(_Sourced):
    """Mortality after the present age.

    ``policy`` (the default): the dated ``mortality.life_table`` of the policy files, the
    one the simulation's deaths use too (resolved into a ``table`` by
    ``projection.context``, with the record's status and source);
    ``gompertz``: force of mortality μ(x) = a·e^(b·x) (``male_a``, ``female_a``, ``b``);
    ``table``: one-year death probabilities q(x) from ``from_age`` on (``male_qx``,
    ``female_qx``), the last one repeated up to ``max_age``. Nobody outlives ``max_age``.
    """

    model: Literal["policy", "gompertz", "table"]
    max_age: int = Field(default=110, ge=60, le=130)
    male_a: Exact | None = None
    female_a: Exact | None = None
    b: Exact | None = None
    from_age: int = Field(default=0, ge=0, le=120)
    male_qx: list[Exact] | None = None
    female_qx: list[Exact] | None = None

    @model_validator(mode="after")
    def _has_its_figures(self) -> LifeTable:
        if self.model == "policy":
            return self
        if self.model == "gompertz":
            figures = (self.male_a, self.female_a, self.b)
            if any(v is None or v <= 0 for v in figures):
                raise ValueError("gompertz needs positive male_a, female_a and b")
        else:
            for name in ("male_qx", "female_qx"):
                qx = getattr(self, name)
                if not qx or any(not Decimal(0) <= q <= Decimal(1) for q in qx):
                    raise ValueError(f"{name}: give probabilities between 0 and 1")
        return self


class CompareScenario(BaseModel):
    """Every assumption of a comparison."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    wage_growth: Rate
    interest: Rate
    discount_rate: Rate
    pension_increase: Rate
    prior_index: Index
    base_range: BaseRange
    away_from_hukou: AwayFromHukou
    life_table: LifeTable

    @classmethod
    def load(cls, path: Path | str | None = None) -> CompareScenario:
        """The defaults, overridden by the tables of ``path`` if given; errors name the key."""
        defaults = _read(DEFAULTS, "scenario")
        if path is not None:
            for table, given in _read(Path(path), "scenario").items():
                if not isinstance(given, dict) or table not in defaults:
                    raise BadInput(
                        "scenario",
                        f"{path}: {table}: not an assumption table ({', '.join(defaults)})",
                    )
                merged = defaults[table] | given
                changed = {k for k, v in given.items() if defaults[table].get(k) != v}
                if changed - {"source", "status", "note"} and "source" not in given:
                    merged |= {
                        "source": f"{path}",
                        "status": "unverified",
                        "note": f"given in {path}",
                    }
                defaults[table] = merged
        try:
            return cls.model_validate(defaults)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise BadInput("scenario", f"{path or DEFAULTS}: {where}: {first['msg']}") from None

    def with_policy_life_table(self, record: Any) -> CompareScenario:
        """This scenario with a ``policy`` life table replaced by ``record``'s q(x)
        (a ``mortality.life_table`` policy record), carrying its status and source."""
        if self.life_table.model != "policy":
            return self
        table = LifeTable(
            model="table",
            from_age=record.from_age,
            max_age=record.max_age,
            male_qx=list(record.male_qx),
            female_qx=list(record.female_qx),
            status=record.status,
            note=record.note,
            source=f"ledger/domain/policy/data/national.toml mortality.life_table "
            f"({record.effective}): {record.source}",
        )
        return self.model_copy(update={"life_table": table})

    def rows(self) -> list[dict[str, str]]:
        """Each assumption as printed with a result: name, value, status, source, note."""
        found = []
        for name in type(self).model_fields:
            item = getattr(self, name)
            if isinstance(item, BaseRange):
                value = f"{item.floor_percent}% to {item.ceiling_percent}%"
            elif isinstance(item, LifeTable):
                value = {
                    "gompertz": f"gompertz a={item.male_a} (men), {item.female_a} (women), "
                    f"b={item.b}",
                    "table": f"table of q(x) from age {item.from_age}",
                    "policy": "the policy's mortality.life_table",
                }[item.model] + f", max age {item.max_age}"
            else:
                value = str(item.value)
            found.append(
                {
                    "name": name,
                    "value": value,
                    "status": item.status,
                    "source": item.source,
                    "note": item.note or "",
                }
            )
        return found


def _read(path: Path, field: str) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise BadInput(field, f"{path}: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise BadInput(field, f"{path}: {exc}") from None

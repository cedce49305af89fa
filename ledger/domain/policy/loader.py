"""Loading and querying the policy files; see ``ledger.domain.policy`` for the time axes.

Every check that can be made at load is made at load: unknown keys, unknown paths, values
of the wrong type or out of range, records that contradict each other (two with the same
effective and published dates for one path and variant). The error names the file, the
key and the problem.
"""

from __future__ import annotations

import tomllib
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

from pydantic import ValidationError

from ledger.domain.errors import NoPolicyInForce, PolicyFileError, UnknownRegion
from ledger.domain.policy.record import Record
from ledger.domain.policy.records import RECORD_TYPES

DATA_DIR = Path(__file__).parent / "data"
NATIONAL = "national"

R = TypeVar("R", bound=Record)


@dataclass(frozen=True)
class Region:
    """A region the policy files describe; ``code`` is its GB/T 2260 code."""

    code: str
    name: str
    name_zh: str
    province: str
    file: str


@dataclass
class PolicySet:
    """All policy records, by scope (a region code or ``national``) and path."""

    regions: dict[str, Region] = field(default_factory=dict)
    records: dict[str, dict[str, list[Record]]] = field(default_factory=dict)
    # Answers of ``at``, by its arguments: batches ask the same question for every member.
    # Records are not changed once loaded (a variant is a new PolicySet), so an answer
    # stays right; the memo is emptied when it holds MEMO_SIZE answers.
    _memo: dict[tuple[object, ...], Record] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    MEMO_SIZE = 100_000

    def region(self, code: str) -> Region:
        try:
            return self.regions[code]
        except KeyError:
            known = ", ".join(sorted(self.regions))
            raise UnknownRegion("region", f"{code!r} is not a known region ({known})") from None

    def history(self, path: str, region: str | None = None) -> list[Record]:
        """Every record for ``path`` that answers for ``region`` (its own, else national)."""
        if region is not None:
            self.region(region)
            own = self.records.get(region, {}).get(path)
            if own:
                return own
        return self.records.get(NATIONAL, {}).get(path, [])

    def at(
        self,
        kind: type[R],
        on: date,
        region: str | None = None,
        known_at: datetime | date | None = None,
        variant: str | None = None,
    ) -> R:
        """The record of ``kind`` in force on ``on`` as known at ``known_at``.

        ``known_at=None`` means as known now, with everything in the files. A ``variant``
        prefers records of that variant and falls back to the default ones.
        """
        known = known_at.date() if isinstance(known_at, datetime) else known_at
        key = (kind, on, region, known, variant)
        found = self._memo.get(key)
        if found is None:
            if len(self._memo) >= self.MEMO_SIZE:
                self._memo.clear()
            found = self._memo[key] = self._at(kind, on, region, known, variant)
        return found  # type: ignore[return-value]

    def _at(
        self, kind: type[R], on: date, region: str | None, known: date | None, variant: str | None
    ) -> R:
        candidates = [
            r
            for r in self.history(kind.path, region)
            if r.effective <= on and (known is None or r.known_from <= known)
        ]
        chosen = [r for r in candidates if r.variant == variant] if variant else []
        chosen = chosen or [r for r in candidates if r.variant is None]
        if not chosen:
            where = f" in {region}" if region else ""
            when = f" as known at {known}" if known else ""
            raise NoPolicyInForce(kind.path, f"no figure in force on {on}{where}{when}")
        best = max(chosen, key=lambda r: (r.effective, r.known_from))
        assert isinstance(best, kind)
        return best


def _parse_records(path: Path, scope: str, tree: dict[str, Any]) -> dict[str, list[Record]]:
    found: dict[str, list[Record]] = defaultdict(list)

    def walk(prefix: str, node: dict[str, Any]) -> None:
        for key, value in node.items():
            dotted = f"{prefix}.{key}" if prefix else key
            if isinstance(value, dict):
                walk(dotted, value)
            elif isinstance(value, list) and all(isinstance(v, dict) for v in value):
                kind = RECORD_TYPES.get(dotted)
                if kind is None:
                    raise PolicyFileError(str(path), dotted, "no such policy parameter")
                if kind.scope not in ("both", "national" if scope == NATIONAL else "region"):
                    raise PolicyFileError(str(path), dotted, f"belongs in {kind.scope} files only")
                for index, raw in enumerate(value):
                    try:
                        found[dotted].append(kind.model_validate(raw))
                    except ValidationError as exc:
                        first = exc.errors()[0]
                        loc = ".".join(str(p) for p in first["loc"])
                        key_name = f"{dotted}[{index}]" + (f".{loc}" if loc else "")
                        raise PolicyFileError(str(path), key_name, first["msg"]) from None
            else:
                raise PolicyFileError(str(path), dotted, "expected a table or array of tables")

    walk("", tree)
    for dotted, records in found.items():
        seen: dict[tuple[date, date, str | None], int] = {}
        for index, record in enumerate(records):
            key = (record.effective, record.known_from, record.variant)
            if key in seen:
                raise PolicyFileError(
                    str(path),
                    f"{dotted}[{index}]",
                    f"contradicts {dotted}[{seen[key]}]: same effective and published dates",
                )
            seen[key] = index
    return dict(found)


def _load_file(path: Path) -> tuple[Region | None, dict[str, list[Record]]]:
    try:
        tree = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise PolicyFileError(str(path), "(syntax)", str(exc)) from None
    meta = tree.pop("region", None)
    if path.stem == NATIONAL:
        if meta is not None:
            raise PolicyFileError(str(path), "region", "the national file describes no region")
        return None, _parse_records(path, NATIONAL, tree)
    if not isinstance(meta, dict):
        raise PolicyFileError(str(path), "region", "missing [region] table")
    for key in ("code", "name", "name_zh", "province"):
        if not isinstance(meta.get(key), str):
            raise PolicyFileError(str(path), f"region.{key}", "required string")
    if meta["code"] != path.stem:
        raise PolicyFileError(
            str(path), "region.code", f"{meta['code']!r} differs from the file name"
        )
    extra = set(meta) - {"code", "name", "name_zh", "province"}
    if extra:
        raise PolicyFileError(str(path), f"region.{sorted(extra)[0]}", "unknown key")
    region = Region(meta["code"], meta["name"], meta["name_zh"], meta["province"], str(path))
    return region, _parse_records(path, meta["code"], tree)


def load_policy(directory: Path | str = DATA_DIR) -> PolicySet:
    """Load and check every ``*.toml`` file in ``directory``."""
    policy = PolicySet()
    for path in sorted(Path(directory).glob("*.toml")):
        region, records = _load_file(path)
        if region is None:
            policy.records[NATIONAL] = records
        else:
            policy.regions[region.code] = region
            policy.records[region.code] = records
    if NATIONAL not in policy.records:
        raise PolicyFileError(str(directory), "national.toml", "missing national file")
    return policy


@lru_cache(maxsize=1)
def default_policy() -> PolicySet:
    """The policy shipped with the package, loaded once per process."""
    return load_policy(DATA_DIR)

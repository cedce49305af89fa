"""Bulk registration and enrolment from CSV: every row checked, then all written or none.

Header: ``id,region,scheme,base_percent,from,method[,agency]``. Every bad row is reported
with its line number and the rule it breaks; if any row is bad nothing is written.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Connection, insert, select

from ledger.errors import BadInput, LedgerError
from ledger.identity import parse_citizen_id
from ledger.operations import enrolment_index
from ledger.period import Month
from ledger.rules.contribution import BaseChoice, assess
from ledger.schemes import Scheme
from ledger.services import Ledger, _check_enrolment
from ledger.store.tables import enrolments, members

REQUIRED = ("id", "region", "scheme", "base_percent", "from", "method")
OPTIONAL = ("agency",)


class ImportRejected(BadInput):
    """Raised when any row of an import file is bad; lists every bad row by line number."""

    def __init__(self, path: str, problems: list[str]) -> None:
        self.problems = problems
        shown = "\n".join(problems[:50])
        more = f"\n… and {len(problems) - 50} more" if len(problems) > 50 else ""
        super().__init__(
            "file", f"{path}: {len(problems)} bad row(s), nothing written\n{shown}{more}"
        )


@dataclass(frozen=True, slots=True)
class ImportResult:
    members: int
    enrolments: int
    already_registered: int


def import_members(ledger: Ledger, conn: Connection, path: Path | str) -> ImportResult:
    """Register and enrol every row of ``path`` in the caller's transaction, or nothing."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise BadInput("file", f"{path}: {exc.strerror}") from None
    reader = csv.DictReader(text.splitlines())
    header = reader.fieldnames or []
    missing = [c for c in REQUIRED if c not in header]
    unknown = [c for c in header if c not in REQUIRED + OPTIONAL]
    if missing or unknown:
        raise ImportRejected(
            str(path),
            [f"line 1: header must be {','.join(REQUIRED)}[,agency]"
             + (f"; missing {', '.join(missing)}" if missing else "")
             + (f"; unknown {', '.join(unknown)}" if unknown else "")],
        )  # fmt: skip
    return _write(ledger, conn, str(path), _check_rows(ledger, reader))


def _check_rows(ledger: Ledger, rows: Iterable[dict[str, str]]) -> list[tuple[int, dict]]:
    today = ledger.clock.now().date()
    good: list[tuple[int, dict]] = []
    problems: list[str] = []
    seen: dict[tuple[str, str], int] = {}
    for line, row in enumerate(rows, start=2):
        try:
            citizen = parse_citizen_id(row["id"] or "", today=today)
            region = (row["region"] or "").strip()
            ledger.policy.region(region)
            scheme = Scheme.parse((row["scheme"] or "").strip())
            first = Month.parse(row["from"] or "", "from")
            method = (row["method"] or "").strip()
            agency = (row.get("agency") or "").strip() or None
            _check_enrolment(method, agency, first, None)
            percent = (row["base_percent"] or "").strip()
            choice = BaseChoice.of(percent=percent) if percent else BaseChoice()
            assess(ledger.policy, region, scheme, first, choice)
            key = (citizen.number, scheme.value)
            if key in seen:
                raise BadInput(
                    "id", f"{citizen.number} is enrolled in {scheme} on line {seen[key]} too"
                )
            seen[key] = line
        except LedgerError as exc:
            problems.append(f"line {line}: {exc}")
            continue
        good.append(
            (line, {"citizen": citizen, "region": region, "scheme": scheme, "from": first,
                    "method": method, "agency": agency, "choice": choice})
        )  # fmt: skip
    if problems:
        raise ImportRejected("import", problems)
    return good


def _write(
    ledger: Ledger, conn: Connection, path: str, rows: list[tuple[int, dict]]
) -> ImportResult:
    now = ledger.clock.now()
    ids = sorted({r["citizen"].number for _, r in rows})
    known: dict[str, tuple[str, str]] = {}
    for start in range(0, len(ids), 500):
        for m in conn.execute(
            select(members.c.id, members.c.region, members.c.hukou).where(
                members.c.id.in_(ids[start : start + 500])
            )
        ):
            known[m.id] = (m.region, m.hukou)
    problems = [
        f"line {line}: id: {r['citizen'].number} is already registered in region "
        f"{known[r['citizen'].number][0]}, not {r['region']}"
        for line, r in rows
        if r["citizen"].number in known and known[r["citizen"].number][0] != r["region"]
    ]
    if problems:
        raise ImportRejected(path, problems)
    new_members: dict[str, dict] = {}
    for _, r in rows:
        citizen = r["citizen"]
        if citizen.number not in known and citizen.number not in new_members:
            new_members[citizen.number] = {
                "id": citizen.number, "region": r["region"], "hukou": citizen.region_code,
                "sex": citizen.sex.value, "birth_date": citizen.birth_date, "recorded_at": now,
            }  # fmt: skip
    if new_members:
        conn.execute(insert(members), list(new_members.values()))
    enrolment_index.wrote(conn)
    conn.execute(
        insert(enrolments),
        [
            {
                "member_id": r["citizen"].number,
                "scheme": r["scheme"].value,
                "region": r["region"],
                "base_percent": str(r["choice"].percent) if r["choice"].percent else None,
                "base_fen": None,
                "grade": None,
                "method": r["method"],
                "agency": r["agency"],
                "from_month": str(r["from"]),
                "to_month": None,
                "signed_on": None,
                "recorded_at": now,
            }
            for _, r in rows
        ],
    )
    already = len({r["citizen"].number for _, r in rows} & known.keys())
    return ImportResult(len(new_members), len(rows), already)

"""Bulk registration and enrolment from CSV: every row checked, then all written or none.

Header: ``id,region,scheme,base_percent,from,method[,agency]``. Every bad row is reported
with its line number and the rule it breaks; if any row is bad nothing is written.

Running the same file again writes nothing: a row whose member is already enrolled in that
scheme exactly as the row says (the member's current enrolment: the latest row) is counted
as already enrolled and skipped. A row that would enrol an enrolled member differently is
refused, naming the line and the field: a re-enrolment is ``flexledger enroll``, never a
second identical or conflicting row written by an import.

The file is read in ``encoding`` (UTF-8, with or without a BOM, by default; GBK and
GB18030 are accepted, the encodings Chinese spreadsheets save in); bytes that are not in
that encoding are refused with the line they are on.

The shape of every operation: the rows are parsed and checked on their own
(``parse_rows``), ``load`` reads what the ledger holds of their members (two queries per
500 members), ``decide`` is pure (every row refused with its line and rule, or the
members and enrolments to write, with what is already there counted), and ``write``
writes them through ``ledger.store.registry``, the one place members and enrolments are
written.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from sqlalchemy import Connection, select

from ledger.domain.errors import BadInput, ImportRejected, LedgerError
from ledger.domain.identity import CitizenId, parse_citizen_id
from ledger.domain.members import check_terms
from ledger.domain.period import Month
from ledger.domain.policy.loader import PolicySet
from ledger.domain.rules.contribution import BaseChoice, assess
from ledger.domain.schemes import Scheme
from ledger.operations.services import Ledger
from ledger.store import registry
from ledger.store.tables import enrolments, members

REQUIRED = ("id", "region", "scheme", "base_percent", "from", "method")
OPTIONAL = ("agency",)
ENCODINGS = ("utf-8", "gbk", "gb18030")


@dataclass(frozen=True, slots=True)
class ImportResult:
    members: int
    enrolments: int
    already_registered: int
    already_enrolled: int = 0


@dataclass(frozen=True, slots=True)
class Row:
    """A CSV row, parsed and checked on its own (``parse_rows``)."""

    line: int
    citizen: CitizenId
    region: str
    scheme: Scheme
    first: Month
    method: str
    agency: str | None
    choice: BaseChoice

    def fields(self) -> dict[str, str | None]:
        """What the row says of an enrolment, by CSV column, as the table stores it."""
        return {
            "region": self.region,
            "base_percent": str(self.choice.percent) if self.choice.percent else None,
            "from": str(self.first),
            "method": self.method,
            "agency": self.agency,
        }


@dataclass(frozen=True, slots=True)
class Facts:
    """What the ledger holds of the rows' members (``load``)."""

    registered: Mapping[str, str]
    """Each registered member's region."""
    current: Mapping[tuple[str, str], Mapping[str, str | None]]
    """Each member's current enrolment in a scheme (the latest row), as ``Row.fields``
    says it, with ``_other`` naming what a row cannot say (a base amount, a grade, an
    end month) if the enrolment has it."""


@dataclass(frozen=True, slots=True)
class Plan:
    """What an import writes (``decide``): rows in the registry's column order."""

    members: list[tuple]
    enrolments: list[tuple]
    result: ImportResult


def import_members(
    ledger: Ledger, conn: Connection, path: Path | str, encoding: str = "utf-8"
) -> ImportResult:
    """Register and enrol every row of ``path`` in the caller's transaction, or nothing."""
    path = Path(path)
    if encoding not in ENCODINGS:
        raise BadInput("encoding", f"{encoding!r} is not one of {', '.join(ENCODINGS)}")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise BadInput("file", f"{path}: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8-sig" if encoding == "utf-8" else encoding)
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise BadInput(
            "file",
            f"{path}: line {line}: byte {data[exc.start]:#04x} is not {encoding}"
            + ("" if encoding != "utf-8" else " (for a GBK file give --encoding gbk)"),
        ) from None
    if "\x00" in text:
        line = text.count("\n", 0, text.index("\x00")) + 1
        raise BadInput("file", f"{path}: line {line}: a NUL character: not a CSV text file")
    try:
        return _import_text(ledger, conn, path, text)
    except csv.Error as exc:
        raise BadInput("file", f"{path}: not CSV: {exc}") from None


def _import_text(ledger: Ledger, conn: Connection, path: Path, text: str) -> ImportResult:
    reader = csv.DictReader(text.splitlines())
    header = reader.fieldnames or []
    missing = [c for c in REQUIRED if c not in header]
    unknown = [c for c in header if c not in REQUIRED + OPTIONAL]
    if missing or unknown:
        raise ImportRejected(
            str(path),
            [
                f"line 1: header must be {','.join(REQUIRED)}[,agency]"
                + (f"; missing {', '.join(missing)}" if missing else "")
                + (f"; unknown {', '.join(unknown)}" if unknown else "")
            ],
        )
    rows = parse_rows(ledger.policy, ledger.clock.now().date(), reader)
    plan = decide(str(path), rows, load(conn, rows), ledger.clock.now())
    write(conn, plan)
    return plan.result


def parse_rows(policy: PolicySet, today: date, rows: Iterable[dict[str, str]]) -> list[Row]:
    """Each row parsed and checked on its own, or every bad row refused with its line and
    rule (``ImportRejected``): the citizen number, the region, the scheme, the first month,
    the method and company, the base (assessed for the first month), a member enrolled in
    one scheme twice in the file."""
    good: list[Row] = []
    problems: list[str] = []
    seen: dict[tuple[str, str], int] = {}
    for line, row in enumerate(rows, start=2):
        try:
            citizen = parse_citizen_id(row["id"] or "", today=today)
            region = (row["region"] or "").strip()
            policy.region(region)
            scheme = Scheme.parse((row["scheme"] or "").strip())
            first = Month.parse(row["from"] or "", "from")
            method = (row["method"] or "").strip()
            agency = (row.get("agency") or "").strip() or None
            check_terms(method, agency, first, None)
            percent = (row["base_percent"] or "").strip()
            choice = BaseChoice.of(percent=percent) if percent else BaseChoice()
            assess(policy, region, scheme, first, choice)
            key = (citizen.number, scheme.value)
            if key in seen:
                raise BadInput(
                    "id", f"{citizen.number} is enrolled in {scheme} on line {seen[key]} too"
                )
            seen[key] = line
        except LedgerError as exc:
            problems.append(f"line {line}: {exc}")
            continue
        good.append(Row(line, citizen, region, scheme, first, method, agency, choice))
    if problems:
        raise ImportRejected("import", problems)
    return good


def load(conn: Connection, rows: Sequence[Row]) -> Facts:
    """The rows' members as registered, and their current enrolments."""
    ids = sorted({r.citizen.number for r in rows})
    registered: dict[str, str] = {}
    current: dict[tuple[str, str], dict[str, str | None]] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        for m in conn.execute(
            select(members.c.id, members.c.region).where(members.c.id.in_(chunk))
        ):
            registered[m.id] = m.region
        for e in conn.execute(
            select(enrolments).where(enrolments.c.member_id.in_(chunk)).order_by(enrolments.c.id)
        ):  # the latest row supersedes: later ids overwrite earlier ones
            current[(e.member_id, e.scheme)] = {
                "region": e.region,
                "base_percent": e.base_percent,
                "from": e.from_month,
                "method": e.method,
                "agency": e.agency,
                "_other": None
                if e.base_fen is None and e.grade is None and e.to_month is None
                else "a base amount, grade or end month",
            }
    return Facts(registered, current)


def decide(path: str, rows: Sequence[Row], facts: Facts, now: datetime) -> Plan:
    """What to write, with no I/O; or every refused row with its line (``ImportRejected``),
    in this order: a member registered in another region (all such rows), then a row that
    would enrol an enrolled member differently. A row enrolled exactly as it says is
    already done (counted, not written)."""
    problems = [
        f"line {r.line}: id: {r.citizen.number} is already registered in region "
        f"{facts.registered[r.citizen.number]}, not {r.region}"
        for r in rows
        if facts.registered.get(r.citizen.number, r.region) != r.region
    ]
    if problems:
        raise ImportRejected(path, problems)
    todo: list[Row] = []
    skipped = 0
    for r in rows:
        held = facts.current.get((r.citizen.number, r.scheme.value))
        if held is None:
            todo.append(r)
            continue
        wanted = r.fields()
        differ = [f for f in wanted if wanted[f] != held[f]]
        if not differ and held["_other"] is None:
            skipped += 1
            continue
        field = differ[0] if differ else "base_percent"
        was = held[field] if differ else held["_other"]
        problems.append(
            f"line {r.line}: {field}: {r.citizen.number} is already enrolled in "
            f"{r.scheme} with {field} {was or '(none)'}, not {wanted[field] or '(none)'}: "
            "change an enrolment with `flexledger enroll`"
        )
    if problems:
        raise ImportRejected(path, problems)
    new_members: dict[str, tuple] = {}
    for r in todo:
        c = r.citizen
        if c.number not in facts.registered and c.number not in new_members:
            new_members[c.number] = (
                c.number,
                r.region,
                c.region_code,
                c.sex.value,
                c.birth_date,
                now,
            )
    enrolled = [
        (
            r.citizen.number,
            r.scheme.value,
            r.region,
            r.fields()["base_percent"],
            None,
            None,
            r.method,
            r.agency,
            str(r.first),
            None,
            None,
            now,
        )
        for r in todo
    ]
    already = len({r.citizen.number for r in rows} & facts.registered.keys())
    if todo:
        already = len({r.citizen.number for r in todo} & facts.registered.keys())
    return Plan(
        list(new_members.values()),
        enrolled,
        ImportResult(len(new_members), len(todo), already, skipped),
    )


def write(conn: Connection, plan: Plan) -> None:
    """Write ``plan``'s members and enrolments, each in one statement."""
    registry.add_members(conn, plan.members)
    registry.add_enrolments(conn, plan.enrolments)

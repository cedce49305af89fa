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
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Connection, select

from ledger.domain.errors import BadInput, ImportRejected, LedgerError
from ledger.domain.identity import parse_citizen_id
from ledger.domain.members import check_terms
from ledger.domain.period import Month
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
            check_terms(method, agency, first, None)
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
            (
                line,
                {
                    "citizen": citizen,
                    "region": region,
                    "scheme": scheme,
                    "from": first,
                    "method": method,
                    "agency": agency,
                    "choice": choice,
                },
            )
        )
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
    rows, already_enrolled = _skip_enrolled(conn, path, rows)
    new_members: dict[str, dict] = {}
    for _, r in rows:
        citizen = r["citizen"]
        if citizen.number not in known and citizen.number not in new_members:
            new_members[citizen.number] = {
                "id": citizen.number,
                "region": r["region"],
                "hukou": citizen.region_code,
                "sex": citizen.sex.value,
                "birth_date": citizen.birth_date,
                "recorded_at": now,
            }
    registry.add_members(
        conn, [tuple(m[c] for c in registry.MEMBER_COLUMNS) for m in new_members.values()]
    )
    if not rows:
        return ImportResult(0, 0, len(known), already_enrolled)
    registry.add_enrolments(
        conn,
        [
            (
                r["citizen"].number,
                r["scheme"].value,
                r["region"],
                str(r["choice"].percent) if r["choice"].percent else None,
                None,
                None,
                r["method"],
                r["agency"],
                str(r["from"]),
                None,
                None,
                now,
            )
            for _, r in rows
        ],
    )
    already = len({r["citizen"].number for _, r in rows} & known.keys())
    return ImportResult(len(new_members), len(rows), already, already_enrolled)


def _enrolment_fields(r: dict) -> dict[str, str | None]:
    """What a row says of an enrolment, by CSV column, as the enrolments table stores it."""
    return {
        "region": r["region"],
        "base_percent": str(r["choice"].percent) if r["choice"].percent else None,
        "from": str(r["from"]),
        "method": r["method"],
        "agency": r["agency"],
    }


def _skip_enrolled(
    conn: Connection, path: str, rows: list[tuple[int, dict]]
) -> tuple[list[tuple[int, dict]], int]:
    """The rows still to write, and how many were already enrolled exactly as they say.

    A row that differs from its member's current enrolment in that scheme is refused:
    every such row is listed, nothing is written.
    """
    ids = sorted({r["citizen"].number for _, r in rows})
    current: dict[tuple[str, str], dict[str, str | None]] = {}
    for start in range(0, len(ids), 500):
        for e in conn.execute(
            select(enrolments)
            .where(enrolments.c.member_id.in_(ids[start : start + 500]))
            .order_by(enrolments.c.id)
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
    todo: list[tuple[int, dict]] = []
    problems: list[str] = []
    skipped = 0
    for line, r in rows:
        now = current.get((r["citizen"].number, r["scheme"].value))
        if now is None:
            todo.append((line, r))
            continue
        wanted = _enrolment_fields(r)
        differ = [f for f in wanted if wanted[f] != now[f]]
        if not differ and now["_other"] is None:
            skipped += 1
            continue
        field = differ[0] if differ else "base_percent"
        was = now[field] if differ else now["_other"]
        problems.append(
            f"line {line}: {field}: {r['citizen'].number} is already enrolled in "
            f"{r['scheme']} with {field} {was or '(none)'}, not {wanted[field] or '(none)'}: "
            "change an enrolment with `flexledger enroll`"
        )
    if problems:
        raise ImportRejected(path, problems)
    return todo, skipped

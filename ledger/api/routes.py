"""The read-only JSON API: the CLI's auditor queries over HTTP, the same answers.

Each route opens one AUTOCOMMIT connection (on SQLite a read never takes the write lock),
parses its inputs with the CLI's parsers (so a bad date names ``as_of`` or ``known_at``
exactly as the CLI does) and shapes its answer with ``ledger.views``, the functions the
CLI's ``--json`` prints. Pages and dates are bounded: at most ``MAX_PAGE`` rows a page,
dates from ``FIRST_DAY`` to ``LAST_DAY``. Only ``POST /api/verify`` needs the operator
role; it starts a verify job (``workers.verify_jobs``) and answers 202 with the job's
``Location``, where its status and, once done, its run are read.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, Header, Path, Query, Request, Response
from fastapi.responses import StreamingResponse
from sqlalchemy import Connection

from ledger import views
from ledger.api.auth import Operator, Reader
from ledger.api.problems import Problem
from ledger.domain.accounts import _TYPES as ACCOUNT_KINDS
from ledger.domain.errors import BadInput
from ledger.domain.money import format_yuan
from ledger.domain.period import parse_date, parse_datetime
from ledger.domain.policy import default_policy
from ledger.store import access, queries
from ledger.store.export import iter_csv, iter_ledger
from workers import verify_jobs

MAX_PAGE = 500
MAX_OFFSET = 10_000_000
MAX_ID = 2**63 - 1  # a BIGINT id
FIRST_DAY, LAST_DAY = date(1900, 1, 1), date(2200, 12, 31)
MEMBER = re.compile(r"^[0-9]{17}[0-9X]$")
REGION = re.compile(r"^[0-9]{6}$")

router = APIRouter(prefix="/api", tags=["ledger"])

Limit = Annotated[int, Query(ge=1, le=MAX_PAGE, description=f"rows a page, 1-{MAX_PAGE}")]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description="rows to skip")]
AsOf = Annotated[str, Query(description="effective date, YYYY-MM-DD")]
KnownAt = Annotated[
    str | None, Query(description="only entries recorded by then (ISO date or date-time)")
]


@contextmanager
def reading(request: Request) -> Iterator[Connection]:
    engine = request.app.state.engine
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        yield conn


def _bounded(day: date, field: str) -> None:
    if not FIRST_DAY <= day <= LAST_DAY:
        raise BadInput(field, f"{day.isoformat()} is outside {FIRST_DAY} to {LAST_DAY}")


def as_of_date(text: str, field: str = "as_of") -> date:
    day = parse_date(text, field)
    _bounded(day, field)
    return day


def known_at_time(text: str | None) -> datetime | None:
    if text is None or text == "":
        return None
    moment = queries.utc(parse_datetime(text, "known_at"))
    _bounded(moment.date(), "known_at")
    return moment


def member_id(text: str) -> str:
    if not MEMBER.match(text):
        raise BadInput("member", f"{text!r} is not an 18-character citizen ID number")
    return text


@router.get("/accounts", summary="Accounts by member, region or kind")
def accounts(
    request: Request,
    _who: Reader,
    member: str | None = None,
    region: str | None = None,
    kind: str | None = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> dict:
    if member is not None:
        member_id(member)
    if region is not None and not REGION.match(region):
        raise BadInput("region", f"{region!r} is not a 6-digit region code")
    if kind is not None and kind not in ACCOUNT_KINDS:
        raise BadInput("kind", f"{kind!r} is not one of {', '.join(sorted(ACCOUNT_KINDS))}")
    with reading(request) as conn:
        total, rows = queries.find_accounts(
            conn, member=member, region=region, kind=kind, limit=limit, offset=offset
        )
    return {
        "accounts": [
            {
                "id": r.id,
                "account": r.name,
                "type": r.type,
                "kind": r.name.split(":", 1)[0],
                "opened_at": r.recorded_at.isoformat(),
            }
            for r in rows
        ],
        "page": {"offset": offset, "limit": limit, "total": total},
    }


@router.get("/accounts/{account}/balance", summary="One account's balance on both time axes")
def balance(
    request: Request, _who: Reader, account: str, as_of: AsOf, known_at: KnownAt = None
) -> dict:
    day, moment = as_of_date(as_of), known_at_time(known_at)
    with reading(request) as conn:
        total = queries.balance(conn, account, day, moment)
    return views.balance_view(account, day, moment, total)


@router.get(
    "/members/{member}/statement",
    summary="What a member owns, what each payment bought, and their postings a page at a time",
)
def statement(
    request: Request,
    _who: Reader,
    member: str,
    as_of: str | None = None,
    known_at: KnownAt = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> dict:
    member_id(member)
    day = as_of_date(as_of) if as_of else None
    moment = known_at_time(known_at)
    with reading(request) as conn:
        lines = queries.statement(conn, member, day, moment)
    held = queries.holdings(member, lines)
    bought = queries.payments_bought(member, lines)
    found = views.statement_view(member, day, moment, lines[offset : offset + limit], held, bought)
    found["page"] = {"offset": offset, "limit": limit, "total": len(lines)}
    return found


@router.get("/trial-balance", summary="Every non-zero balance; the total is 0.00")
def trial_balance(request: Request, _who: Reader, as_of: AsOf, known_at: KnownAt = None) -> dict:
    day, moment = as_of_date(as_of), known_at_time(known_at)
    with reading(request) as conn:
        rows = queries.trial_balance(conn, day, moment)
    return views.trial_balance_view(day, moment, rows)


@router.get("/pooling", summary="Pooling funds by scheme and region, credit-positive")
def pooling(request: Request, _who: Reader, as_of: AsOf, known_at: KnownAt = None) -> dict:
    day, moment = as_of_date(as_of), known_at_time(known_at)
    with reading(request) as conn:
        rows = queries.pooling_by_region(conn, day, moment)
    return views.pooling_view(day, moment, rows)


def _paged(found: dict, key: str, limit: int, offset: int) -> dict:
    rows = found[key]
    found[key] = rows[offset : offset + limit]
    found["page"] = {"offset": offset, "limit": limit, "total": len(rows)}
    return found


def months_answer(conn: Connection, member: str | None) -> dict:
    """What ``flexledger months [--member] --json`` prints."""
    if member is not None:
        member_id(member)
    rows = queries.contribution_months(conn, member)
    place = None
    if member is not None:
        place = queries.pension_place_of(conn, member, default_policy())
    return views.months_view(rows, member, place)


def arrangements_answer(conn: Connection, member: str | None) -> dict:
    """What ``flexledger arrangements --json`` prints, or only one member's of them."""
    if member is not None:
        member_id(member)
    found = views.arrangements_view(queries.affiliated_arrangements(conn))
    if member is not None:
        found["arrangements"] = [a for a in found["arrangements"] if a["member"] == member]
    return found


@router.get("/months", summary="Paid contribution months per member, scheme and region")
def months(
    request: Request,
    _who: Reader,
    member: str | None = None,
    limit: Limit = MAX_PAGE,
    offset: Offset = 0,
) -> dict:
    with reading(request) as conn:
        return _paged(months_answer(conn, member), "months", limit, offset)


@router.get("/arrangements", summary="Affiliated arrangements (method agency)")
def arrangements(
    request: Request,
    _who: Reader,
    member: str | None = None,
    limit: Limit = MAX_PAGE,
    offset: Offset = 0,
) -> dict:
    with reading(request) as conn:
        return _paged(arrangements_answer(conn, member), "arrangements", limit, offset)


def entry_view(entry: dict) -> dict:
    shown = dict(entry)
    shown["effective_date"] = entry["effective_date"].isoformat()
    shown["recorded_at"] = entry["recorded_at"].isoformat()
    shown["postings"] = [
        {"account": name, "amount": format_yuan(amount)} for name, amount in entry["postings"]
    ]
    return shown


@router.get("/entries", summary="Entries in chain order with their hashes (keyset pages)")
def entries(
    request: Request,
    _who: Reader,
    after: Annotated[int, Query(ge=0, le=MAX_ID, description="the last entry id already seen")] = 0,
    limit: Limit = 100,
) -> dict:
    with reading(request) as conn:
        found = queries.entries_page(conn, after, limit)
    last = found[-1]["id"] if len(found) == limit else None
    return {"entries": [entry_view(e) for e in found], "next_after": last}


@router.get("/entries/{entry_id}", summary="One entry, its hash and its chain position")
def entry(request: Request, _who: Reader, entry_id: Annotated[int, Path(ge=1, le=MAX_ID)]) -> dict:
    with reading(request) as conn:
        found = queries.entries_page(conn, entry_id - 1, 1)
    if not found or found[0]["id"] != entry_id:
        raise Problem(
            404, f"entry_id: {entry_id}: no such entry", field="entry_id", rule="no such entry"
        )
    return entry_view(found[0])


@router.get("/verify", summary="The last verify run started over the API")
def last_verify(request: Request, _who: Reader) -> dict:
    with reading(request) as conn:
        return {"last_run": access.last_verify_run(conn)}


IDEMPOTENCY_KEY = re.compile(r"^[A-Za-z0-9._:-]{1,100}$")
JOB_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def start_verify_job(request: Request, token_id: int, key: str | None) -> dict:
    """Write a verify job (the same key from the same token: the same job, once), hand
    it to whoever runs jobs, and return its status."""
    if key is not None and not IDEMPOTENCY_KEY.match(key):
        raise BadInput("Idempotency-Key", "must be 1 to 100 of A-Z a-z 0-9 . _ : -")
    engine, clock = request.app.state.engine, request.app.state.clock
    with engine.begin() as conn:
        job_id, run_key, written = verify_jobs.start(conn, token_id, clock.now(), key)
        found = verify_jobs.status(conn, job_id)
    assert found is not None
    if written:
        request.app.state.jobs.submit(job_id, run_key, token_id)
    return found


def verify_job_status(request: Request, job_id: str) -> dict:
    if not JOB_ID.match(job_id):
        raise BadInput("job_id", f"{job_id[:60]!r} is not a job id (a UUID)")
    with reading(request) as conn:
        found = verify_jobs.status(conn, job_id)
    if found is None:
        raise Problem(
            404, f"job_id: {job_id}: no such verify job", field="job_id", rule="no such verify job"
        )
    return found


@router.post(
    "/verify",
    summary="Start a verify run in the background (operator); 202 and where to follow it",
    status_code=202,
)
def run_verify(
    request: Request,
    response: Response,
    who: Operator,
    idempotency_key: Annotated[
        str | None,
        Header(description="the same key from the same token starts one job, not two"),
    ] = None,
) -> dict:
    found = start_verify_job(request, who.token_id, idempotency_key)
    response.headers["Location"] = f"/api/verify/jobs/{found['job']}"
    return {"job": found}


@router.get("/verify/jobs/{job_id}", summary="A verify job: queued, running, done or failed")
def verify_job(request: Request, _who: Reader, job_id: str) -> dict:
    return {"job": verify_job_status(request, job_id)}


def _stream(request: Request, chunks) -> Iterator[bytes]:  # type: ignore[no-untyped-def]
    engine = request.app.state.engine
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for text, _count in chunks(conn):
            yield text.encode("utf-8")


@router.get("/export/ledger", summary="The whole ledger as a ledger-cli / hledger journal")
def export_journal(request: Request, _who: Reader) -> StreamingResponse:
    return StreamingResponse(
        _stream(request, iter_ledger),
        media_type="text/plain; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="flexledger.journal"'},
    )


@router.get("/export/csv", summary="Every posting as CSV")
def export_csv(request: Request, _who: Reader) -> StreamingResponse:
    return StreamingResponse(
        _stream(request, iter_csv),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="flexledger-postings.csv"'},
    )

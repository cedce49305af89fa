"""Server-rendered pages over the same queries as the API: no front-end build, no script.

Every page needs the ``flexledger_token`` cookie, set by the login form where the auditor
pastes a token (HttpOnly, SameSite=Strict: no script can read it and no other site can
send it); without a usable one a page answers 401 with the login form. Everything is a
real link, form, label or button, so the pages work with the keyboard alone. Bad input is
shown on the page (status 400), naming the field and the rule, as the API's problems do.
"""

from __future__ import annotations

import io
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from ledger.api import routes
from ledger.api.auth import COOKIE, identify
from ledger.domain import errors
from ledger.domain.errors import BadInput
from ledger.domain.money import format_yuan
from ledger.store import access, queries
from ledger.store.access import Caller, Refused

templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
templates.env.filters["yuan"] = format_yuan
router = APIRouter(include_in_schema=False)
STATEMENT_PAGE = 100


class LoginNeeded(Exception):
    """Raised when a page is asked for without a usable token: answered by the login form."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def page_caller(request: Request) -> Caller:
    try:
        return identify(request)
    except Refused as refused:
        raise LoginNeeded(refused.reason) from None


Viewer = Annotated[Caller, Depends(page_caller)]


def render(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
    return templates.TemplateResponse(request, name, context, status_code=status)


async def on_login_needed(request: Request, exc: Exception) -> HTMLResponse:
    assert isinstance(exc, LoginNeeded)
    reason = exc.reason if request.cookies.get(COOKIE) else None
    return render(request, "login.html", 401, error=reason, who=None)


def _today(request: Request) -> date:
    return request.app.state.clock.now().date()


def _axes(
    request: Request, as_of: str | None, known_at: str | None
) -> tuple[date, datetime | None]:
    day = routes.as_of_date(as_of) if as_of else _today(request)
    return day, routes.known_at_time(known_at)


def _bad(request: Request, name: str, who: Caller, error: BadInput, **context: Any) -> HTMLResponse:
    return render(request, name, 400, who=who, error=f"{error.field}: {error.rule}", **context)


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request) -> HTMLResponse:
    return render(request, "login.html", error=None, who=None)


@router.post("/login")
def login(request: Request, token: Annotated[str, Form(max_length=200)] = "") -> Response:
    engine = request.app.state.engine
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        try:
            who = access.authenticate(conn, token.strip(), request.app.state.clock.now())
        except Refused as refused:
            request.state.token_id = refused.token_id
            return render(request, "login.html", 401, error=refused.reason, who=None)
    request.state.token_id = who.token_id
    response = RedirectResponse("/", status_code=303)
    response.set_cookie(
        COOKIE,
        token.strip(),
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@router.post("/logout")
def logout() -> Response:
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE)
    return response


@router.get("/", response_class=HTMLResponse)
def home(request: Request, who: Viewer) -> HTMLResponse:
    return render(request, "home.html", who=who, error=None)


@router.get("/members", response_class=HTMLResponse)
def find_member(request: Request, who: Viewer, member: str = "") -> Response:
    try:
        found = routes.member_id(member.strip().upper())
    except BadInput as error:
        return _bad(request, "home.html", who, error, member=member)
    return RedirectResponse(f"/members/{found}", status_code=303)


@router.get("/members/{member}", response_class=HTMLResponse)
def member_page(
    request: Request,
    who: Viewer,
    member: str,
    as_of: str | None = None,
    known_at: str | None = None,
    offset: int = 0,
) -> HTMLResponse:
    context: dict[str, Any] = {"member": member, "as_of": as_of or "", "known_at": known_at or ""}
    try:
        routes.member_id(member)
        day, moment = _axes(request, as_of, known_at)
        if not 0 <= offset <= routes.MAX_OFFSET:
            raise BadInput("offset", f"must be 0 to {routes.MAX_OFFSET}")
        with routes.reading(request) as conn:
            lines = queries.statement(conn, member, day, moment)
            _, owned = queries.find_accounts(conn, member=member, limit=routes.MAX_PAGE)
            balances = [(a.name, queries.balance(conn, a.name, day, moment)) for a in owned]
    except errors.UnknownMember as error:
        return render(
            request, "home.html", 404, who=who, member=member, error=f"{error.field}: {error.rule}"
        )
    except BadInput as error:
        return _bad(
            request, "member.html", who, error, lines=[], balances=[], held=[], bought=[], **context
        )
    context.update(as_of=day.isoformat(), known_at=known_at or "")
    context.update(
        held=queries.holdings(member, lines), bought=queries.payments_bought(member, lines)
    )
    page = lines[offset : offset + STATEMENT_PAGE]
    return render(
        request,
        "member.html",
        who=who,
        error=None,
        balances=balances,
        lines=page,
        offset=offset,
        total=len(lines),
        page_size=STATEMENT_PAGE,
        **context,
    )


@router.get("/trial-balance", response_class=HTMLResponse)
def trial_balance_page(
    request: Request, who: Viewer, as_of: str | None = None, known_at: str | None = None
) -> HTMLResponse:
    try:
        day, moment = _axes(request, as_of, known_at)
        with routes.reading(request) as conn:
            rows = queries.trial_balance(conn, day, moment)
    except BadInput as error:
        return _bad(
            request,
            "trial_balance.html",
            who,
            error,
            rows=[],
            total=0,
            as_of=as_of or "",
            known_at=known_at or "",
        )
    return render(
        request,
        "trial_balance.html",
        who=who,
        error=None,
        rows=rows,
        total=sum(a for _, a in rows),
        as_of=day.isoformat(),
        known_at=known_at or "",
    )


def pooling_svg(rows: list[tuple[str, str, int]]) -> str:
    """A bar chart of the pooling funds (yuan, credit-positive) as inline SVG markup."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7.5, 3.8))
    axes = figure.add_subplot()
    labels = [f"{scheme}\n{region}" for scheme, region, _ in rows]
    axes.bar(range(len(rows)), [amount / 100 for _, _, amount in rows], color="#2a6f97")
    axes.set_xticks(range(len(rows)), labels, fontsize=8, rotation=30, ha="right")
    axes.set_ylabel("yuan")
    axes.set_title("Pooling funds (credit-positive)")
    figure.tight_layout()
    out = io.StringIO()
    figure.savefig(out, format="svg")
    text = out.getvalue()
    return text[text.index("<svg") :]


@router.get("/pooling", response_class=HTMLResponse)
def pooling_page(
    request: Request, who: Viewer, as_of: str | None = None, known_at: str | None = None
) -> HTMLResponse:
    try:
        day, moment = _axes(request, as_of, known_at)
        with routes.reading(request) as conn:
            rows = queries.pooling_by_region(conn, day, moment)
    except BadInput as error:
        return _bad(
            request,
            "pooling.html",
            who,
            error,
            rows=[],
            svg="",
            as_of=as_of or "",
            known_at=known_at or "",
        )
    svg = pooling_svg(rows) if rows else ""
    return render(
        request,
        "pooling.html",
        who=who,
        error=None,
        rows=rows,
        svg=svg,
        as_of=day.isoformat(),
        known_at=known_at or "",
    )


@router.get("/verify", response_class=HTMLResponse)
def verify_page(request: Request, who: Viewer) -> HTMLResponse:
    with routes.reading(request) as conn:
        last = access.last_verify_run(conn)
    return render(request, "verify.html", who=who, error=None, last=last)


@router.post("/verify", response_model=None)
def verify_run_page(request: Request, who: Viewer) -> Response:
    if who.role != "operator":
        with routes.reading(request) as conn:
            last = access.last_verify_run(conn)
        return render(
            request,
            "verify.html",
            403,
            who=who,
            last=last,
            error=f"role {who.role} may only read: running verify needs the operator role",
        )
    found = routes.start_verify_job(request, who.token_id, None)
    return RedirectResponse(f"/verify/jobs/{found['job']}", status_code=303)


@router.get("/verify/jobs/{job_id}", response_class=HTMLResponse)
def verify_job_page(request: Request, who: Viewer, job_id: str) -> HTMLResponse:
    try:
        job = routes.verify_job_status(request, job_id)
    except BadInput as error:
        return _bad(request, "verify_job.html", who, error, job=None)
    except routes.Problem as problem:
        return render(
            request, "verify_job.html", problem.status, who=who, job=None, error=problem.detail
        )
    return render(request, "verify_job.html", who=who, error=None, job=job)


@router.get("/exports", response_class=HTMLResponse)
def exports_page(request: Request, who: Viewer) -> HTMLResponse:
    return render(request, "exports.html", who=who, error=None)


PAGE_ROWS = 100


def _offset(offset: int) -> None:
    if not 0 <= offset <= routes.MAX_OFFSET:
        raise BadInput("offset", f"must be 0 to {routes.MAX_OFFSET}")


@router.get("/months", response_class=HTMLResponse)
def months_page(request: Request, who: Viewer, member: str = "", offset: int = 0) -> HTMLResponse:
    """Paid contribution months (``flexledger months``), everyone's or one member's."""
    chosen = member.strip().upper() or None
    context: dict[str, Any] = {"member": chosen or "", "rows": [], "place": None, "offset": 0}
    try:
        _offset(offset)
        with routes.reading(request) as conn:
            found = routes.months_answer(conn, chosen)
    except errors.UnknownMember as error:
        return render(
            request,
            "months.html",
            404,
            who=who,
            error=f"{error.field}: {error.rule}",
            total=0,
            page_size=PAGE_ROWS,
            **context,
        )
    except BadInput as error:
        return _bad(request, "months.html", who, error, total=0, page_size=PAGE_ROWS, **context)
    rows = found["months"]
    context.update(
        rows=rows[offset : offset + PAGE_ROWS], place=found.get("pension_paid_in"), offset=offset
    )
    return render(
        request, "months.html", who=who, error=None, total=len(rows), page_size=PAGE_ROWS, **context
    )


@router.get("/arrangements", response_class=HTMLResponse)
def arrangements_page(
    request: Request, who: Viewer, member: str = "", offset: int = 0
) -> HTMLResponse:
    """Affiliated arrangements (``flexledger arrangements``), everyone's or one member's."""
    chosen = member.strip().upper() or None
    context: dict[str, Any] = {"member": chosen or "", "rows": [], "offset": 0}
    try:
        _offset(offset)
        with routes.reading(request) as conn:
            found = routes.arrangements_answer(conn, chosen)
    except BadInput as error:
        return _bad(
            request, "arrangements.html", who, error, total=0, page_size=PAGE_ROWS, **context
        )
    rows = found["arrangements"]
    context.update(rows=rows[offset : offset + PAGE_ROWS], offset=offset)
    return render(
        request,
        "arrangements.html",
        who=who,
        error=None,
        total=len(rows),
        page_size=PAGE_ROWS,
        **context,
    )


@router.get("/entries", response_class=HTMLResponse)
def entries_page(request: Request, who: Viewer, after: int = 0) -> HTMLResponse:
    """The journal in chain order, a page at a time, with each entry's hashes."""
    try:
        if not 0 <= after <= routes.MAX_ID:
            raise BadInput("after", "must be an entry id, 0 or more")
        with routes.reading(request) as conn:
            found = queries.entries_page(conn, after, PAGE_ROWS)
    except BadInput as error:
        return _bad(request, "entries.html", who, error, rows=[], after=0, next_after=None)
    rows = [routes.entry_view(e) for e in found]
    next_after = rows[-1]["id"] if len(rows) == PAGE_ROWS else None
    return render(
        request,
        "entries.html",
        who=who,
        error=None,
        rows=rows,
        after=after,
        next_after=next_after,
        previous=max(after - PAGE_ROWS, 0),
    )


@router.get("/entries/{entry_id}", response_class=HTMLResponse)
def entry_page(request: Request, who: Viewer, entry_id: str) -> HTMLResponse:
    """One entry: its chain position, both hashes and its postings."""
    try:
        if not entry_id.isdigit() or not 1 <= int(entry_id) <= routes.MAX_ID:
            raise BadInput("entry_id", "must be an entry id, 1 or more")
        number = int(entry_id)
        with routes.reading(request) as conn:
            found = queries.entries_page(conn, number - 1, 1)
    except BadInput as error:
        return _bad(request, "entry.html", who, error, entry=None)
    if not found or found[0]["id"] != number:
        return render(
            request,
            "entry.html",
            404,
            who=who,
            entry=None,
            error=f"entry_id: {number}: no such entry",
        )
    return render(request, "entry.html", who=who, error=None, entry=routes.entry_view(found[0]))

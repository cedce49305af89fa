"""Every refusal over HTTP is an RFC 9457 problem document (``application/problem+json``).

Members: ``type`` (a relative URI naming the kind of problem), ``title``, ``status``,
``detail``, ``instance`` (the request path) and, for bad input, ``field`` and ``rule``, as
the command line's one-line errors name them. Bad input is 400, an unknown member or
account 404, a missing or refused token 401, a role that may not 403; anything unforeseen
is a 500 whose detail names only an incident id: the log has the rest, never a secret.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ledger.domain.errors import BadInput, UnknownAccount, UnknownMember

MEDIA_TYPE = "application/problem+json"

TITLES = {
    400: "bad input",
    401: "not authenticated",
    403: "forbidden",
    404: "not found",
    405: "method not allowed",
    500: "internal error",
}


class Problem(Exception):
    """Raised by a route to answer with a problem document instead of its result."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        slug: str | None = None,
        field: str | None = None,
        rule: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.slug = slug or TITLES.get(status, "error").replace(" ", "-")
        self.field = field
        self.rule = rule
        self.headers = headers


def problem_document(
    status: int,
    detail: str,
    instance: str,
    *,
    slug: str | None = None,
    field: str | None = None,
    rule: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    slug = slug or TITLES.get(status, "error").replace(" ", "-")
    doc: dict[str, Any] = {
        "type": f"/problems/{slug}",
        "title": TITLES.get(status, slug.replace("-", " ")),
        "status": status,
        "detail": detail,
        "instance": instance,
    }
    if field is not None:
        doc["field"] = field
    if rule is not None:
        doc["rule"] = rule
    doc.update(extra)
    return doc


def problem_response(
    status: int,
    detail: str,
    instance: str,
    *,
    headers: dict[str, str] | None = None,
    **members: Any,
) -> JSONResponse:
    return JSONResponse(
        problem_document(status, detail, instance, **members),
        status_code=status,
        media_type=MEDIA_TYPE,
        headers=headers,
    )


def bad_input_status(exc: BadInput) -> int:
    return 404 if isinstance(exc, UnknownAccount | UnknownMember) else 400


async def on_problem(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Problem)
    return problem_response(
        exc.status,
        exc.detail,
        request.url.path,
        slug=exc.slug,
        field=exc.field,
        rule=exc.rule,
        headers=exc.headers,
    )


async def on_bad_input(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, BadInput)
    status = bad_input_status(exc)
    return problem_response(
        status, f"{exc.field}: {exc.rule}", request.url.path, field=exc.field, rule=exc.rule
    )


def _field_of(location: tuple[Any, ...] | list[Any]) -> str:
    """``("query", "limit")`` → ``limit``; a body field keeps its path (``body.role``)."""
    parts = [str(part) for part in location]
    if parts and parts[0] in ("query", "path", "header", "cookie"):
        parts = parts[1:]
    return ".".join(parts) or "request"


async def on_validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"field": _field_of(error.get("loc", ())), "rule": str(error.get("msg", "invalid"))}
        for error in exc.errors()
    ]
    first = errors[0] if errors else {"field": "request", "rule": "invalid"}
    return problem_response(
        400,
        f"{first['field']}: {first['rule']}",
        request.url.path,
        field=first["field"],
        rule=first["rule"],
        errors=errors,
    )


async def on_http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else TITLES.get(exc.status_code, "error")
    if exc.status_code == 404 and detail == "Not Found":
        detail = f"no such resource: {request.url.path}"
    return problem_response(
        exc.status_code, detail, request.url.path, headers=getattr(exc, "headers", None)
    )

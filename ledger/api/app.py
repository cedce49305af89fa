"""The HTTP application: ``create_app(engine)`` builds it; nothing connects until a request.

Layers, outermost first: ``Recorded`` records one ``access_log`` row per request (who,
when, method, path, status) once the answer is sent — queued, and written in batches off
the request path by ``ledger.api.accesslog.AccessLog``, every queued row written at a clean
shutdown — and turns any exception that escaped the routes into a 500 problem document
whose detail is an incident id (the log gets the exception's type and where it was
raised, never its message, which may quote a URL or a token); then
``ledger.api.fastlane.PointBalances`` answers a point balance asked with a cached bearer
token itself (the busiest request; all else passes on); then FastAPI's handlers turn
``Problem``, ``BadInput``, validation and routing errors into problem documents.
``/docs`` and ``/openapi.json`` need a token too: every request is authenticated but the
login page's.
"""

from __future__ import annotations

import contextlib
import copy
import importlib.util
import logging
import traceback
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from ledger.api import pages, problems, routes
from ledger.api.accesslog import AccessLog
from ledger.api.auth import Reader
from ledger.api.fastlane import PointBalances
from ledger.api.jobs import InProcess
from ledger.domain.clock import Clock, SystemClock
from ledger.domain.errors import BadInput

log = logging.getLogger("flexledger.api")

# Swagger UI's script and style, served from the installed fastapi-offline package (no
# CDN: /docs works on a machine without internet access), behind a token like the rest.
DOCS_ASSETS = "/docs/assets"
SWAGGER_FILES = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "favicon.png": "image/png",
}


def swagger_static() -> Path:
    """The directory of the Swagger UI files the ``fastapi-offline`` package ships."""
    spec = importlib.util.find_spec("fastapi_offline")
    assert spec is not None and spec.origin is not None, "fastapi-offline is a dependency"
    return Path(spec.origin).parent / "static"


class Recorded:
    """ASGI middleware: the access log, and the last line of defence against a traceback."""

    def __init__(self, app: Any, access: AccessLog, clock: Clock) -> None:
        self.app = app
        self.access = access
        self.clock = clock

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope.setdefault("state", {})
        at = self.clock.now()
        status = {"code": 500, "started": False}

        async def sending(message: dict) -> None:
            if message["type"] == "http.response.start":
                status["code"], status["started"] = message["status"], True
            await send(message)

        try:
            await self.app(scope, receive, sending)
        except Exception as exc:
            incident = uuid.uuid4().hex[:12]
            where = "".join(traceback.format_tb(exc.__traceback__)[-3:])
            log.error(
                "incident %s: %s in %s %s\n%s",
                incident,
                type(exc).__name__,
                scope["method"],
                scope["path"],
                where,
            )
            status["code"] = 500
            if not status["started"]:
                response = problems.problem_response(
                    500,
                    f"internal error, incident {incident}: the server log has the details",
                    scope["path"],
                    slug="internal-error",
                )
                await response(scope, receive, send)
        finally:
            token_id = scope["state"].get("token_id")
            try:
                self.access.record(token_id, at, scope["method"], scope["path"], status["code"])
            except Exception as exc:  # the log must not turn an answer into a failure
                log.error("access log not written: %s", type(exc).__name__)


PROBLEM_SCHEMA = {
    "type": "object",
    "description": "RFC 9457 problem document",
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "field": {"type": "string", "description": "the input that broke a rule"},
        "rule": {"type": "string", "description": "the rule it broke"},
    },
    "required": ["type", "title", "status", "detail", "instance"],
}
REFUSALS = {
    "400": "bad input: the field and the rule",
    "401": "no token, or an unknown, expired or revoked one",
    "404": "no such member, account or entry",
}


def described(app: FastAPI) -> dict[str, Any]:
    """The OpenAPI description with the refusals as they are: problem documents, 400 for
    bad input (FastAPI would say 422), 401 everywhere, 403 where the operator role is needed."""
    cached = getattr(app.state, "described", None)
    if cached is not None:
        return cached
    spec = copy.deepcopy(app.openapi())
    spec.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
    content = {problems.MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    for methods in spec.get("paths", {}).values():
        for method, operation in methods.items():
            answers = operation.setdefault("responses", {})
            answers.pop("422", None)
            for status, text in REFUSALS.items():
                answers[status] = {"description": text, "content": content}
            if method == "post":
                answers["403"] = {"description": "needs the operator role", "content": content}
    spec.get("components", {}).get("schemas", {}).pop("HTTPValidationError", None)
    spec.get("components", {}).get("schemas", {}).pop("ValidationError", None)
    app.state.described = spec
    return spec


def create_app(engine: Engine, clock: Clock | None = None, jobs: Any = None) -> FastAPI:
    """The API and pages on ``engine`` (opened, not connected: ``open_engine`` checks the
    revision when ``flexledger serve`` starts). ``jobs``: who runs the verify jobs
    (``ledger.api.jobs``); by default a thread of this process. ``app.state.access_log``
    is the access log's writer: its rows are written when the app's lifespan ends, at the
    latest."""
    clock = clock or SystemClock()
    jobs = jobs if jobs is not None else InProcess(engine, clock)
    access = AccessLog(engine)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(jobs.resume)
        try:
            yield
        finally:
            try:
                await run_in_threadpool(jobs.close)
            finally:
                access.close()

    app = FastAPI(
        lifespan=lifespan,
        title="flexledger",
        summary="The auditor's read-only API of the flexible-employment contribution ledger.",
        description=(
            "Every request needs a token from `flexledger token add` as "
            "`Authorization: Bearer <token>` (or the pages' login cookie). Amounts are yuan "
            "strings with two places, debit positive and credit negative (the pooling funds "
            "credit-positive), exactly as the CLI's `--json`. Errors are RFC 9457 problem "
            "documents naming the field and the rule."
        ),
        version="1",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.engine = engine
    app.state.clock = clock
    app.state.jobs = jobs
    app.state.access_log = access
    app.add_exception_handler(problems.Problem, problems.on_problem)
    app.add_exception_handler(BadInput, problems.on_bad_input)
    app.add_exception_handler(RequestValidationError, problems.on_validation)
    app.add_exception_handler(StarletteHTTPException, problems.on_http)
    app.add_exception_handler(pages.LoginNeeded, pages.on_login_needed)
    app.include_router(routes.router)
    app.include_router(pages.router)

    @app.get("/openapi.json", include_in_schema=False)
    def openapi(_who: Reader) -> JSONResponse:
        return JSONResponse(described(app))

    @app.get("/docs", include_in_schema=False)
    def docs(_who: Reader) -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="flexledger API",
            swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{DOCS_ASSETS}/favicon.png",
        )

    @app.get(DOCS_ASSETS + "/{name}", include_in_schema=False)
    def docs_asset(_who: Reader, name: str) -> FileResponse:
        if name not in SWAGGER_FILES:
            raise problems.Problem(404, f"name: {name!r}: no such file of the API's pages")
        return FileResponse(
            swagger_static() / name,
            media_type=SWAGGER_FILES[name],
            headers={"Cache-Control": "private, max-age=86400"},
        )

    app.add_middleware(PointBalances, state=app.state)  # inside Recorded: logged the same
    app.add_middleware(Recorded, access=access, clock=app.state.clock)
    return app


__all__ = ["create_app"]

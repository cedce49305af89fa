"""The point balance's fast lane: ``GET /api/accounts/{account}/balance`` without FastAPI's
per-request machinery, when nothing about the request needs it.

A point balance is the API's busiest and cheapest answer: its query costs 0.3 ms, and
FastAPI's routing, dependency solving and validation cost more than that again on every
request (``bench/README.md``, the HTTP section). ``PointBalances`` sits inside ``Recorded``
(so the access log and the last line of defence are the same as for every request) and
answers the request itself only when all of these hold:

- ``GET`` of exactly that path, with ``as_of`` given once and ``known_at`` at most once;
- a bearer token that the token cache (``ledger.api.auth.TokenCache``) verified within
  its window and that has not expired by the app's clock: the same check ``caller`` makes
  on a cache hit (any role may read);
- ``as_of`` and ``known_at`` pass the route's own parsers (``routes.as_of_date``,
  ``routes.known_at_time``) and the query answers.

It computes the answer with the route's own functions (``queries.balance`` on one
AUTOCOMMIT connection, ``views.balance_view``) and renders it as FastAPI renders a
returned dict, byte for byte. The query runs on the event loop, not in the thread pool:
it is a bounded index probe (0.3-0.5 ms at 10 million postings), and the hop to a thread
and back cost more CPU than that under 8 concurrent clients (the GIL passed between the
loop and the thread); the price is that the loop waits for it, so a stalled database
stalls this process's other requests too (serve with ``--workers`` for more than one).

Anything else (no token, a cookie, a token not in the cache, a bad date, an unknown
account, a refusal of any kind) goes on to the full app untouched, which answers it as
before: the 401, 403 and problem documents come from one place only.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qsl

from ledger import views
from ledger.api import routes
from ledger.api.auth import cache_of
from ledger.api.problems import Problem
from ledger.domain.errors import BadInput
from ledger.store import queries

PATH = re.compile(r"/api/accounts/([^/]+)/balance")
JSON_HEADERS = [(b"content-type", b"application/json")]


def _bearer(headers: list[tuple[bytes, bytes]]) -> str | None:
    """The bearer secret as ``auth.presented_secret`` reads it (the first Authorization
    header), or None when there is none or it is another scheme (the full app decides)."""
    for name, value in headers:
        if name == b"authorization":
            scheme, _, secret = value.decode("latin-1").partition(" ")
            return secret.strip() if scheme.lower() == "bearer" else None
    return None


def render(content: Any) -> bytes:
    """As ``fastapi.responses.JSONResponse`` renders a route's dict."""
    return json.dumps(
        content, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")
    ).encode("utf-8")


class PointBalances:
    """ASGI middleware: the fast lane; every other request passes to ``app``."""

    def __init__(self, app: Any, state: Any) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            found = PATH.fullmatch(scope["path"])
            if found is not None:
                body = await self._answer(scope, found.group(1))
                if body is not None:
                    headers = [(b"content-length", str(len(body)).encode()), *JSON_HEADERS]
                    await send({"type": "http.response.start", "status": 200, "headers": headers})
                    await send({"type": "http.response.body", "body": body})
                    return
        await self.app(scope, receive, send)

    async def _answer(self, scope: dict[str, Any], account: str) -> bytes | None:
        """The answer's body, or None: let the full app answer."""
        state = self.state
        who = cache_of(state).get(_bearer(scope["headers"]), state.clock.now())
        if who is None:
            return None
        given: dict[str, list[str]] = {}
        for name, value in parse_qsl(
            scope["query_string"].decode("latin-1"), keep_blank_values=True
        ):
            given.setdefault(name, []).append(value)
        as_of, known_at = given.get("as_of", []), given.get("known_at", [None])
        if len(as_of) != 1 or len(known_at) != 1:
            return None
        try:
            day = routes.as_of_date(as_of[0])
            moment = routes.known_at_time(known_at[0])
            total = self._total(account, day, moment)
        except (BadInput, Problem):
            return None
        scope.setdefault("state", {})["token_id"] = who.token_id
        return render(views.balance_view(account, day, moment, total))

    def _total(self, account: str, day: Any, moment: Any) -> int:
        engine = self.state.engine
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            return queries.balance(conn, account, day, moment)


__all__ = ["PointBalances"]

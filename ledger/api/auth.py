"""Who is asking: a bearer token (programs) or the ``flexledger_token`` cookie (pages).

``caller`` answers 401 with a problem document when the token is missing, unknown,
expired or revoked, and ``operator`` answers 403 to an auditor. Either way the token id,
when the secret named one, is left on ``request.state.token_id`` for the access log.

A verified token is remembered for ``TOKEN_CACHE_S`` seconds (``TokenCache``, keyed by the
secret's SHA-256, never the secret): within that window a request costs no database
lookup and no thread-pool hop. Its expiry is still checked on every request against the
app's clock; a revocation (``flexledger token revoke``, another process) takes effect
within ``TOKEN_CACHE_S``. Refusals are never remembered: an unknown, expired or revoked
token is looked up every time.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from ledger.api.problems import Problem
from ledger.domain.clock import as_utc
from ledger.store.access import PREFIX, Caller, Refused, authenticate, digest

COOKIE = "flexledger_token"

bearer = HTTPBearer(auto_error=False, description="A token from `flexledger token add`.")
cookie = APIKeyCookie(name=COOKIE, auto_error=False, description="Set by the login page.")


def presented_secret(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header:
        scheme, _, value = header.partition(" ")
        return value.strip() if scheme.lower() == "bearer" else None
    return request.cookies.get(COOKIE)


TOKEN_CACHE_S = 1.0
TOKEN_CACHE_SIZE = 1024


class TokenCache:
    """Verified tokens for a short while: SHA-256 of the secret -> (caller, expires_at,
    monotonic time it was verified)."""

    def __init__(self, seconds: float = TOKEN_CACHE_S) -> None:
        self.seconds = seconds
        self._found: dict[str, tuple[Caller, datetime, float]] = {}
        self._lock = threading.Lock()

    def get(self, secret: str | None, now: datetime) -> Caller | None:
        if not secret or not secret.startswith(PREFIX) or len(secret) > 200:
            return None
        key = digest(secret)
        hit = self._found.get(key)
        if hit is None:
            return None
        who, expires_at, verified = hit
        if time.monotonic() - verified >= self.seconds or as_utc(now) >= expires_at:
            with self._lock:
                self._found.pop(key, None)
            return None
        return who

    def put(self, secret: str, who: Caller, expires_at: datetime) -> None:
        with self._lock:
            if len(self._found) >= TOKEN_CACHE_SIZE:
                self._found.clear()
            self._found[digest(secret)] = (who, expires_at, time.monotonic())


def cache_of(state: Any) -> TokenCache:
    """The app's token cache (``app.state.token_cache``), made on first use."""
    cache = getattr(state, "token_cache", None)
    if cache is None:
        cache = state.token_cache = TokenCache()
    return cache


def _cache(request: Request) -> TokenCache:
    return cache_of(request.app.state)


def _remembered(request: Request) -> Caller | None:
    who = _cache(request).get(presented_secret(request), request.app.state.clock.now())
    if who is not None:
        request.state.token_id = who.token_id
    return who


def identify(request: Request) -> Caller:
    """The caller, or ``Refused``; remembers the token id on the request either way."""
    remembered = _remembered(request)
    if remembered is not None:
        return remembered
    engine = request.app.state.engine
    secret = presented_secret(request)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        try:
            found = authenticate(conn, secret, request.app.state.clock.now())
        except Refused as refused:
            request.state.token_id = refused.token_id
            raise
    if secret is not None and found.expires_at is not None:
        _cache(request).put(secret, found, found.expires_at)
    request.state.token_id = found.token_id
    return found


async def caller(
    request: Request,
    _bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    _cookie: Annotated[str | None, Depends(cookie)],
) -> Caller:
    try:
        remembered = _remembered(request)
        if remembered is not None:  # no database, no hop to the thread pool
            return remembered
        return await run_in_threadpool(identify, request)
    except Refused as refused:
        raise Problem(401, refused.reason, headers={"WWW-Authenticate": "Bearer"}) from None


def operator(who: Annotated[Caller, Depends(caller)]) -> Caller:
    if who.role != "operator":
        raise Problem(403, f"role {who.role} may only read: this needs the operator role")
    return who


Reader = Annotated[Caller, Depends(caller)]
Operator = Annotated[Caller, Depends(operator)]

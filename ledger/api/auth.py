"""Who is asking: a bearer token (programs) or the ``flexledger_token`` cookie (pages).

``caller`` answers 401 with a problem document when the token is missing, unknown,
expired or revoked, and ``operator`` answers 403 to an auditor. Either way the token id,
when the secret named one, is left on ``request.state.token_id`` for the access log.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer

from ledger.api.problems import Problem
from ledger.store.access import Caller, Refused, authenticate

COOKIE = "flexledger_token"

bearer = HTTPBearer(auto_error=False, description="A token from `flexledger token add`.")
cookie = APIKeyCookie(name=COOKIE, auto_error=False, description="Set by the login page.")


def presented_secret(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header:
        scheme, _, value = header.partition(" ")
        return value.strip() if scheme.lower() == "bearer" else None
    return request.cookies.get(COOKIE)


def identify(request: Request) -> Caller:
    """The caller, or ``Refused``; remembers the token id on the request either way."""
    engine = request.app.state.engine
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        try:
            found = authenticate(conn, presented_secret(request), request.app.state.clock.now())
        except Refused as refused:
            request.state.token_id = refused.token_id
            raise
    request.state.token_id = found.token_id
    return found


def caller(
    request: Request,
    _bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    _cookie: Annotated[str | None, Depends(cookie)],
) -> Caller:
    try:
        return identify(request)
    except Refused as refused:
        raise Problem(401, refused.reason, headers={"WWW-Authenticate": "Bearer"}) from None


def operator(who: Annotated[Caller, Depends(caller)]) -> Caller:
    if who.role != "operator":
        raise Problem(403, f"role {who.role} may only read: this needs the operator role")
    return who


Reader = Annotated[Caller, Depends(caller)]
Operator = Annotated[Caller, Depends(operator)]

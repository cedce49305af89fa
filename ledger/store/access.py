"""API tokens and the access log: issue, list, revoke, authenticate, record a request.

A token is ``flx_`` and 43 characters of ``secrets.token_urlsafe(32)`` (256 random
bits); the ledger keeps only its SHA-256, so a stolen database does not hand out tokens,
and a token's hash is compared in constant time. Tokens expire (``expires_at``) and are
revoked by an append-only ``api_token_revocations`` row: a revoked or expired token is
refused from that moment on, and nothing about a token is ever updated.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Connection, insert, select

from ledger.domain.clock import Clock, as_utc
from ledger.domain.errors import BadInput, UnknownToken
from ledger.store.access_tables import (
    ROLES,
    access_log,
    api_token_revocations,
    api_tokens,
    verify_runs,
)

PREFIX = "flx_"
MAX_DAYS = 3650
MAX_NAME = 100
MAX_PATH = 500


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """A token as ``token list`` shows it: never its secret, which is not stored."""

    id: int
    name: str
    role: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None

    def state(self, now: datetime) -> str:
        if self.revoked_at is not None and self.revoked_at <= now:
            return "revoked"
        if self.expires_at <= now:
            return "expired"
        return "active"


@dataclass(frozen=True, slots=True)
class Caller:
    """Who a request is from: an active token's id, name and role."""

    token_id: int
    name: str
    role: str
    expires_at: datetime | None = field(default=None, compare=False, repr=False)


class Refused(Exception):
    """Raised by ``authenticate`` when a token is missing, unknown, expired or revoked;
    ``token_id`` is the token's id when the presented secret named one (for the log)."""

    def __init__(self, reason: str, token_id: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.token_id = token_id


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def issue_token(conn: Connection, clock: Clock, role: str, name: str, days: int) -> tuple[int, str]:
    """Store a new token's hash; returns (id, the token), the only time the token exists."""
    if role not in ROLES:
        raise BadInput("role", f"{role!r} is not one of {', '.join(ROLES)}")
    if not 1 <= days <= MAX_DAYS:
        raise BadInput("expires", f"{days} is not a number of days from 1 to {MAX_DAYS}")
    name = name.strip()
    if not name or len(name) > MAX_NAME or not name.isprintable():
        raise BadInput("name", f"must be 1 to {MAX_NAME} printable characters")
    secret = PREFIX + secrets.token_urlsafe(32)
    now = as_utc(clock.now())
    token_id = conn.execute(
        insert(api_tokens)
        .values(
            name=name,
            role=role,
            secret_sha256=digest(secret),
            created_at=now,
            expires_at=now + timedelta(days=days),
        )
        .returning(api_tokens.c.id)
    ).scalar_one()
    return int(token_id), secret


def list_tokens(conn: Connection) -> list[TokenInfo]:
    query = (
        select(api_tokens, api_token_revocations.c.revoked_at)
        .outerjoin(api_token_revocations, api_token_revocations.c.token_id == api_tokens.c.id)
        .order_by(api_tokens.c.id)
    )
    return [
        TokenInfo(
            row.id,
            row.name,
            row.role,
            as_utc(row.created_at),
            as_utc(row.expires_at),
            as_utc(row.revoked_at) if row.revoked_at is not None else None,
        )
        for row in conn.execute(query)
    ]


def revoke_token(conn: Connection, clock: Clock, token_id: int) -> bool:
    """Revoke a token from now on; False (and nothing written) if it was revoked already."""
    known = conn.execute(select(api_tokens.c.id).where(api_tokens.c.id == token_id)).first()
    if known is None:
        raise UnknownToken(token_id)
    done = conn.execute(
        select(api_token_revocations.c.token_id).where(api_token_revocations.c.token_id == token_id)
    ).first()
    if done is not None:
        return False
    conn.execute(insert(api_token_revocations).values(token_id=token_id, revoked_at=clock.now()))
    return True


def authenticate(conn: Connection, secret: str | None, now: datetime) -> Caller:
    """The caller a presented token stands for; ``Refused`` says why not."""
    if not secret:
        raise Refused("no token: send `Authorization: Bearer <token>` or log in")
    if not secret.startswith(PREFIX) or len(secret) > 200:
        raise Refused("not a flexledger token")
    wanted = digest(secret)
    row = conn.execute(
        select(api_tokens, api_token_revocations.c.revoked_at)
        .outerjoin(api_token_revocations, api_token_revocations.c.token_id == api_tokens.c.id)
        .where(api_tokens.c.secret_sha256 == wanted)
    ).first()
    if row is None or not hmac.compare_digest(row.secret_sha256, wanted):
        raise Refused("unknown token")
    now = as_utc(now)
    if row.revoked_at is not None and as_utc(row.revoked_at) <= now:
        raise Refused("token revoked", row.id)
    if as_utc(row.expires_at) <= now:
        raise Refused("token expired", row.id)
    return Caller(int(row.id), row.name, row.role, as_utc(row.expires_at))


def record_access(
    conn: Connection, token_id: int | None, at: datetime, method: str, path: str, status: int
) -> None:
    conn.execute(
        insert(access_log).values(
            token_id=token_id, at=at, method=method[:10], path=path[:MAX_PATH], status=status
        )
    )


def record_verify_run(
    conn: Connection,
    token_id: int,
    started_at: datetime,
    finished_at: datetime,
    result: dict[str, object],
) -> int:

    run_id = conn.execute(
        insert(verify_runs)
        .values(
            token_id=token_id,
            started_at=started_at,
            finished_at=finished_at,
            ok=bool(result["ok"]),
            entries=result["entries"],
            postings=result["postings"],
            anchors=result["anchors"],
            checkpoints=result["checkpoints"],
            first_bad_entry=result["first_bad_entry"],
            problems=json.dumps(result["problems"], ensure_ascii=False),
        )
        .returning(verify_runs.c.id)
    ).scalar_one()
    return int(run_id)


def _run_view(row) -> dict[str, object]:  # type: ignore[no-untyped-def]

    return {
        "run": row.id,
        "by_token": row.token_id,
        "started_at": as_utc(row.started_at).isoformat(),
        "finished_at": as_utc(row.finished_at).isoformat(),
        "ok": bool(row.ok),
        "entries": row.entries,
        "postings": row.postings,
        "anchors": row.anchors,
        "checkpoints": row.checkpoints,
        "first_bad_entry": row.first_bad_entry,
        "problems": json.loads(row.problems),
    }


def last_verify_run(conn: Connection) -> dict[str, object] | None:
    row = conn.execute(select(verify_runs).order_by(verify_runs.c.id.desc()).limit(1)).first()
    return None if row is None else _run_view(row)


def verify_run(conn: Connection, run_id: int) -> dict[str, object] | None:
    """One verify run by its id, shaped as ``last_verify_run``'s."""
    row = conn.execute(select(verify_runs).where(verify_runs.c.id == run_id)).first()
    return None if row is None else _run_view(row)

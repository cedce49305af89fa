"""Who may see what: tokens stored hashed, every request in an append-only access log.

Given the served ledger, when requests are made with and without tokens, then each is one
``access_log`` row (token id, time, method, path, status), a refused token's id included
when it named one; the database refuses UPDATE and DELETE on the log and the token tables
(and TRUNCATE on PostgreSQL); no token appears in a stored row, a page or an answer.
"""

from __future__ import annotations

import hashlib
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from ledger.api.app import create_app
from ledger.domain.clock import FixedClock, SystemClock
from ledger.store.access import issue_token, revoke_token
from ledger.store.access_tables import (
    ACCESS_APPEND_ONLY_TABLES,
    access_log,
    api_token_revocations,
    api_tokens,
    verify_runs,
)
from tests.api.conftest import TestClient


def _rows_for(served, path: str) -> list:  # type: ignore[no-untyped-def]
    assert served.client.app.state.access_log.flush()  # rows are written off the request path
    with served.engine.connect() as conn:
        return conn.execute(
            select(access_log).where(access_log.c.path == path).order_by(access_log.c.id)
        ).all()


def test_every_request_is_one_access_log_row_saying_who_when_what_and_the_status(served):
    path = "/api/accounts/pooling:pension:999999/balance"
    before = datetime.now(UTC)
    served.get(f"{path}?as_of=2018-12-31", served.auditor)  # 404
    served.get(f"{path}?as_of=2018-12-31")  # no token: 401
    served.get(f"{path}?as_of=2018-12-31", served.expired)  # 401, the token is known
    served.get(f"{path}?as_of=nope", served.operator)  # 400
    rows = _rows_for(served, path)
    assert [(r.token_id, r.method, r.status) for r in rows] == [
        (served.ids["auditor"], "GET", 404),
        (None, "GET", 401),
        (served.ids["expired"], "GET", 401),
        (served.ids["operator"], "GET", 400),
    ]
    for row in rows:
        at = row.at if row.at.tzinfo else row.at.replace(tzinfo=UTC)
        assert before <= at <= datetime.now(UTC)


def test_a_verify_run_and_a_refused_one_are_both_logged(served):
    served.post("/api/verify", served.auditor)
    served.post("/api/verify", served.operator)
    statuses = [(r.token_id, r.method, r.status) for r in _rows_for(served, "/api/verify")]
    assert (served.ids["auditor"], "POST", 403) in statuses
    assert (served.ids["operator"], "POST", 202) in statuses


def test_a_failed_request_is_logged_with_status_500(served, monkeypatch):
    from ledger.store import queries

    monkeypatch.setattr(queries, "affiliated_arrangements", lambda conn: 1 / 0)
    served.get("/api/arrangements", served.auditor)
    assert _rows_for(served, "/api/arrangements")[-1].status == 500


def test_every_queued_access_log_row_is_written_when_the_app_shuts_down_cleanly(served):
    """The log is written in batches off the request path (``ledger.api.accesslog``): a
    clean shutdown (the lifespan's end, as uvicorn's on SIGTERM) loses no row."""
    path = "/api/accounts/pooling:pension:999998/balance"
    app = create_app(served.engine)
    with TestClient(app, raise_server_exceptions=False) as client:
        for n in range(50):
            client.get(f"{path}?as_of=2018-12-{n % 28 + 1:02d}")
    rows = _rows_for(served, path)
    assert [(r.token_id, r.status) for r in rows] == [(None, 401)] * 50


def test_a_cached_token_is_refused_once_it_expires(served):
    """Verified tokens are remembered briefly (``ledger.api.auth.TokenCache``), but their
    expiry is checked on every request against the app's clock."""
    clock = FixedClock(datetime.now(UTC))
    with served.engine.begin() as conn:
        _, secret = issue_token(conn, clock, "auditor", "short", 1)
    client = TestClient(create_app(served.engine, clock), raise_server_exceptions=False)
    headers = {"Authorization": f"Bearer {secret}"}
    assert client.get("/api/verify", headers=headers).status_code == 200
    clock.advance_to(clock.now() + timedelta(days=1))
    answer = client.get("/api/verify", headers=headers)
    assert (answer.status_code, answer.json()["detail"]) == (401, "token expired")


def test_a_revoked_token_is_refused_within_the_cache_window(served):
    """A revocation from another process takes effect within ``TOKEN_CACHE_S``."""
    from ledger.api.auth import TOKEN_CACHE_S

    with served.engine.begin() as conn:
        token_id, secret = issue_token(conn, SystemClock(), "auditor", "soon revoked", 1)
    client = TestClient(create_app(served.engine), raise_server_exceptions=False)
    headers = {"Authorization": f"Bearer {secret}"}
    assert client.get("/api/verify", headers=headers).status_code == 200
    with served.engine.begin() as conn:
        revoke_token(conn, SystemClock(), token_id)
    time.sleep(TOKEN_CACHE_S)
    answer = client.get("/api/verify", headers=headers)
    assert (answer.status_code, answer.json()["detail"]) == (401, "token revoked")


def test_tokens_are_stored_as_their_sha256_and_appear_in_no_row_page_or_answer(served):
    with served.engine.connect() as conn:
        stored = dict(conn.execute(select(api_tokens.c.id, api_tokens.c.secret_sha256)).all())
    for role in ("auditor", "operator", "expired", "revoked"):
        secret = getattr(served, role)
        assert stored[served.ids[role]] == hashlib.sha256(secret.encode()).hexdigest()
    served.client.cookies.clear()
    login = served.client.post("/login", data={"token": served.operator}, follow_redirects=False)
    assert login.status_code == 303
    answers = [served.client.get(p).text for p in ("/", "/verify", "/trial-balance", "/exports")]
    answers += [
        served.get("/openapi.json", served.operator).text,
        served.get("/api/verify", served.expired).text,
        served.client.post("/login", data={"token": served.revoked}).text,
    ]
    served.client.cookies.clear()
    with served.engine.connect() as conn:
        dumped = [
            str(tuple(r))
            for t in (access_log, api_tokens, verify_runs)
            for r in conn.execute(select(t))
        ]
    for secret in (served.auditor, served.operator, served.expired, served.revoked):
        assert all(secret not in text for text in answers + dumped)


def _one_row_in_each(served) -> None:  # type: ignore[no-untyped-def]
    served.post("/api/verify", served.operator)
    served.finish_jobs()
    assert served.client.app.state.access_log.flush()
    with served.engine.connect() as conn:
        for table in (api_tokens, api_token_revocations, access_log, verify_runs):
            assert conn.execute(select(func.count()).select_from(table)).scalar_one() > 0


CHANGES = [
    ("api_tokens", "UPDATE api_tokens SET role = 'operator'"),
    ("api_tokens", "DELETE FROM api_tokens"),
    ("api_token_revocations", "UPDATE api_token_revocations SET revoked_at = revoked_at"),
    ("api_token_revocations", "DELETE FROM api_token_revocations"),
    ("access_log", "UPDATE access_log SET status = 200"),
    ("access_log", "DELETE FROM access_log"),
    ("verify_runs", "UPDATE verify_runs SET ok = false"),
    ("verify_runs", "DELETE FROM verify_runs"),
]


def test_every_access_table_is_covered_by_the_refusal_tests():
    assert {table for table, _ in CHANGES} == set(ACCESS_APPEND_ONLY_TABLES)


@pytest.mark.parametrize(("table", "statement"), CHANGES, ids=[s for _, s in CHANGES])
def test_the_database_refuses_to_change_the_access_log_or_the_tokens(served, table, statement):
    _one_row_in_each(served)
    with served.engine.connect() as conn:
        before = conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
    with pytest.raises(IntegrityError, match=f"{table} is append-only"):
        with served.engine.begin() as conn:
            conn.execute(text(statement))
    with served.engine.connect() as conn:
        assert conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one() == before


@pytest.mark.parametrize("table", ACCESS_APPEND_ONLY_TABLES)
def test_postgres_refuses_to_truncate_the_access_log_or_the_tokens(served, table):
    if served.backend != "postgres":
        pytest.skip("TRUNCATE is PostgreSQL's; SQLite has none")
    _one_row_in_each(served)
    with pytest.raises(IntegrityError, match="append-only"):
        with served.engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {table} CASCADE"))

"""The point balance's fast lane (``ledger.api.fastlane``) answers as the full app does.

Given the served ledger and a token the cache has verified, when a balance is asked with a
bearer token (the fast lane) and the same with the login cookie (which the fast lane
leaves to the full app), then the two answers are the same bytes with the same headers;
the fast lane's request is one access-log row like any other; and every request it does
not answer itself (no token, a cookie, an unverified token, a bad or repeated date, an
unknown account) is handed on untouched, so its refusal is the full app's.
"""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from ledger.api.auth import COOKIE, cache_of
from ledger.api.fastlane import PointBalances
from ledger.store.access_tables import access_log
from ledger.store.tables import accounts
from tests.api.conftest import TestClient

UNKNOWN = "pooling:pension:999999"


@pytest.fixture
def account(served) -> str:  # type: ignore[no-untyped-def]
    """A pension pool of the served ledger; one request for it through the full app puts
    the auditor's token in the cache."""
    with served.engine.connect() as conn:
        name = conn.execute(
            select(accounts.c.name).where(accounts.c.name.like("pooling:pension:%")).limit(1)
        ).scalar_one()
    answer = served.get(
        f"/api/accounts/{name}/balance", served.auditor, params={"as_of": "2018-12-31"}
    )
    assert answer.status_code == 200
    return name


@pytest.mark.parametrize("known_at", [None, "2019-03-01T00:00:00+00:00"])
def test_the_fast_lanes_answer_is_the_full_apps_byte_for_byte(served, account, known_at):
    path = f"/api/accounts/{account}/balance"
    params = {"as_of": "2018-06-30"} | ({"known_at": known_at} if known_at else {})
    fast = served.get(path, served.auditor, params=params)
    full = TestClient(served.client.app, cookies={COOKIE: served.auditor}).get(path, params=params)
    assert fast.status_code == full.status_code == 200
    assert fast.content == full.content
    assert fast.json()["balance"] != "0.00"
    for header in ("content-type", "content-length"):
        assert fast.headers[header] == full.headers[header]


def test_a_fast_lane_answer_is_one_access_log_row_with_its_token(served, account):
    path = f"/api/accounts/{account}/balance"
    assert served.client.app.state.access_log.flush()
    with served.engine.connect() as conn:
        before = conn.execute(select(access_log.c.id).order_by(access_log.c.id.desc())).first()
    served.get(path, served.auditor, params={"as_of": "2017-01-01"})
    assert served.client.app.state.access_log.flush()
    with served.engine.connect() as conn:
        rows = conn.execute(
            select(access_log).where(access_log.c.id > (before.id if before else 0))
        ).all()
    assert [(r.token_id, r.method, r.path, r.status) for r in rows] == [
        (served.ids["auditor"], "GET", path, 200)
    ]


def _lane_answers(served, headers: list, query: bytes, account: str):  # type: ignore[no-untyped-def]
    lane = PointBalances(app=None, state=served.client.app.state)
    scope = {"headers": headers, "query_string": query, "state": {}}
    return asyncio.run(lane._answer(scope, account))


@pytest.mark.parametrize(
    ("why", "headers", "query", "asked"),
    [
        ("no token", [], b"as_of=2018-12-31", None),
        ("another scheme", [(b"authorization", b"Basic eA==")], b"as_of=2018-12-31", None),
        (
            "an unverified token",
            [(b"authorization", b"Bearer flx_nope")],
            b"as_of=2018-12-31",
            None,
        ),
        ("no as_of", "auditor", b"known_at=2019-01-01", None),
        ("as_of twice", "auditor", b"as_of=2018-12-31&as_of=2017-12-31", None),
        ("a bad as_of", "auditor", b"as_of=nope", None),
        ("a bad known_at", "auditor", b"as_of=2018-12-31&known_at=later", None),
        ("an unknown account", "auditor", b"as_of=2018-12-31", UNKNOWN),
    ],
)
def test_the_fast_lane_hands_on_what_it_does_not_answer_itself(
    served, account, why, headers, query, asked
):
    if headers == "auditor":
        headers = [(b"authorization", f"Bearer {served.auditor}".encode())]
    assert _lane_answers(served, headers, query, asked or account) is None, why


def test_the_fast_lane_answers_a_verified_token_and_only_while_the_cache_holds_it(served, account):
    headers = [(b"authorization", f"Bearer {served.auditor}".encode())]
    assert _lane_answers(served, headers, b"as_of=2018-12-31", account) is not None
    cache_of(served.client.app.state)._found.clear()
    assert _lane_answers(served, headers, b"as_of=2018-12-31", account) is None

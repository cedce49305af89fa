"""Every refusal is a 4xx RFC 9457 problem document naming the field and the rule.

Given the served ledger, when a request carries no token, a wrong, expired or revoked one,
an auditor's where an operator's is needed, or bad input, then the answer is 401, 403 or
400/404 as ``application/problem+json`` with type, title, status, detail and instance
(and field and rule for bad input); an unforeseen failure is a 500 problem with neither a
traceback nor a secret, in the answer or the log.
"""

from __future__ import annotations

import logging

import pytest

PROBLEM = "application/problem+json"


def _problem(answer, status: int) -> dict:  # type: ignore[no-untyped-def]
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == PROBLEM
    doc = answer.json()
    assert doc["status"] == status
    assert {"type", "title", "status", "detail", "instance"} <= set(doc)
    assert "Traceback" not in answer.text
    return doc


READS = [
    "/api/trial-balance?as_of=2018-12-31",
    "/api/arrangements",
    "/api/entries",
    "/api/export/csv",
    "/api/verify",
    "/openapi.json",
    "/docs",
]


@pytest.mark.parametrize("path", READS)
@pytest.mark.parametrize("who", ["none", "wrong", "malformed", "expired", "revoked"])
def test_a_request_without_a_usable_token_is_401(served, path, who):
    token = {
        "none": None,
        "wrong": "flx_" + "A" * 43,
        "malformed": "hunter2",
        "expired": served.expired,
        "revoked": served.revoked,
    }[who]
    doc = _problem(served.get(path, token), 401)
    assert doc["type"] == "/problems/not-authenticated"
    assert (
        doc["detail"]
        == {
            "none": "no token: send `Authorization: Bearer <token>` or log in",
            "wrong": "unknown token",
            "malformed": "not a flexledger token",
            "expired": "token expired",
            "revoked": "token revoked",
        }[who]
    )
    assert served.get(path, token).headers["www-authenticate"] == "Bearer"


def test_a_basic_authorization_header_is_not_a_token(served):
    answer = served.client.get("/api/arrangements", headers={"Authorization": "Basic abc"})
    _problem(answer, 401)


def test_an_auditor_may_not_start_a_verify_run(served):
    doc = _problem(served.post("/api/verify", served.auditor), 403)
    assert doc["type"] == "/problems/forbidden"
    assert "operator" in doc["detail"]


BAD_INPUT = [
    ("/api/trial-balance?as_of=2018-13-01", "as_of", "is not a real date of the form YYYY-MM-DD"),
    ("/api/trial-balance", "as_of", "Field required"),
    ("/api/trial-balance?as_of=1899-12-31", "as_of", "is outside 1900-01-01 to 2200-12-31"),
    ("/api/pooling?as_of=2018-12-31&known_at=yesterday", "known_at", "is not an ISO date"),
    ("/api/pooling?as_of=2018-12-31&known_at=2201-01-01", "known_at", "is outside"),
    ("/api/entries?limit=501", "limit", "less than or equal to 500"),
    ("/api/entries?limit=0", "limit", "greater than or equal to 1"),
    ("/api/entries?after=-1", "after", "greater than or equal to 0"),
    ("/api/entries?after=x", "after", "valid integer"),
    ("/api/accounts?offset=10000001", "offset", "less than or equal to 10000000"),
    ("/api/accounts?kind=savings", "kind", "'savings' is not one of"),
    ("/api/accounts?region=11", "region", "is not a 6-digit region code"),
    ("/api/accounts?member=123", "member", "is not an 18-character citizen ID number"),
    ("/api/members/123/statement", "member", "is not an 18-character citizen ID number"),
    ("/api/members/110105194912310029/statement?limit=1000", "limit", "less than or equal"),
    ("/api/months?member=abc", "member", "is not an 18-character citizen ID number"),
    ("/api/entries/0", "entry_id", "greater than or equal to 1"),
    ("/api/months?limit=501", "limit", "less than or equal to 500"),
    ("/api/entries?after=9223372036854775808", "after", "less than or equal to"),
    ("/api/entries/99999999999999999999", "entry_id", "less than or equal to"),
    ("/api/arrangements?offset=-1", "offset", "greater than or equal to 0"),
    ("/api/arrangements?member=abc", "member", "is not an 18-character citizen ID number"),
    ("/api/trial-balance?as_of=1899-12-31", "as_of", "is outside"),
    ("/api/accounts/pooling:pension:110000/balance?as_of=2018-02-30", "as_of", "not a real date"),
]


@pytest.mark.parametrize(("path", "field", "rule"), BAD_INPUT, ids=[p for p, _, _ in BAD_INPUT])
def test_bad_input_is_400_naming_the_field_and_the_rule(served, path, field, rule):
    doc = _problem(served.get(path, served.auditor), 400)
    assert doc["type"] == "/problems/bad-input"
    assert doc["field"] == field
    assert rule in doc["rule"]
    assert doc["detail"].startswith(f"{field}: ")


NOT_FOUND = [
    ("/api/accounts/pooling:pension:999999/balance?as_of=2018-12-31", "account"),
    ("/api/members/110105194912310029/statement", "member"),
    ("/api/months?member=110105194912310029", "member"),
    ("/api/entries/99999999", "entry_id"),
    ("/api/no-such-thing", None),
]


@pytest.mark.parametrize(("path", "field"), NOT_FOUND, ids=[p for p, _ in NOT_FOUND])
def test_an_unknown_member_account_entry_or_route_is_404(served, path, field):
    doc = _problem(served.get(path, served.auditor), 404)
    assert doc["type"] == "/problems/not-found"
    assert doc.get("field") == field


def test_a_wrong_method_is_a_405_problem(served):
    doc = _problem(
        served.client.delete("/api/verify", headers={"Authorization": f"Bearer {served.operator}"}),
        405,
    )
    assert doc["type"] == "/problems/method-not-allowed"


def test_an_unforeseen_failure_is_a_500_problem_without_traceback_or_secret(
    served, monkeypatch, caplog
):
    from ledger.store import queries

    secret = "postgresql://ledger:hunter2-password@db/ledger"

    def broken(*_args, **_kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError(f"cannot reach {secret} with {served.auditor}")

    monkeypatch.setattr(queries, "trial_balance", broken)
    with caplog.at_level(logging.DEBUG):
        answer = served.get("/api/trial-balance?as_of=2018-12-31", served.auditor)
    doc = _problem(answer, 500)
    assert doc["type"] == "/problems/internal-error"
    assert "incident" in doc["detail"]
    incident = doc["detail"].split("incident ")[1].split(":")[0]
    for text in (answer.text, caplog.text):
        assert "hunter2" not in text
        assert served.auditor not in text
    assert incident in caplog.text and "RuntimeError" in caplog.text

"""Every read endpoint answers exactly what the CLI's ``--json`` prints on the same ledger.

Given a simulated ledger on SQLite and on PostgreSQL and an auditor's token, when each
endpoint is asked what the matching command is asked, then the JSON documents are equal
(amounts as yuan strings, both time axes); pages of a statement or of the entries put
together are the whole; exports stream the CLI's bytes.
"""

from __future__ import annotations

from itertools import pairwise

import pytest
from sqlalchemy import select

from ledger.store.tables import accounts, entries

AS_OF = "2018-12-31"
KNOWN_AT = "2018-03-31T12:00:00+00:00"


def _member(served) -> str:  # type: ignore[no-untyped-def]
    with served.engine.connect() as conn:
        return conn.execute(
            select(entries.c.member_id)
            .where(entries.c.member_id.is_not(None))
            .order_by(entries.c.id)
            .limit(1)
        ).scalar_one()


def _account(served, prefix: str) -> str:  # type: ignore[no-untyped-def]
    with served.engine.connect() as conn:
        return conn.execute(
            select(accounts.c.name).where(accounts.c.name.like(f"{prefix}%")).limit(1)
        ).scalar_one()


@pytest.mark.parametrize("known_at", [None, KNOWN_AT], ids=["everything", "known-at"])
def test_a_balance_is_the_clis_on_both_time_axes(served, cli_json, known_at):
    account = _account(served, "pooling:pension:")
    axes = {"as_of": AS_OF} | ({"known_at": known_at} if known_at else {})
    answer = served.get(f"/api/accounts/{account}/balance", served.auditor, params=axes)
    args = ["balance", account, "--as-of", AS_OF] + (["--known-at", known_at] if known_at else [])
    assert answer.status_code == 200
    assert answer.json() == cli_json(*args)
    assert answer.json()["balance"] != "0.00"


@pytest.mark.parametrize("known_at", [None, KNOWN_AT], ids=["everything", "known-at"])
def test_the_trial_balance_is_the_clis_and_sums_to_zero(served, cli_json, known_at):
    axes = {"as_of": AS_OF} | ({"known_at": known_at} if known_at else {})
    answer = served.get("/api/trial-balance", served.auditor, params=axes)
    args = ["trial-balance", "--as-of", AS_OF] + (["--known-at", known_at] if known_at else [])
    assert answer.json() == cli_json(*args)
    assert answer.json()["total"] == "0.00"
    assert len(answer.json()["accounts"]) > 10


@pytest.mark.parametrize("known_at", [None, KNOWN_AT], ids=["everything", "known-at"])
def test_the_pooling_funds_are_the_clis(served, cli_json, known_at):
    axes = {"as_of": AS_OF} | ({"known_at": known_at} if known_at else {})
    answer = served.get("/api/pooling", served.auditor, params=axes)
    args = ["pooling", "--as-of", AS_OF] + (["--known-at", known_at] if known_at else [])
    assert answer.json() == cli_json(*args)
    assert answer.json()["pools"]


def test_a_statement_is_the_clis_and_its_pages_put_together_are_the_whole(served, cli_json):
    member = _member(served)
    whole = cli_json("statement", "--member", member, "--as-of", AS_OF)
    pages, offset = [], 0
    while True:
        page = served.get(
            f"/api/members/{member}/statement",
            served.auditor,
            params={"as_of": AS_OF, "limit": 7, "offset": offset},
        ).json()
        assert page["page"] == {"offset": offset, "limit": 7, "total": len(whole["lines"])}
        pages.extend(page["lines"])
        offset += 7
        if offset >= page["page"]["total"]:
            break
    assert len(whole["lines"]) > 7
    assert pages == whole["lines"]
    first = served.get(
        f"/api/members/{member}/statement", served.auditor, params={"as_of": AS_OF, "limit": 500}
    ).json()
    assert {k: v for k, v in first.items() if k != "page"} == whole


def test_a_statement_as_known_at_a_time_is_the_clis(served, cli_json):
    member = _member(served)
    answer = served.get(
        f"/api/members/{member}/statement",
        served.auditor,
        params={"known_at": KNOWN_AT, "limit": 500},
    ).json()
    whole = cli_json("statement", "--member", member, "--known-at", KNOWN_AT)
    assert {k: v for k, v in answer.items() if k != "page"} == whole


def _unpaged(answer: dict) -> dict:
    return {k: v for k, v in answer.items() if k != "page"}


@pytest.mark.parametrize("for_member", [False, True], ids=["everyone", "one-member"])
def test_contribution_months_are_the_clis(served, cli_json, for_member):
    member = _member(served)
    params = {"member": member} if for_member else {}
    answer = served.get("/api/months", served.auditor, params=params).json()
    cli = cli_json("months", *(["--member", member] if for_member else []))
    assert _unpaged(answer) == cli
    assert answer["page"] == {"offset": 0, "limit": 500, "total": len(cli["months"])}
    assert answer["months"]


def test_contribution_months_a_page_at_a_time_are_the_whole(served, cli_json):
    whole = cli_json("months")["months"]
    seen, offset = [], 0
    while offset < len(whole):
        page = served.get(
            "/api/months", served.auditor, params={"limit": 9, "offset": offset}
        ).json()
        assert page["page"]["total"] == len(whole)
        seen.extend(page["months"])
        offset += 9
    assert len(whole) > 9 and seen == whole


def test_affiliated_arrangements_are_the_clis(served, cli_json):
    answer = served.get("/api/arrangements", served.auditor).json()
    cli = cli_json("arrangements")
    assert _unpaged(answer) == cli
    assert answer["page"]["total"] == len(cli["arrangements"])
    assert answer["arrangements"], "seed 3 has members paying through an HR company"
    member = cli["arrangements"][0]["member"]
    one = served.get("/api/arrangements", served.auditor, params={"member": member}).json()
    assert one["arrangements"] == [a for a in cli["arrangements"] if a["member"] == member]


def test_accounts_are_found_by_member_region_and_kind(served):
    member = _member(served)
    with served.engine.connect() as conn:
        names = list(conn.execute(select(accounts.c.name).order_by(accounts.c.name)).scalars())
    cases = {
        ("member", member): [n for n in names if n.endswith(f":{member}")],
        ("region", "110000"): [n for n in names if n.endswith(":110000")],
        ("kind", "pooling"): [n for n in names if n.startswith("pooling:")],
    }
    for (field, value), expected in cases.items():
        found = served.get("/api/accounts", served.auditor, params={field: value}).json()
        assert [a["account"] for a in found["accounts"]] == expected, field
        assert found["page"]["total"] == len(expected)
        assert expected
    paged = served.get("/api/accounts", served.auditor, params={"limit": 5, "offset": 5}).json()
    assert [a["account"] for a in paged["accounts"]] == names[5:10]


def test_entries_come_in_chain_order_with_their_hashes_a_page_at_a_time(served):
    with served.engine.connect() as conn:
        stored = conn.execute(
            select(entries.c.id, entries.c.prev_hash, entries.c.hash)
            .order_by(entries.c.id)
            .limit(25)
        ).all()
    seen, after = [], 0
    while len(seen) < 25:
        page = served.get("/api/entries", served.auditor, params={"after": after, "limit": 10})
        body = page.json()
        seen.extend(body["entries"])
        after = body["next_after"]
    assert [(e["id"], e["prev_hash"], e["hash"]) for e in seen[:25]] == [tuple(r) for r in stored]
    assert all(e["chain_position"] == e["id"] for e in seen)
    assert all(later["prev_hash"] == earlier["hash"] for earlier, later in pairwise(seen))
    one = seen[3]
    assert served.get(f"/api/entries/{one['id']}", served.auditor).json() == one
    total = sum(int(p["amount"].replace(".", "")) for p in one["postings"])
    assert total == 0 and len(one["postings"]) >= 2


def test_the_last_entry_page_says_there_is_no_next(served):
    with served.engine.connect() as conn:
        head = conn.execute(select(entries.c.id).order_by(entries.c.id.desc())).first()[0]
    body = served.get("/api/entries", served.auditor, params={"after": head - 3}).json()
    assert [e["id"] for e in body["entries"]] == [head - 2, head - 1, head]
    assert body["next_after"] is None


@pytest.mark.parametrize("path", ["ledger", "csv"])
def test_exports_stream_the_same_bytes_the_cli_writes(served, path, tmp_path, monkeypatch):
    from ledger.cli import main
    from ledger.cli.context import settings

    monkeypatch.setenv("FLEXLEDGER_DATABASE_URL", served.url)
    settings.cache_clear()
    written = tmp_path / f"export.{path}"
    assert main(["export", "--format", path, "--out", str(written)]) == 0
    settings.cache_clear()
    with served.client.stream(
        "GET", f"/api/export/{path}", headers={"Authorization": f"Bearer {served.auditor}"}
    ) as answer:
        assert answer.status_code == 200
        assert "attachment" in answer.headers["content-disposition"]
        body = b"".join(answer.iter_bytes())
    assert body == written.read_bytes()
    assert len(body) > 10_000


def test_an_operator_starts_verify_in_the_background_and_its_result_is_the_clis(served, cli_json):
    started = served.post("/api/verify", served.operator)
    assert started.status_code == 202
    job = started.json()["job"]
    assert started.headers["location"] == f"/api/verify/jobs/{job['job']}"
    assert job["status"] == "queued" and job["result"] is None
    assert job["by_token"] == served.ids["operator"]
    served.finish_jobs()
    followed = served.get(started.headers["location"], served.auditor)
    assert followed.status_code == 200
    done = followed.json()["job"]
    assert done["status"] == "done" and done["attempts"] == 1 and done["error"] is None
    run = done["result"]
    cli = cli_json("verify")
    assert {k: run[k] for k in cli if k != "anchored"} == {
        k: v for k, v in cli.items() if k != "anchored"
    }
    assert run["ok"] is True and run["by_token"] == served.ids["operator"]
    assert served.get("/api/verify", served.auditor).json() == {"last_run": run}


def test_the_same_idempotency_key_starts_one_verify_job(served):
    from sqlalchemy import func

    from ledger.store.access_tables import verify_runs

    key = {"Idempotency-Key": f"nightly-{served.backend}"}
    first = served.client.post(
        "/api/verify", headers={"Authorization": f"Bearer {served.operator}", **key}
    )
    served.finish_jobs()
    with served.engine.connect() as conn:
        runs = conn.execute(select(func.count()).select_from(verify_runs)).scalar_one()
    again = served.client.post(
        "/api/verify", headers={"Authorization": f"Bearer {served.operator}", **key}
    )
    served.finish_jobs()
    assert first.status_code == again.status_code == 202
    assert again.json()["job"]["job"] == first.json()["job"]["job"]
    assert again.json()["job"]["status"] == "done"
    with served.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(verify_runs)).scalar_one() == runs


def test_a_verify_job_left_by_a_stopped_server_is_done_when_the_next_one_starts(served):
    """The job is written before the answer: a server that stopped before running it
    leaves it queued, and the next server's start runs it."""
    from datetime import UTC, datetime

    from fastapi.testclient import TestClient

    from ledger.api.app import create_app
    from workers import verify_jobs

    with served.engine.begin() as conn:
        job_id, _, written = verify_jobs.start(conn, served.ids["operator"], datetime.now(UTC))
    assert written
    app = create_app(served.engine)
    with TestClient(app):  # the lifespan: resume, then close (which waits for the job)
        pass
    answer = served.get(f"/api/verify/jobs/{job_id}", served.auditor).json()["job"]
    assert answer["status"] == "done" and answer["result"]["ok"] is True


def test_a_verify_job_through_the_broker_is_done_by_a_worker(served):
    """With Redis the API only relays the message; the ``verify_ledger`` actor run by a
    dramatiq worker (here an in-process one on the stub broker) does the job."""
    from fastapi.testclient import TestClient

    from ledger.api.app import create_app
    from ledger.api.jobs import Relayed
    from ledger.config import Settings
    from workers import app, runtime

    broker, _ = app.start(Settings(database_url=served.url), engine=served.engine)
    try:
        client = TestClient(create_app(served.engine, jobs=Relayed(served.engine, broker)))
        started = client.post("/api/verify", headers={"Authorization": f"Bearer {served.operator}"})
        assert started.status_code == 202
        location = started.headers["location"]
        runtime.drain(served.engine, broker, 1)
    finally:
        runtime.configure(Settings())  # forget the test's engine
    done = served.get(location, served.auditor).json()["job"]
    assert done["status"] == "done" and done["result"]["ok"] is True


@pytest.mark.parametrize(
    ("job_id", "status"),
    [("not-a-uuid", 400), ("00000000-0000-5000-8000-000000000000", 404)],
)
def test_a_bad_or_unknown_verify_job_is_a_problem(served, job_id, status):
    answer = served.get(f"/api/verify/jobs/{job_id}", served.auditor)
    assert answer.status_code == status
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.json()["field"] == "job_id"


def test_a_bad_idempotency_key_is_400_and_starts_nothing(served):
    answer = served.client.post(
        "/api/verify",
        headers={"Authorization": f"Bearer {served.operator}", "Idempotency-Key": "a b"},
    )
    assert answer.status_code == 400 and answer.json()["field"] == "Idempotency-Key"


def test_the_openapi_description_lists_every_endpoint(served):
    spec = served.get("/openapi.json", served.auditor).json()
    paths = set(spec["paths"])
    assert {
        "/api/accounts",
        "/api/accounts/{account}/balance",
        "/api/members/{member}/statement",
        "/api/trial-balance",
        "/api/pooling",
        "/api/months",
        "/api/arrangements",
        "/api/entries",
        "/api/entries/{entry_id}",
        "/api/verify",
        "/api/verify/jobs/{job_id}",
        "/api/export/ledger",
        "/api/export/csv",
    } <= paths
    balance = spec["paths"]["/api/accounts/{account}/balance"]["get"]["responses"]
    assert {"200", "400", "401", "404"} <= set(balance) and "422" not in balance
    assert "403" in spec["paths"]["/api/verify"]["post"]["responses"]
    docs = served.get("/docs", served.auditor)
    assert docs.status_code == 200 and "/openapi.json" in docs.text


def test_the_entries_postings_are_the_rows_of_the_clis_csv_export(served, tmp_path, monkeypatch):
    """Every posting of the first 60 entries, as /api/entries shows it, is the row the
    CLI's ``export --format csv`` writes for it (entry, date, kind, member, account, yuan)."""
    import csv

    from ledger.cli import main
    from ledger.cli.context import settings

    monkeypatch.setenv("FLEXLEDGER_DATABASE_URL", served.url)
    settings.cache_clear()
    written = tmp_path / "postings.csv"
    assert main(["export", "--format", "csv", "--out", str(written)]) == 0
    settings.cache_clear()
    with written.open(newline="", encoding="utf-8") as handle:
        rows = [r for r in csv.DictReader(handle) if int(r["entry_id"]) <= 60]
    found = served.get("/api/entries", served.auditor, params={"limit": 60}).json()["entries"]
    shown = [
        (
            str(e["id"]),
            e["effective_date"],
            e["kind"],
            e["period"] or "",
            e["member"] or "",
            p["account"],
            p["amount"],
        )
        for e in found
        for p in e["postings"]
    ]
    assert shown == [
        (
            r["entry_id"],
            r["effective_date"],
            r["kind"],
            r["period"],
            r["member_id"],
            r["account"],
            r["amount"],
        )
        for r in rows
    ]
    assert len(shown) > 120


def test_accounts_are_found_by_member_and_kind_together(served, cli_json):
    member = _member(served)
    found = served.get(
        "/api/accounts", served.auditor, params={"member": member, "kind": "personal"}
    ).json()
    names = [a["account"] for a in found["accounts"]]
    assert names and all(n.startswith("personal:") and n.endswith(f":{member}") for n in names)
    for name in names:  # each one's balance is the CLI's
        answer = served.get(
            f"/api/accounts/{name}/balance", served.auditor, params={"as_of": AS_OF}
        ).json()
        assert answer == cli_json("balance", name, "--as-of", AS_OF)


def test_a_verify_job_that_fails_is_failed_naming_only_the_errors_type(served, monkeypatch):
    from workers import verify_jobs

    def broken(conn):  # type: ignore[no-untyped-def]
        raise RuntimeError(f"cannot read {served.url} with {served.operator}")

    monkeypatch.setattr(verify_jobs, "verify", broken)
    started = served.post("/api/verify", served.operator)
    served.finish_jobs()
    job = served.get(started.headers["location"], served.auditor)
    assert job.json()["job"]["status"] == "failed"
    assert job.json()["job"]["error"] == "RuntimeError" and job.json()["job"]["result"] is None
    assert served.operator not in job.text

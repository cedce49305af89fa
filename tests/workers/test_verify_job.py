"""A verify job started over the API is done by the workers, on the stub broker and on Redis.

Given a ledger with two members' payments and an API that only relays its jobs (as
``flexledger serve`` does when ``FLEXLEDGER_REDIS_URL`` is set), when an operator starts a
verify, then the answer is 202 before anything ran, a dramatiq worker on the broker does
the job, and the job's status is ``done`` with the run; the same message delivered again
writes no second run.
"""

from __future__ import annotations

import warnings

from sqlalchemy import func, select, update

from ledger.domain.clock import SystemClock
from ledger.store.access import issue_token
from ledger.store.access_tables import verify_runs
from ledger.store.worker_tables import outbox as outbox_table
from tests.workers.conftest import enrol, join
from workers import outbox

warnings.filterwarnings("ignore", message=".*httpx.*starlette.testclient.*")

from fastapi.testclient import TestClient  # noqa: E402

from ledger.api.app import create_app  # noqa: E402
from ledger.api.jobs import Relayed  # noqa: E402


def test_a_verify_job_is_relayed_to_the_broker_and_done_by_a_worker(engine, broker, worker):
    enrol(engine, 2)
    with engine.begin() as conn:
        _, token = issue_token(conn, SystemClock(), "operator", "ops", 1)
    client = TestClient(create_app(engine, jobs=Relayed(engine, broker)))
    bearer = {"Authorization": f"Bearer {token}"}
    started = client.post("/api/verify", headers=bearer)
    assert started.status_code == 202
    join(broker)
    job = client.get(started.headers["location"], headers=bearer).json()["job"]
    assert job["status"] == "done" and job["result"]["ok"] is True
    assert job["attempts"] == 1 and job["error"] is None
    with engine.begin() as conn:  # the broker delivers the same message again
        conn.execute(update(outbox_table).values(sent_at=None))
    outbox.relay_all(engine, broker)
    join(broker)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(verify_runs)).scalar_one() == 1

"""Batch reads and drafts give exactly what the per-member path gives, on both backends.

Batch actors and run planning read the enrolments of thousands of members at a time; the
index (``ledger.store.enrolment_index``) keeps them in memory and checks, in the
caller's transaction, that nothing was added since. These tests hold it to the query it
replaces: after new enrolments, after a rolled-back one, in the transaction that writes
one, and when a smaller id commits after a larger one (PostgreSQL sequences allow it).
A batch's drafts, shared per assessment, are held to each member drafted alone.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import insert

from ledger.domain.clock import FixedClock
from ledger.domain.identity import check_character
from ledger.domain.period import Month
from ledger.domain.rules.contribution import BaseChoice
from ledger.domain.schemes import Scheme
from ledger.operations.bulk import enrolments_of
from ledger.operations.fees import agency_members
from ledger.operations.rosters import enrolled_members
from ledger.operations.services import Ledger
from ledger.store import enrolment_index
from ledger.store.tables import enrolments

BEIJING, SHANGHAI = "110000", "310000"
MEMBERS = [f"1101051965011501{i}" for i in range(5)]
MEMBERS = [m + check_character(m) for m in MEMBERS]


@pytest.fixture
def ledger(engine) -> Ledger:
    enrolment_index.forget(engine)
    ledger = Ledger(engine, FixedClock(datetime(2025, 12, 1, 9, tzinfo=UTC)))
    with ledger.unit_of_work() as conn:
        for i, member in enumerate(MEMBERS):
            ledger.add_member(conn, member, BEIJING)
            ledger.enroll(
                conn,
                member,
                Scheme.PENSION,
                BEIJING,
                BaseChoice.of(percent="60"),
                Month(2025, 1),
                method="agency" if i % 2 else "monthly",
                agency="acme-hr" if i % 2 else None,
            )
    return ledger


def queried(ledger: Ledger, conn, scheme: Scheme = Scheme.PENSION) -> dict[str, list]:
    found = {m: ledger.enrolments(conn, m, scheme) for m in MEMBERS}
    return {m: rows for m, rows in found.items() if rows}


def test_the_index_answers_as_the_query_does_and_follows_new_enrolments(ledger, engine):
    with engine.connect() as conn:
        assert enrolment_index.snapshot(conn) is not None
        assert dict(enrolments_of(conn, MEMBERS, Scheme.PENSION)) == queried(ledger, conn)
    with ledger.unit_of_work() as conn:
        ledger.enroll(
            conn, MEMBERS[0], Scheme.PENSION, SHANGHAI, BaseChoice.of(percent="100"), Month(2025, 7)
        )
        ledger.enroll(
            conn, MEMBERS[1], Scheme.MEDICAL, BEIJING, BaseChoice.of(percent="60"), Month(2025, 3)
        )
    with engine.connect() as conn:
        held = enrolment_index.snapshot(conn)
        assert held is not None and held.count == 7
        by_index = enrolments_of(conn, MEMBERS, Scheme.PENSION)
        assert [e.region for e in by_index[MEMBERS[0]]] == [BEIJING, SHANGHAI]
        assert dict(by_index) == queried(ledger, conn)
        assert dict(enrolments_of(conn, MEMBERS, Scheme.MEDICAL)) == queried(
            ledger, conn, Scheme.MEDICAL
        )


def test_the_transaction_that_enrols_reads_its_own_rows_from_the_table(ledger, engine):
    with engine.connect() as conn:
        enrolment_index.snapshot(conn)  # held: the five committed rows
    with ledger.unit_of_work() as conn:
        ledger.enroll(
            conn, MEMBERS[2], Scheme.MEDICAL, BEIJING, BaseChoice.of(percent="60"), Month(2025, 5)
        )
        assert enrolment_index.snapshot(conn) is None
        assert list(enrolments_of(conn, MEMBERS, Scheme.MEDICAL)) == [MEMBERS[2]]


def test_a_rolled_back_enrolment_never_reaches_the_index(ledger, engine):
    with pytest.raises(RuntimeError), ledger.unit_of_work() as conn:
        ledger.enroll(
            conn, MEMBERS[3], Scheme.MEDICAL, SHANGHAI, BaseChoice.of(percent="300"), Month(2025, 5)
        )
        raise RuntimeError("rolled back")
    with ledger.unit_of_work() as conn:  # may take the rolled-back row's id on SQLite
        ledger.enroll(
            conn, MEMBERS[4], Scheme.MEDICAL, BEIJING, BaseChoice.of(percent="60"), Month(2025, 6)
        )
    with engine.connect() as conn:
        by_index = enrolments_of(conn, MEMBERS, Scheme.MEDICAL)
        assert list(by_index) == [MEMBERS[4]]
        assert by_index[MEMBERS[4]][0].region == BEIJING


def test_a_smaller_id_committed_after_a_larger_one_is_found(ledger, engine):
    def row(member: str, id_: int) -> dict:
        return {
            "id": id_,
            "member_id": member,
            "scheme": Scheme.MEDICAL.value,
            "region": SHANGHAI,
            "base_percent": "60",
            "method": "monthly",
            "from_month": "2025-02",
            "recorded_at": datetime(2025, 12, 1, tzinfo=UTC),
        }

    with engine.begin() as conn:
        conn.execute(insert(enrolments).values(**row(MEMBERS[0], 100)))
    with engine.connect() as conn:
        assert enrolment_index.snapshot(conn).max_id == 100
    with engine.begin() as conn:  # as a PostgreSQL transaction holding id 50 would, later
        conn.execute(insert(enrolments).values(**row(MEMBERS[1], 50)))
    with engine.connect() as conn:
        held = enrolment_index.snapshot(conn)
        assert (held.count, held.max_id) == (7, 100)
        assert sorted(enrolments_of(conn, MEMBERS, Scheme.MEDICAL)) == sorted(MEMBERS[:2])


def test_run_planning_finds_the_same_members_with_and_without_the_index(
    ledger, engine, monkeypatch
):
    with ledger.unit_of_work() as conn:
        ledger.enroll(
            conn,
            MEMBERS[0],
            Scheme.PENSION,
            BEIJING,
            BaseChoice.of(percent="60"),
            Month(2025, 9),
            method="agency",
            agency="acme-hr",
        )
        ledger.enroll(
            conn,
            MEMBERS[1],
            Scheme.PENSION,
            BEIJING,
            BaseChoice.of(percent="60"),
            Month(2025, 9),
            method="bank",
        )
    months = [Month(2025, m) for m in (1, 8, 9, 12)]

    def plans() -> tuple:
        with engine.connect() as conn:
            return (
                [agency_members(conn, m) for m in months],
                [
                    enrolled_members(conn, Scheme.PENSION, y, method)
                    for y in (2024, 2025)
                    for method in (None, "bank", "agency")
                ],
            )

    with engine.connect() as conn:
        assert enrolment_index.snapshot(conn) is not None
    by_index = plans()
    monkeypatch.setattr(enrolment_index, "MAX_ROWS", 0)  # larger than allowed: queried
    with engine.connect() as conn:
        assert enrolment_index.snapshot(conn) is None
    assert plans() == by_index
    assert {m for m, _ in by_index[0][2]} == {MEMBERS[0], MEMBERS[3]}  # September
    assert by_index[1][4] == [MEMBERS[1]]  # 2025, paying by bank (from September)


def test_a_batch_drafts_each_member_as_if_drafted_alone(ledger, engine):
    """Drafting a batch shares one assessment and one draft per region, scheme, month,
    choice and payer; each member's entry must still be exactly what drafting that member
    alone gives: key, member, personal account, payer, amounts."""
    with ledger.unit_of_work() as conn:
        ledger.enroll(
            conn, MEMBERS[0], Scheme.MEDICAL, BEIJING, BaseChoice.of(percent="60"), Month(2025, 1)
        )
        ledger.enroll(
            conn, MEMBERS[2], Scheme.MEDICAL, BEIJING, BaseChoice.of(percent="60"), Month(2025, 1)
        )
    paid_on = datetime(2025, 11, 3).date()
    for scheme in (Scheme.PENSION, Scheme.MEDICAL):
        with engine.connect() as conn:
            found = enrolments_of(conn, MEMBERS, scheme)
        cache: dict = {}
        for member, rows in found.items():
            alone = ledger.contribution_drafts(
                member, rows, scheme, Month(2025, 5), Month(2025, 6), paid_on
            )
            batched = ledger.contribution_drafts(
                member, rows, scheme, Month(2025, 5), Month(2025, 6), paid_on, cache=cache
            )
            assert batched == alone
            assert [d.fingerprint() for d in batched] == [d.fingerprint() for d in alone]
        assert len(found) == (5 if scheme is Scheme.PENSION else 2)

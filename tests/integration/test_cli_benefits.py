"""``flexledger retire``, ``death`` and ``jobs run pensions`` as a user runs them, on both backends.

The member and figures are those of ``test_pensions.py`` (DOMAIN.md §6: 180 months at
8,000.00 in Beijing, retiring 2025-08-15 on 2,619.80 a month); the policy carries Beijing's
2016 figures back to 2010 (``tests/pension_history.py``), for the CLI's ledger too.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest

from ledger.cli import main
from ledger.cli.context import settings as cli_settings
from ledger.domain.clock import FixedClock
from ledger.domain.period import Month
from ledger.domain.rules.contribution import BaseChoice
from ledger.operations.services import Ledger
from ledger.store.balances import balance
from ledger.store.tables import benefit_events, entries, pension_awards, postings
from tests.integration.test_pensions import BEIJING, MEMBER, PENSION, SHORT, pay_years
from tests.pension_history import history_policy
from tests.rows import row_counts


@pytest.fixture
def user(monkeypatch, empty_database, engine):
    policy = history_policy()
    monkeypatch.setattr("ledger.operations.services.default_policy", lambda: policy)
    monkeypatch.setenv("FLEXLEDGER_DATABASE_URL", empty_database.url)
    monkeypatch.delenv("FLEXLEDGER_REDIS_URL", raising=False)
    cli_settings.cache_clear()
    ledger = Ledger(engine, FixedClock(datetime(2025, 8, 20, 9, tzinfo=UTC)), policy)
    with ledger.unit_of_work() as conn:
        for member, first, last in (
            (MEMBER, Month(2010, 8), Month(2025, 7)),
            (SHORT, Month(2016, 7), Month(2025, 6)),
        ):
            ledger.add_member(conn, member, BEIJING)
            ledger.enroll(conn, member, PENSION, BEIJING, BaseChoice.of(amount="8000"), first)
            pay_years(ledger, conn, member, first, last)
    yield engine
    cli_settings.cache_clear()


def run(capsys, argv: list[str]) -> tuple[int, dict | None, str]:
    code = main(argv)
    captured = capsys.readouterr()
    return (
        code,
        (json.loads(captured.out) if code == 0 and "--json" in argv else None),
        (captured.err),
    )


def counts(engine) -> tuple[int, ...]:
    return row_counts(engine, entries, postings, pension_awards, benefit_events)


def test_retire_prints_the_award_and_run_again_writes_nothing(user, capsys):
    code, data, _ = run(capsys, ["retire", "--member", MEMBER, "--on", "2025-08-15", "--json"])
    assert code == 0 and data is not None
    assert (data["basic"], data["personal"], data["total"]) == ("1791.02", "828.78", "2619.80")
    assert (data["months_counted"], data["divisor"], data["calculation_base"]) == (
        180,
        "139/1",
        "12049.00",
    )
    before = counts(user)
    code, again, _ = run(capsys, ["retire", "--member", MEMBER, "--on", "2025-08-15", "--json"])
    assert code == 0 and again is not None and again["new"] is False
    assert counts(user) == before
    assert main(["retire", "--member", MEMBER, "--on", "2025-08-15"]) == 0
    assert "2619.80" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "field"),
    [
        (["retire", "--member", MEMBER, "--on", "2025-08-14"], "on"),
        (["retire", "--member", MEMBER, "--on", "2025-02-30"], "on"),
        (["retire", "--member", "110105196506150016", "--on", "2025-08-15"], "member"),
        (["retire", "--member", SHORT, "--on", "2025-07-20"], "member"),
        (["retire", "--member", MEMBER, "--on", "2025-08-15", "--short", "refund"], "short"),
        (["death", "--member", MEMBER, "--on", "2099-01-01"], "on"),
        (["jobs", "run", "pensions", "--month", "2025-09", "--today", "2025-08-31"], "today"),
        (["jobs", "run", "pensions", "--month", "2025-13"], "month"),
    ],
)
def test_bad_input_is_exit_2_naming_the_field_and_writes_nothing(user, capsys, argv, field):
    before = counts(user)
    code, _, err = run(capsys, argv)
    assert code == 2 and err.startswith(f"error: {field}:") and err.count("\n") == 1, err
    assert counts(user) == before


def test_the_pensions_job_pays_each_month_once_and_death_settles_the_account(user, capsys):
    assert main(["retire", "--member", MEMBER, "--on", "2025-08-15"]) == 0
    capsys.readouterr()
    argv = ["jobs", "run", "pensions", "--month", "2025-09", "--today", "2025-09-10", "--json"]
    code, data, _ = run(capsys, argv)
    assert code == 0 and data is not None and data["posted"] == 1
    before = counts(user)
    code, data, _ = run(capsys, argv)
    assert code == 0 and data is not None and data["new_messages"] == 0
    assert counts(user) == before
    with user.connect() as conn:
        assert balance(conn, f"personal:pension:{MEMBER}", date(2025, 9, 30)) == -(11520000 - 82878)
    code, died, _ = run(capsys, ["death", "--member", MEMBER, "--on", "2025-10-20", "--json"])
    # October, the month of death, is paid on recording the death, then the rest inherited.
    assert code == 0 and died is not None and died["to_heirs"] == "113542.44"
    assert main(["death", "--member", MEMBER, "--on", "2025-10-20"]) == 0


def test_short_of_the_minimum_the_choice_is_explicit_and_recorded_once(user, capsys):
    argv = ["retire", "--member", SHORT, "--on", "2025-07-20", "--short", "refund", "--json"]
    code, data, _ = run(capsys, argv)
    assert code == 0 and data is not None and data["entries"][0]["kind"] == "refund"
    before = counts(user)
    assert main(argv) == 0
    capsys.readouterr()
    assert counts(user) == before
    code, _, err = run(
        capsys, ["retire", "--member", SHORT, "--on", "2025-07-20", "--short", "pay-on"]
    )
    assert code == 2 and err.startswith("error: choice:")

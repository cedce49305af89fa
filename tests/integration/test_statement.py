"""``flexledger statement --member``: what the member owns, what each payment bought, then the legs.

On SQLite and PostgreSQL. Figures from DOMAIN.md §8 (official).
"""

from __future__ import annotations

import json
from datetime import date

from ledger.cli import main
from ledger.domain.clock import FixedClock
from ledger.domain.period import Month
from ledger.operations.payments import contribute
from ledger.operations.services import Ledger

from .test_payment_rules import BEIJING, MEMBER, PENSION, SIXTY, at


def test_the_statement_shows_what_the_member_owns_and_what_each_payment_bought(env, engine, capsys):
    """DOMAIN.md §8 (official): Beijing 2025-07 at the 60% floor of 7,162 costs 1,432.40, of
    which 572.96 (8%) goes to the personal account and 859.44 (12%) to the pooling fund.
    Two months paid: the personal account owns 1,145.92 after the second; the postings
    themselves only with ``--legs``. (Posted once the 2025 base was published, so that the
    months are assessed on it, not on the provisional previous year's.)"""
    ledger = Ledger(engine, FixedClock(at(2026, 1, 15, 9)))
    with ledger.unit_of_work() as conn:
        ledger.add_member(conn, MEMBER, BEIJING)
        ledger.enroll(conn, MEMBER, PENSION, BEIJING, SIXTY, Month(2025, 7))
        contribute(ledger, conn, MEMBER, PENSION, Month(2025, 7), None, date(2025, 7, 15))
        contribute(ledger, conn, MEMBER, PENSION, Month(2025, 8), None, date(2025, 8, 15))
    assert main(["statement", "--member", MEMBER, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["accounts"] == [
        {
            "account": f"personal:pension:{MEMBER}",
            "owned": "1145.92",
            "postings": 2,
            "last_date": "2025-08-15",
        }
    ]
    assert [
        (p["period"], p["paid"], p["personal"], p["pooling"], p["personal_balance"])
        for p in data["payments"]
    ] == [
        ("2025-07", "1432.40", "572.96", "859.44", "572.96"),
        ("2025-08", "1432.40", "572.96", "859.44", "1145.92"),
    ]
    assert len(data["lines"]) == 6  # collection, personal, pooling for each month
    assert main(["statement", "--member", MEMBER]) == 0
    table = capsys.readouterr().out
    assert "1145.92" in table and "859.44" in table and "--legs" in table
    assert "collection:pension:110000" not in table  # the payer's legs are not listed
    assert main(["statement", "--member", MEMBER, "--legs"]) == 0
    assert "collection:pension:110000" in capsys.readouterr().out

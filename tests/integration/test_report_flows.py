"""The report's pooling funds: money in and money out by region and year, on both backends.

Given a Beijing member paying July 2025 at the 60% floor and transferring to Guangzhou,
when the funds' flows are read, then Beijing took the month's pooling share in and sent
12% of the year's base out, and Guangzhou took that in.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from ledger.domain.clock import FixedClock
from ledger.domain.identity import check_character
from ledger.domain.period import Month
from ledger.domain.rules.contribution import BaseChoice
from ledger.domain.schemes import Scheme
from ledger.operations.payments import contribute
from ledger.operations.services import Ledger
from ledger.operations.transfers import accept_transfer, request_transfer
from ledger.report.figures import FundYear, pooling_flows

# Under 40: her transfer moves the money (from 40 a woman moving out of her hukou province
# opens a temporary account instead, 66号 Art. 5 (2)).
MEMBER = "11010519941231002" + check_character("11010519941231002")


def test_money_in_and_out_of_each_pooling_fund_by_year(engine):
    """DOMAIN.md §8 (official): Beijing 2025 floor 7,162, pooling share 859.44 (12%); DOMAIN.md
    §5 (国办发〔2009〕66号): a transfer moves 12% of each year's base, 7,162 × 12% = 859.44."""
    ledger = Ledger(engine, FixedClock(datetime(2026, 1, 15, 9, tzinfo=UTC)))
    with ledger.unit_of_work() as conn:
        ledger.add_member(conn, MEMBER, "110000")
        ledger.enroll(
            conn, MEMBER, Scheme.PENSION, "110000", BaseChoice.of(percent="60"), Month(2025, 7)
        )
        contribute(ledger, conn, MEMBER, Scheme.PENSION, Month(2025, 7), None, date(2025, 7, 15))
        moved = request_transfer(ledger, conn, MEMBER, Scheme.PENSION, "440100", date(2025, 8, 10))
        accept_transfer(ledger, conn, moved, date(2025, 8, 20))
    with engine.connect() as conn:
        flows = pooling_flows(conn)
    assert flows == [
        FundYear("pension", "110000", 2025, 859_44, 859_44, 0),
        FundYear("pension", "440100", 2025, 859_44, 0, 859_44),
    ]

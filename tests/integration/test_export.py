"""Exports: the same ledger gives the same bytes, and hledger / ledger-cli read the journal.

Given a small ledger with a back-dated entry and a correction, when it is exported twice,
then both exports are byte-identical; and when hledger or ledger-cli balance the journal,
every account's balance is the one ``trial_balance`` gives.

The tool tests need Debian's ``hledger`` and ``ledger`` packages (``apt-get install hledger
ledger``) and skip only when the binary is missing.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from ledger.cli import main
from ledger.domain.clock import FixedClock
from ledger.domain.journal import EntryDraft, EntryKind
from ledger.domain.money import parse_yuan
from ledger.store import export
from ledger.store.export import CSV_COLUMNS, export_csv, export_ledger
from ledger.store.queries import trial_balance
from ledger.store.recorder import Recorder

MEMBER = "11010519491231002X"
AGENCY = "北京某人力"
EVERYTHING = date(9999, 12, 31)


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def draft(key: str, effective: date, legs, **fields) -> EntryDraft:
    fields.setdefault("kind", EntryKind.CONTRIBUTION)
    return EntryDraft.build(effective_date=effective, idempotency_key=key, postings=legs, **fields)


@pytest.fixture
def ledger_engine(engine):
    """A small ledger: two months, one back-dated, an agency fee, and a correction."""
    clock = FixedClock(at(2025, 1, 20, 9, 30))
    recorder = Recorder(clock)
    months = [
        ("2025-01", date(2025, 1, 15), at(2025, 1, 20)),
        ("2025-03", date(2025, 3, 15), at(2025, 3, 20)),
        ("2025-02", date(2025, 2, 15), at(2025, 4, 2, 8, 0, 0, 123456)),
    ]
    with engine.begin() as conn:
        for period, effective, when in months:
            clock.advance_to(when)
            recorder.append(
                conn,
                [
                    draft(
                        f"contribution:pension:{MEMBER}:{period}",
                        effective,
                        [
                            ("collection:pension:110000", 143_240),
                            (f"personal:pension:{MEMBER}", -57_296),
                            ("pooling:pension:110000", -85_944),
                        ],
                        period=period,
                        member_id=MEMBER,
                        scheme="pension",
                        region="110000",
                    )
                ],
            )
        clock.advance_to(at(2025, 4, 3))
        recorder.append(
            conn,
            [
                draft(
                    "fee:2025-03",
                    date(2025, 3, 31),
                    [(f"agency:{AGENCY}", 20_000), (f"agency-fees:{AGENCY}", -20_000)],
                    kind=EntryKind.FEE,
                    member_id=MEMBER,
                    reason="affiliate fee, March:\nline two",
                ),
                draft(
                    "correction:1",
                    date(2025, 1, 15),
                    [("collection:pension:110000", -1), ("pooling:pension:110000", 1)],
                    kind=EntryKind.CORRECTION,
                    corrects=1,
                    reason="rounding",
                ),
            ],
        )
    return engine


def exported(engine, write) -> str:
    out = io.StringIO()
    with engine.connect() as conn:
        write(conn, out)
    return out.getvalue()


def test_two_exports_of_the_same_ledger_are_byte_identical(ledger_engine, monkeypatch):
    # given chunks of two entries, so paging is exercised
    monkeypatch.setattr(export, "CHUNK_ENTRIES", 2)
    for write in (export_ledger, export_csv):
        assert exported(ledger_engine, write) == exported(ledger_engine, write)


def test_the_journal_writes_each_entry_with_its_metadata_and_amounts(ledger_engine):
    text = exported(ledger_engine, export_ledger)
    assert "2025-02-15 (3) contribution 2025-02 11010519491231002X\n" in text
    assert "    ; recorded_at: 2025-04-02T08:00:00.123456Z\n" in text
    assert "    ; reason: affiliate fee, March:\\nline two\n" in text
    assert "    ; corrects: 1\n" in text
    assert f"    personal:pension:{MEMBER}  -572.96 CNY\n" in text
    assert "    collection:pension:110000  1432.40 CNY\n" in text
    # entries in id (recorded) order, so the back-dated February comes after March
    assert text.index("(2) contribution 2025-03") < text.index("(3) contribution 2025-02")


def test_the_csv_has_one_row_per_posting_with_yuan_amounts(ledger_engine):
    rows = list(csv.reader(io.StringIO(exported(ledger_engine, export_csv))))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert len(rows) == 1 + 3 * 3 + 2 + 2
    assert rows[1] == [
        "1",
        "2025-01-15",
        "2025-01-20T00:00:00.000000Z",
        "contribution",
        "2025-01",
        MEMBER,
        "collection:pension:110000",
        "1432.40",
    ]
    assert sum(parse_yuan(row[7]) for row in rows[1:]) == 0


def balances_by(tool: str, journal: Path) -> dict[str, int]:
    """Every account's balance in fen as hledger or ledger-cli computes it from the journal."""
    if tool == "hledger":
        args = ["hledger", "-f", str(journal), "balance", "--flat", "--no-total", "-O", "csv"]
        output = subprocess.run(args, check=True, capture_output=True, text=True).stdout
        rows = list(csv.reader(io.StringIO(output)))[1:]
    else:
        fmt = "%(account)\\t%(quantity(scrub(display_total)))\\n"
        args = [
            "ledger",
            "-f",
            str(journal),
            "balance",
            "--flat",
            "--no-total",
            "--balance-format",
            fmt,
        ]
        output = subprocess.run(args, check=True, capture_output=True, text=True).stdout
        rows = [line.split("\t") for line in output.splitlines() if line]
    found = {}
    for account, amount in rows:
        number = amount.replace("CNY", "").replace(",", "").strip()
        found[account] = int(Decimal(number) * 100)
    return found


@pytest.mark.parametrize("tool", ["hledger", "ledger"])
def test_hledger_and_ledger_cli_balance_the_journal_as_the_trial_balance_does(
    ledger_engine, tool, tmp_path
):
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} is not installed (Debian package {tool!r})")
    # given the journal written to a file
    journal = tmp_path / "ledger.journal"
    journal.write_text(exported(ledger_engine, export_ledger), encoding="utf-8")
    # when the tool balances it, then every account matches the trial balance
    with ledger_engine.connect() as conn:
        expected = dict(trial_balance(conn, EVERYTHING))
    assert balances_by(tool, journal) == expected


# --------------------------------------------------------------------------- commands


@pytest.fixture
def database_url(empty_database, ledger_engine, monkeypatch) -> str:
    monkeypatch.setenv("FLEXLEDGER_DATABASE_URL", empty_database.url)
    return empty_database.url


def test_export_writes_the_journal_to_stdout_or_a_file(database_url, capsys, tmp_path):
    assert main(["export", "--format", "ledger"]) == 0
    to_stdout = capsys.readouterr().out
    assert main(["export", "--format", "ledger", "--out", str(tmp_path / "l.journal")]) == 0
    assert (tmp_path / "l.journal").read_text(encoding="utf-8") == to_stdout
    assert main(["export", "--format", "csv"]) == 0
    assert capsys.readouterr().out.startswith(",".join(CSV_COLUMNS) + "\n")


def test_the_query_commands_print_json_for_programs(database_url, capsys):
    def run(*argv: str) -> dict:
        assert main([*argv, "--json"]) == 0
        return json.loads(capsys.readouterr().out)

    account = f"personal:pension:{MEMBER}"
    assert run("balance", account, "--as-of", "2025-03-31", "--known-at", "2025-04-01") == {
        "account": account,
        "as_of": "2025-03-31",
        "known_at": "2025-04-01T23:59:59.999999+00:00",
        "balance": "-1145.92",
    }
    trial = run("trial-balance", "--as-of", "2025-12-31")
    assert set(trial) == {"as_of", "known_at", "accounts", "total"} and trial["total"] == "0.00"
    assert trial["known_at"] is None
    assert {"account": account, "balance": "-1718.88"} in trial["accounts"]
    earlier = run("trial-balance", "--as-of", "2025-12-31", "--known-at", "2025-04-01")
    assert earlier["known_at"] == "2025-04-01T23:59:59.999999+00:00"
    assert earlier["total"] == "0.00"
    assert {"account": account, "balance": "-1145.92"} in earlier["accounts"]
    lines = run("statement", "--member", MEMBER)["lines"]
    assert len(lines) == 3 * 3 + 2 and lines[-1]["balance"] == "-200.00"
    pools = run("pooling", "--as-of", "2025-12-31")
    assert pools["pools"] == [{"scheme": "pension", "region": "110000", "balance": "2578.31"}]
    by_member = run("months", "--member", MEMBER)
    [months] = by_member["months"]
    assert (months["months"], months["region"], months["held_in"]) == (3, "110000", "110000")
    # DOMAIN.md §5 (66号 Art. 6): hukou Beijing, paying in Beijing → clause (1)
    place = by_member["pension_paid_in"]
    assert (place["region"], place["rule"]) == ("110000", 1)
    assert place["clause"].startswith("国办发〔2009〕66号 Art. 6 (1)")
    assert run("arrangements") == {"arrangements": []}


def test_the_query_commands_print_tables_for_people(database_url, capsys):
    for argv in (
        ["balance", "pooling:pension:110000", "--as-of", "2025-12-31"],
        ["trial-balance", "--as-of", "2025-12-31", "--known-at", "2025-03-01T00:00:00+08:00"],
        ["statement", "--member", MEMBER, "--as-of", "2025-02-28"],
        ["pooling", "--as-of", "2025-12-31"],
        ["months"],
        ["arrangements"],
    ):
        assert main(argv) == 0, argv
    assert "2578.31" in capsys.readouterr().out


def test_a_checkpoint_changes_no_balance(database_url, capsys):
    assert main(["balance", "pooling:pension:110000", "--as-of", "2025-12-31", "--json"]) == 0
    before = capsys.readouterr().out
    assert main(["checkpoint", "--as-of", "2025-03-31", "--min-postings", "2"]) == 0
    assert "made 3 checkpoints" in capsys.readouterr().out
    assert main(["balance", "pooling:pension:110000", "--as-of", "2025-12-31", "--json"]) == 0
    assert capsys.readouterr().out == before


def test_an_unknown_account_is_exit_code_2_naming_it(database_url, capsys):
    assert main(["balance", "pooling:pension:999999", "--as-of", "2025-12-31"]) == 2
    assert "pooling:pension:999999" in capsys.readouterr().err
    assert main(["balance", "pooling:pension:110000", "--as-of", "2025-13-01"]) == 2
    assert "as_of" in capsys.readouterr().err

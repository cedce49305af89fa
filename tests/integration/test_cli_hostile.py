"""Every command of the CLI driven with arbitrary and hostile arguments and files.

For each invocation: the exit code is 0, 1 or 2, nothing prints a traceback (an uncaught
exception fails the test before that), and a command that exits non-zero leaves every
table's rows exactly as they were. Every command that writes, run twice with the same
input, writes nothing the second time. A read-only database is refused the same way.

Bounded: a few dozen examples per test and no deadline, so the file runs in seconds per
backend; CI runs it on SQLite and PostgreSQL through the ``engine`` fixtures.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, inspect, text
from sqlalchemy.engine import make_url

from ledger.cli import main
from ledger.cli.context import settings as cli_settings
from tests.commands import two_paid_months

MEMBER = "11010519491231002X"
OTHER = "110101199003071233"
UNKNOWN_MEMBER = "110105194912310038"  # a valid number nobody registered
HEADER = "id,region,scheme,base_percent,from,method,agency"
GOOD_CSV = f"{HEADER}\n{OTHER},110000,pension,60,2025-07,monthly,\n"


def snapshot(engine: Engine) -> dict[str, list[tuple]]:
    """Every row of every table, in a stable order."""
    names = sorted(inspect(engine).get_table_names())
    with engine.connect() as conn:
        return {
            name: sorted(
                (
                    tuple(str(v) for v in row)
                    for row in conn.execute(text(f'SELECT * FROM "{name}"'))
                ),
            )
            for name in names
        }


@pytest.fixture
def user(monkeypatch, empty_database, engine, tmp_path):
    """A user's environment on a ledger with one member enrolled and two months paid."""
    monkeypatch.setenv("FLEXLEDGER_DATABASE_URL", empty_database.url)
    monkeypatch.delenv("FLEXLEDGER_REDIS_URL", raising=False)
    monkeypatch.setenv("FLEXLEDGER_RETRY_MIN_BACKOFF_MS", "10")
    monkeypatch.setenv("FLEXLEDGER_RETRY_MAX_BACKOFF_MS", "50")
    cli_settings.cache_clear()
    for argv in two_paid_months(MEMBER):
        assert main(argv) == 0, argv
    yield tmp_path
    cli_settings.cache_clear()


# --- values: the plausible, the wrong type, the out of range, the odd --------------------

HOSTILE = st.sampled_from(
    [
        "",
        " ",
        "-1",
        "0",
        "1e400",
        "NaN",
        "inf",
        "99999999999999999999999",
        "3.14159",
        "2025-07",
        "2025-13",
        "0000-00",
        "9999-12",
        "2025-02-30",
        "2025-07-01",
        "1900-01-01",
        "9999-12-31",
        "2025-07-01T25:00",
        "１２３",
        "٣",
        "\u202e110000",
        "e\u0301",
        "🙂" * 50,
        "x" * 5000,
        "110000",
        "999999",
        "pension",
        "medical",
        "resident-pension",
        "PENSION",
        "monthly",
        "bank",
        "agency",
        MEMBER,
        OTHER,
        UNKNOWN_MEMBER,
        MEMBER.lower(),
        MEMBER[:15],
        "assets:bank",
        "no:such:account",
        "personal:pension:" + MEMBER,
        "--json",
        "-h",
        "1",
        "60",
        "300",
        "59.99",
        "301",
        "7162",
        "1/0",
        "%s%n",
        "'; DROP TABLE entries;--",
    ]
)
TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)
VALUE = st.one_of(HOSTILE, HOSTILE, TEXT)

COMMANDS: list[tuple[list[str], list[str]]] = [
    # (fixed words, option names each followed by one value)
    (["member", "add"], ["--id", "--region", "--hukou"]),
    (
        ["enroll"],
        [
            "--member",
            "--scheme",
            "--region",
            "--base-percent",
            "--from",
            "--to",
            "--method",
            "--agency",
            "--signed-on",
        ],
    ),
    (["enroll"], ["--member", "--scheme", "--region", "--base", "--grade", "--from"]),
    (["contribute"], ["--member", "--scheme", "--from", "--to", "--paid-on"]),
    (["correct"], ["--entry", "--reason"]),
    (["balance", "ACCOUNT"], ["--as-of", "--known-at"]),
    (["trial-balance"], ["--as-of", "--known-at"]),
    (["statement"], ["--member", "--as-of", "--known-at"]),
    (["pooling"], ["--as-of", "--known-at"]),
    (["months"], ["--member"]),
    (["arrangements"], []),
    (["quote"], ["--region", "--scheme", "--period", "--base-percent", "--known-at"]),
    (["quote"], ["--region", "--period", "--base", "--grade"]),
    (["quote-table"], ["--period", "--base-percent"]),
    (["id", "check", "NUMBER"], []),
    (["retirement"], ["--id", "--category"]),
    (
        ["compare"],
        [
            "--id",
            "--lives-in",
            "--hukou",
            "--category",
            "--paid-months",
            "--balance",
            "--bases",
            "--grades",
            "--start",
            "--as-of",
            "--by",
            "--scenario",
        ],
    ),
    (["compare"], ["--member", "--lives-in", "--bases", "--start", "--as-of", "--plot"]),
    (["checkpoint"], ["--as-of", "--min-postings"]),
    (["checkpoint-grid"], ["--from", "--to", "--min-postings"]),
    (["transfer"], ["--member", "--scheme", "--to", "--on"]),
    (["retire"], ["--member", "--on", "--short"]),
    (["death"], ["--member", "--on"]),
    (["jobs", "run", "pensions"], ["--month", "--today", "--batch-size"]),
    (["jobs", "run", "interest"], ["--year", "--round", "--batch-size", "--threads"]),
    (["jobs", "run", "close-year"], ["--year", "--today", "--batch-size"]),
    (["jobs", "run", "affiliate-fees"], ["--month", "--today"]),
    (["jobs", "run", "bank-deduction"], ["--year", "--scheme", "--today", "--seed", "--round"]),
    (["jobs", "run", "transfer-timeouts"], ["--today", "--after-days"]),
    (["jobs", "run", "contributions"], ["--from", "--to", "--paid-on", "--batch-size"]),
    (["jobs", "retry"], ["--run"]),
    (["export"], ["--format"]),
    (["jobs", "status"], []),
    (["verify"], []),
    (["adjust"], []),
    (["token", "add"], ["--role", "--name", "--expires"]),
    (["token", "revoke", "ID"], []),
    (["token", "list"], []),
]


@st.composite
def invocations(draw) -> list[str]:
    words, options = draw(st.sampled_from(COMMANDS))
    argv = [draw(VALUE) if w.isupper() else w for w in words]
    for name in options:
        if draw(st.booleans()):
            argv += [name, draw(VALUE)]
    if draw(st.booleans()):
        argv.append("--json")
    return argv


FILES = st.one_of(
    st.binary(max_size=300),
    st.just(GOOD_CSV.encode()),
    st.integers(0, len(GOOD_CSV)).map(lambda n: GOOD_CSV.encode()[:n]),  # truncated
    st.just(GOOD_CSV.replace("monthly,", "agency,北京人力").encode("gbk")),
    st.just(b"\xef\xbb\xbf" + GOOD_CSV.encode()),
    st.just(b"SQLite format 3\x00" + bytes(200)),
    st.lists(st.tuples(*[VALUE] * 7), max_size=3).map(
        lambda rows: (HEADER + "\n" + "\n".join(",".join(r) for r in rows)).encode("utf-8")
    ),
)

FUZZ = settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def invoke(capsys, argv: list[str]) -> tuple[int, str]:
    capsys.readouterr()
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def assert_well_behaved(engine, capsys, argv: list[str]) -> int:
    before = snapshot(engine)
    code, output = invoke(capsys, argv)
    assert code in (0, 1, 2), (argv, code, output)
    assert "Traceback" not in output, (argv, output)
    if code != 0:
        assert snapshot(engine) == before, (argv, code, output)
    return code


@FUZZ
@given(argv=invocations())
def test_every_command_with_hostile_arguments_exits_0_1_or_2_and_a_refusal_writes_nothing(
    user, engine, capsys, argv
):
    assert_well_behaved(engine, capsys, argv)


@FUZZ
@given(content=FILES, encoding=st.sampled_from([None, "utf-8", "gbk", "gb18030", "latin-1"]))
def test_import_members_with_hostile_files_exits_0_1_or_2_and_a_refusal_writes_nothing(
    user, engine, capsys, content, encoding
):
    path = user / "hostile.csv"
    path.write_bytes(content)
    argv = ["import", "members", str(path)] + (["--encoding", encoding] if encoding else [])
    assert_well_behaved(engine, capsys, argv)


def _small_or_refused(value: str) -> bool:
    """Values that cannot make a simulation big: a whole number over 3 would be a real run
    of that many members or years, which is the benchmarks' business, not this test's."""
    try:
        return int(value) <= 3
    except ValueError:
        return True


SIMULATE = ["--members", "--years", "--seed", "--start", "--regions", "--scenario"]


@FUZZ
@given(
    values=st.lists(
        VALUE.filter(_small_or_refused), min_size=len(SIMULATE), max_size=len(SIMULATE)
    ),
    chosen=st.lists(st.booleans(), min_size=len(SIMULATE), max_size=len(SIMULATE)),
    scenario=FILES,
)
def test_simulate_and_report_with_hostile_arguments_exit_0_1_or_2_and_a_refusal_writes_nothing(
    user, engine, capsys, values, chosen, scenario
):
    """``simulate`` with hostile options, a scenario file of hostile bytes among them."""
    (user / "scenario.toml").write_bytes(scenario)
    argv = ["simulate"]
    for name, value, take in zip(SIMULATE, values, chosen, strict=True):
        if take:
            argv += [name, str(user / "scenario.toml") if name == "--scenario" else value]
    assert_well_behaved(engine, capsys, argv)


@pytest.mark.parametrize(
    "argv",
    [
        ["worker", "--processes", "0"],
        ["worker", "--processes", "100000"],
        ["worker", "--threads", "-1"],
        ["worker", "--threads", "abc"],
    ],
)
def test_worker_counts_out_of_range_are_refused_before_anything_starts(
    user, engine, capsys, monkeypatch, argv
):
    """Even with a broker configured, a count out of range is exit 2 naming the option:
    ``--processes 100000`` must not try to fork a hundred thousand workers."""
    monkeypatch.setenv("FLEXLEDGER_REDIS_URL", "redis://127.0.0.1:1/0")
    cli_settings.cache_clear()
    before = snapshot(engine)
    code, output = invoke(capsys, argv)
    assert code == 2, output
    assert f"'{argv[1]}'" in output and "Traceback" not in output, output
    assert snapshot(engine) == before


def test_report_into_a_file_an_odd_name_or_a_folder_exits_0_1_or_2(user, engine, capsys):
    """``report --out`` at a file, at a name too long for the file system, at odd unicode
    and at a plain new folder: the same contract, and the folder gets the report."""
    (user / "a-file").write_text("not a folder")
    odd = ["a-file", "x" * 5000, "\u202e🙂", "report"]
    codes = [assert_well_behaved(engine, capsys, ["report", "--out", str(user / n)]) for n in odd]
    assert codes[0] == 2 and codes[-1] == 0, codes
    assert (user / "report" / "index.html").exists()


def test_import_members_of_a_directory_or_a_missing_file_is_refused(user, engine, capsys):
    for target in (user, user / "missing.csv"):
        assert assert_well_behaved(engine, capsys, ["import", "members", str(target)]) == 2


def writing_commands(tmp_path: Path) -> list[list[str]]:
    members_csv = tmp_path / "members.csv"
    members_csv.write_text(GOOD_CSV, encoding="utf-8")
    return [
        ["member", "add", "--id", OTHER, "--region", "110000"],
        [
            "enroll",
            "--member",
            OTHER,
            "--scheme",
            "pension",
            "--region",
            "110000",
            "--base-percent",
            "60",
            "--from",
            "2025-07",
        ],
        [
            "contribute",
            "--member",
            OTHER,
            "--scheme",
            "pension",
            "--from",
            "2025-07",
            "--paid-on",
            "2025-08-20",
        ],
        ["import", "members", str(members_csv)],
        ["correct", "--entry", "1", "--reason", "paid twice by mistake"],
        ["adjust"],
        ["jobs", "run", "interest", "--year", "2025"],
        ["jobs", "run", "close-year", "--year", "2025"],
        [
            "transfer",
            "--member",
            MEMBER,
            "--scheme",
            "pension",
            "--to",
            "310000",
            "--on",
            "2025-09-15",
        ],
        ["verify", "--anchor"],
    ]


def test_every_writing_command_run_twice_writes_nothing_the_second_time(user, engine, capsys):
    for argv in writing_commands(user):
        first = assert_well_behaved(engine, capsys, argv)
        after_first = snapshot(engine)
        second = assert_well_behaved(engine, capsys, argv)
        assert snapshot(engine) == after_first, (argv, first, second)


def _read_only(url: str, backend: str, path: Path) -> str:
    if backend == "sqlite":
        return f"sqlite:///file:{path}?mode=ro&uri=true"
    parsed = make_url(url)
    options = parsed.query.get("options", "") + " -cdefault_transaction_read_only=on"
    return parsed.update_query_dict({"options": options.strip()}).render_as_string(
        hide_password=False
    )


def test_a_read_only_database_refuses_every_writing_command_in_one_line(
    user, engine, empty_database, capsys, monkeypatch
):
    url = _read_only(empty_database.url, empty_database.backend, user / "ledger.db")
    monkeypatch.setenv("FLEXLEDGER_DATABASE_URL", url)
    cli_settings.cache_clear()
    for argv in writing_commands(user):
        before = snapshot(engine)
        code, output = invoke(capsys, argv)
        assert code in (0, 1, 2), (argv, code, output)  # 0: there was nothing to write
        assert "Traceback" not in output, output
        if code != 0:
            assert len(output.strip().splitlines()) == 1, output
        assert snapshot(engine) == before, argv
    code, output = invoke(
        capsys, ["balance", f"personal:pension:{MEMBER}", "--as-of", "2025-12-31"]
    )
    assert code == 0, output  # reading still works

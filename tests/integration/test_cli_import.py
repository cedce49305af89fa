"""``flexledger import members`` as a user runs it: a rerun writes nothing and says so, a
conflicting row is refused by line and field, a file in another encoding is refused by line
unless ``--encoding`` names it; and a database URL naming something that is not a database
is one line, never a traceback."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from ledger.cli import main
from ledger.cli.context import settings
from ledger.store.tables import enrolments, members
from tests.rows import row_counts

HEADER = "id,region,scheme,base_percent,from,method"
ROW = "11010519491231002X,110000,pension,60,2025-07,monthly"
# 北京 as a region name is not a field; an agency name is free text, so it carries the GBK bytes.
GBK_ROW = "11010519491231002X,110000,pension,60,2025-07,agency,北京外企人力资源服务有限公司"


def write(tmp_path: Path, *rows: str, header: str = HEADER, encoding: str = "utf-8") -> Path:
    path = tmp_path / "members.csv"
    path.write_bytes(("\n".join([header, *rows]) + "\n").encode(encoding))
    return path


def test_importing_the_same_file_again_writes_nothing_and_says_so(env, engine, tmp_path, capsys):
    path = write(tmp_path, ROW)
    assert main(["import", "members", str(path)]) == 0
    after_first = row_counts(engine, members, enrolments)
    assert after_first == (1, 1)
    capsys.readouterr()
    assert main(["import", "members", str(path)]) == 0
    out = capsys.readouterr().out
    assert "nothing written: 0 members registered, 1 already enrolled as in the file" in out
    assert main(["import", "members", str(path)]) == 0
    assert row_counts(engine, members, enrolments) == after_first


def test_a_rerun_reports_the_already_enrolled_rows_in_json(env, engine, tmp_path, capsys):
    path = write(tmp_path, ROW)
    assert main(["import", "members", str(path), "--json"]) == 0
    capsys.readouterr()
    assert main(["import", "members", str(path), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data == {"members": 0, "enrolments": 0, "already_registered": 1, "already_enrolled": 1}


def test_a_row_enrolling_an_enrolled_member_differently_is_refused_by_line_and_field(
    env, engine, tmp_path, capsys
):
    assert main(["import", "members", str(write(tmp_path, ROW))]) == 0
    before = row_counts(engine, members, enrolments)
    other = "110101199003071233,110000,pension,60,2025-07,monthly"
    changed = write(tmp_path, other, ROW.replace(",60,", ",100,"))
    capsys.readouterr()
    assert main(["import", "members", str(changed)]) == 2
    err = capsys.readouterr().err
    assert "line 3: base_percent: 11010519491231002X is already enrolled" in err
    assert "with base_percent 60, not 100" in err
    assert "Traceback" not in err
    assert row_counts(engine, members, enrolments) == before  # the good row 2 not written either


def test_a_gbk_file_is_refused_naming_the_line_without_encoding_and_read_with_it(
    env, engine, tmp_path, capsys
):
    path = write(tmp_path, GBK_ROW, header=HEADER + ",agency", encoding="gbk")
    assert main(["import", "members", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: file: ") and "line 2: byte" in err and "is not utf-8" in err
    assert "Traceback" not in err
    assert row_counts(engine, members, enrolments) == (0, 0)
    assert main(["import", "members", str(path), "--encoding", "gbk"]) == 0
    assert row_counts(engine, members, enrolments) == (1, 1)
    with engine.connect() as conn:
        assert conn.execute(enrolments.select()).one().agency == "北京外企人力资源服务有限公司"


def test_a_gb18030_file_is_read_with_encoding_gb18030(env, engine, tmp_path):
    path = write(tmp_path, GBK_ROW, header=HEADER + ",agency", encoding="gb18030")
    assert main(["import", "members", str(path), "--encoding", "gb18030"]) == 0
    assert row_counts(engine, members, enrolments) == (1, 1)


def test_an_unknown_encoding_is_refused(env, engine, tmp_path, capsys):
    assert main(["import", "members", str(write(tmp_path, ROW)), "--encoding", "latin-1"]) == 2
    assert "--encoding" in capsys.readouterr().err


# --- a database URL that names something that is not a database ----------------------------


def _url_cases(tmp_path: Path) -> dict[str, str]:
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not a database at all, it is text" * 100)
    folder = tmp_path / "folder.db"
    folder.mkdir()
    return {
        "not a database": f"sqlite:///{junk}",
        "a directory": f"sqlite:///{folder}",
        "missing folder": f"sqlite:///{tmp_path / 'no' / 'such' / 'dir.db'}",
        "bad host": "postgresql+psycopg://someone:s3cret@127.0.0.1:1/nothing?connect_timeout=2",
        "not a url": "::not a url::",
        "unsupported": "mysql://someone:s3cret@localhost/db",
    }


@pytest.mark.parametrize(
    "argv", [["balance", "assets:bank", "--as-of", "2025-01-01"], ["verify"], ["init"]]
)
@pytest.mark.parametrize(
    "case",
    ["not a database", "a directory", "missing folder", "bad host", "not a url", "unsupported"],
)
def test_a_url_that_is_not_a_database_is_one_line_naming_it(
    monkeypatch, tmp_path, capsys, case, argv
):
    url = _url_cases(tmp_path)[case]
    monkeypatch.setenv("FLEXLEDGER_DATABASE_URL", url)
    settings.cache_clear()
    try:
        code = main(argv)
    finally:
        settings.cache_clear()
    captured = capsys.readouterr()
    assert code == 1
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert "Traceback" not in captured.err
    assert "s3cret" not in captured.err
    assert lines[0].startswith("error: ")
    assert "FLEXLEDGER_DATABASE_URL" in lines[0] or "cannot open" in lines[0]


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_an_unreadable_database_file_is_one_line(monkeypatch, tmp_path, capsys):
    path = tmp_path / "locked.db"
    path.write_bytes(b"")
    path.chmod(0)
    monkeypatch.setenv("FLEXLEDGER_DATABASE_URL", f"sqlite:///{path}")
    settings.cache_clear()
    try:
        assert main(["verify"]) == 1
    finally:
        settings.cache_clear()
        path.chmod(stat.S_IRUSR | stat.S_IWUSR)
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err

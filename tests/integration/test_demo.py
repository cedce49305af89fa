"""The README's main command, ``flexledger demo``, as a new user runs it."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from ledger.store.db import make_engine
from ledger.store.tables import entries
from ledger.store.verify import verify


def test_demo_simulates_into_an_empty_ledger_then_audits_it_and_a_rerun_adds_nothing(
    tmp_path, monkeypatch, capsys
):
    from ledger.cli import main
    from ledger.cli.context import settings

    url = f"sqlite:///{tmp_path / 'flexledger.db'}"
    monkeypatch.setenv("FLEXLEDGER_DATABASE_URL", url)
    monkeypatch.setenv("COLUMNS", "120")
    settings.cache_clear()
    try:
        assert main(["demo"]) == 0
        out = capsys.readouterr().out
        assert re.search(r"trial balance total \(debit positive\)\s*│\s*0\.00", out)
        assert re.search(r"verify: hash chain.*│\s*OK", out)
        assert "Try next:" in out
        engine = make_engine(url)
        with engine.connect() as conn:
            recorded = conn.execute(select(func.count()).select_from(entries)).scalar_one()
            assert recorded > 300 * 12  # 300 members over 5 years
            assert verify(conn).ok

        assert main(["demo"]) == 0
        assert "nothing simulated" in capsys.readouterr().out
        with engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(entries)).scalar_one() == recorded
        engine.dispose()
    finally:
        settings.cache_clear()

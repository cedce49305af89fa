"""Tables for people: figures are never cut, whatever the terminal's width."""

import pytest

from ledger.cli.base import FREE_TEXT_WIDTH, print_table

COLUMNS = ("entry", "date", "account", "amount", "reason")
ROWS = [
    (
        "98",
        "2021-01-15",
        "personal:pension:310115200210233056",
        "-1494.24",
        "pension 2021-01 paid 2021-01-15 (monthly), a reason long enough to need wrapping",
    ),
    ("1234567", "2021-02-15", "pooling:pension:310000", "-123456789.01", "short"),
]


@pytest.mark.parametrize("width", ["40", "80", "200"])
def test_every_figure_and_account_prints_whole_at_any_terminal_width(width, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", width)
    print_table("statement", COLUMNS, ROWS)
    out = capsys.readouterr().out
    for row in ROWS:
        for cell in row[:4]:
            assert cell in out, f"{cell!r} was cut at width {width}"
    assert "…" not in out


def test_free_text_wraps_at_words_but_keeps_a_readable_width(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    print_table("statement", COLUMNS, ROWS)
    out = capsys.readouterr().out
    reason_lines = [
        line.rsplit("│", 2)[-2].strip() for line in out.splitlines() if line.startswith("│")
    ]
    reason = " ".join(part for part in reason_lines if part)
    assert "need wrapping" in reason  # the whole reason is there, over several lines
    assert max(len(part) for part in reason_lines) <= FREE_TEXT_WIDTH
    assert max(len(part) for part in reason_lines) >= FREE_TEXT_WIDTH // 2

"""Command lines that tests run through ``flexledger`` to set up a small ledger."""

from __future__ import annotations


def two_paid_months(member: str) -> list[list[str]]:
    """Register ``member`` in Beijing, enrol them in the employee pension at 60% from July
    2025, and pay July and August on 20 August: the argv of each command, in order."""
    return [
        ["member", "add", "--id", member, "--region", "110000"],
        [
            "enroll",
            "--member",
            member,
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
            member,
            "--scheme",
            "pension",
            "--from",
            "2025-07",
            "--to",
            "2025-08",
            "--paid-on",
            "2025-08-20",
        ],
    ]

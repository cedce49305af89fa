"""Entries and postings: balanced by construction, canonical content, the hash chain."""

import json
from datetime import UTC, date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.domain.errors import EntryNotBalanced, InvalidAccount
from ledger.domain.journal import (
    GENESIS_HASH,
    EntryDraft,
    Redraft,
    chain_hash,
    format_recorded_at,
)

LEGS = [
    ("collection:pension:110000", 143240),
    ("personal:pension:M1", -57296),
    ("pooling:pension:110000", -85944),
]


def reference_json(content: dict[str, object]) -> str:
    """The specification of the canonical text (docs/SCHEMA.md): sorted keys, no spaces."""
    return json.dumps(content, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def draft(**changes) -> EntryDraft:
    fields = dict(
        kind="contribution",
        effective_date=date(2025, 7, 15),
        idempotency_key="k1",
        period="2025-07",
        member_id="M1",
        postings=LEGS,
    )
    fields.update(changes)
    return EntryDraft.build(**fields)


def test_an_entry_whose_postings_do_not_sum_to_zero_is_refused():
    with pytest.raises(EntryNotBalanced, match="sum to 1 fen"):
        draft(postings=[("collection:pension:110000", 2), ("pooling:pension:110000", -1)])


def test_an_entry_needs_two_non_zero_postings():
    with pytest.raises(EntryNotBalanced, match="two postings"):
        draft(postings=[("collection:pension:110000", 0), ("pooling:pension:110000", 0)])


def test_float_amounts_are_refused():
    with pytest.raises(EntryNotBalanced, match="integer"):
        draft(postings=[("collection:pension:110000", 1.0), ("pooling:pension:110000", -1.0)])


def test_an_account_outside_the_chart_is_refused():
    with pytest.raises(InvalidAccount):
        draft(postings=[("cash:pension:110000", 1), ("pooling:pension:110000", -1)])


def test_zero_legs_are_dropped():
    entry = draft(postings=[*LEGS, ("subsidy:pension:110000", 0)])
    assert [p.account for p in entry.postings] == [a for a, _ in LEGS]


def test_the_fingerprint_changes_with_any_field():
    base = draft().fingerprint()
    assert draft().fingerprint() == base
    assert draft(reason="x").fingerprint() != base
    assert draft(base_fen=1).fingerprint() != base
    assert draft(effective_date=date(2025, 7, 16)).fingerprint() != base


text = st.text(max_size=20)


@given(
    key=st.text(min_size=1, max_size=30),
    reason=text,
    member=st.none() | text,
    region=st.none() | text,
    base=st.none() | st.integers(),
    corrects=st.none() | st.integers(),
    amount=st.integers(min_value=1, max_value=10**12),
)
def test_the_fast_canonical_text_equals_the_reference_json(
    key, reason, member, region, base, corrects, amount
):
    entry = EntryDraft.build(
        kind="adjustment",
        effective_date=date(2025, 1, 2),
        idempotency_key=key,
        reason=reason,
        member_id=member,
        region=region,
        base_fen=base,
        corrects=corrects,
        postings=[("arrears:pension:M1", amount), ("pooling:pension:110000", -amount)],
    )
    assert entry.canonical() == reference_json(entry.content())


member_ids = st.text(alphabet="0123456789X", min_size=1, max_size=18)


@given(
    template_member=member_ids,
    members=st.lists(member_ids, min_size=1, max_size=5),
    reason=text,
    region=st.none() | text,
    base=st.none() | st.integers(),
    own=st.integers(min_value=-(10**9), max_value=10**9),
    other=st.integers(1, 10**9),
    own_first=st.booleans(),
)
def test_a_redraft_is_the_entry_built_for_that_member_with_its_canonical_text(
    template_member, members, reason, region, base, own, other, own_first
):
    """``Redraft`` copies equal ``EntryDraft.build`` of the same fields, key and own account
    changed; their pre-written canonical text is the reference JSON of those fields."""

    def built(member: str) -> EntryDraft:
        legs = [
            (f"personal:pension:{member}", own),
            ("pooling:pension:110000", -own - other),
            ("collection:pension:110000", other),
        ]
        return EntryDraft.build(
            kind="contribution",
            effective_date=date(2025, 3, 15),
            idempotency_key=f"contribution:2025-03:{member}:pension",
            reason=reason,
            period="2025-03",
            member_id=member,
            scheme="pension",
            region=region,
            base_fen=base,
            postings=legs if own_first else legs[::-1],
        )

    copies = Redraft(
        built(template_member), "contribution:2025-03:", ":pension", "personal:pension:"
    )
    for member in members:
        copy, expected = copies.draft(member), built(member)
        assert copy == expected
        assert copy.canonical_text is not None
        assert copy.canonical() == reference_json(expected.content())
        assert copy.fingerprint() == expected.fingerprint()


def test_a_redraft_refuses_a_template_whose_key_does_not_name_its_member():
    entry = draft()
    with pytest.raises(ValueError, match="<member>"):
        Redraft(entry, "contribution:2025-03:", ":pension", "personal:pension:")


def test_the_chain_hash_covers_the_previous_hash_id_and_time():
    stamp = format_recorded_at(datetime(2025, 7, 20, tzinfo=UTC))
    first = chain_hash(GENESIS_HASH, 1, stamp, draft().canonical())
    assert chain_hash(GENESIS_HASH, 1, stamp, draft().canonical()) == first
    assert chain_hash("1" * 64, 1, stamp, draft().canonical()) != first
    assert chain_hash(GENESIS_HASH, 2, stamp, draft().canonical()) != first
    later = format_recorded_at(datetime(2025, 7, 20, 0, 0, 0, 1, tzinfo=UTC))
    assert chain_hash(GENESIS_HASH, 1, later, draft().canonical()) != first


def test_a_fixed_clock_keeps_time_in_utc():
    from datetime import timedelta, timezone

    from ledger.domain.clock import FixedClock

    beijing = timezone(timedelta(hours=8))
    clock = FixedClock(datetime(2025, 9, 18, 8, 0, tzinfo=beijing))
    assert clock.now() == datetime(2025, 9, 18, 0, 0, tzinfo=UTC)
    assert clock.now().utcoffset() == timedelta(0)


def test_replacing_a_field_of_a_redrafted_entry_drops_its_prewritten_text():
    from dataclasses import replace

    template = draft(idempotency_key="contribution:2025-07:M1:pension", scheme="pension")
    copy = Redraft(template, "contribution:2025-07:", ":pension", "personal:pension:").draft("M2")
    changed = replace(copy, reason="another reason")
    assert changed.canonical_text is None
    assert changed.canonical() == reference_json(changed.content())
    assert changed.canonical() != copy.canonical()

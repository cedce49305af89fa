"""Use cases, each in one unit of work: register, enrol, contribute, import, adjust, correct.

Every use case either writes everything it means to or nothing: it runs in one database
transaction, checks all input before the first write, and turns every refusal into a
``BadInput`` naming the field and the rule. Functions take an open ``Connection`` so a
worker can compose them with its own writes (outbox, processed messages) in the same
transaction; ``Ledger.unit_of_work`` opens one for callers that have none.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date, datetime

from sqlalchemy import Connection, Engine, select

from ledger.domain import keys
from ledger.domain.accounts import agency as agency_account
from ledger.domain.accounts import collection, personal, pooling, subsidy
from ledger.domain.clock import Clock, SystemClock
from ledger.domain.errors import (
    BackPaymentWindowClosed,
    BadInput,
    LedgerError,
    MemberConflict,
    MonthMovedWithTransfer,
    NotEnrolled,
    PaidOutsideItsMonth,
    UnknownMember,
)
from ledger.domain.identity import CitizenId, parse_citizen_id
from ledger.domain.journal import EntryDraft, EntryKind, Redraft
from ledger.domain.members import Enrolment, Member, check_terms
from ledger.domain.period import Month
from ledger.domain.policy import PolicySet, default_policy
from ledger.domain.policy.records import BackPayment, Frequencies
from ledger.domain.rules.contribution import Assessment, BaseChoice, assess
from ledger.domain.schemes import Scheme
from ledger.store import registry
from ledger.store.queries import Departure
from ledger.store.recorder import RecordedEntry, Recorder
from ledger.store.rows import enrolment_from_row
from ledger.store.tables import enrolments, entries, members


class Ledger:
    """The ledger's use cases over one database, one clock and one policy set."""

    def __init__(
        self,
        engine: Engine,
        clock: Clock | None = None,
        policy: PolicySet | None = None,
    ) -> None:
        self.engine = engine
        self.clock = clock or SystemClock()
        self.policy = policy or default_policy()
        self.recorder = Recorder(self.clock)

    @contextmanager
    def unit_of_work(self) -> Iterator[Connection]:
        """One transaction: committed when the block ends, rolled back if it raises."""
        try:
            with self.engine.begin() as conn:
                yield conn
        except BaseException:
            self.recorder.rolled_back()
            raise
        self.recorder.committed()

    # ------------------------------------------------------------------ members

    def add_member(
        self, conn: Connection, id_text: str, region: str, hukou: str | None = None
    ) -> Member:
        """Register a member; registering the same details again writes nothing."""
        citizen = parse_citizen_id(id_text, today=self.clock.now().date())
        self.policy.region(region)
        hukou_code = hukou or citizen.region_code
        _check_region_code(hukou_code, "hukou")
        member = Member(citizen.number, region, hukou_code, citizen.sex.value, citizen.birth_date)
        existing = self.find_member(conn, citizen.number)
        if existing is not None:
            if existing != member:
                raise MemberConflict(
                    "id",
                    f"{citizen.number} is already registered with region "
                    f"{existing.region} and hukou {existing.hukou}",
                )
            return existing
        registry.add_members(
            conn,
            [
                (
                    member.id,
                    member.region,
                    member.hukou,
                    member.sex,
                    member.birth_date,
                    self.clock.now(),
                )
            ],
        )
        return member

    def find_member(self, conn: Connection, member_id: str) -> Member | None:
        row = conn.execute(select(members).where(members.c.id == member_id)).first()
        if row is None:
            return None
        return Member(row.id, row.region, row.hukou, row.sex, row.birth_date)

    def member(self, conn: Connection, id_text: str) -> Member:
        citizen = parse_citizen_id(id_text, today=self.clock.now().date(), field="member")
        found = self.find_member(conn, citizen.number)
        if found is None:
            raise UnknownMember(citizen.number)
        return found

    # ------------------------------------------------------------------ enrolments

    def enroll(
        self,
        conn: Connection,
        member_id: str,
        scheme: Scheme,
        region: str,
        choice: BaseChoice,
        from_month: Month,
        method: str = "monthly",
        agency: str | None = None,
        signed_on: date | None = None,
        to_month: Month | None = None,
    ) -> Enrolment:
        """Enrol a member in a scheme from a month; a later enrolment supersedes an earlier one.

        Enrolling a member exactly as their latest enrolment in the scheme already says
        writes nothing and returns that enrolment: the same command twice is one row.
        """
        member = self.member(conn, member_id)
        self.check_enrolment(scheme, region, choice, from_month, method, agency, to_month)
        values = {
            "member_id": member.id,
            "scheme": scheme.value,
            "region": region,
            "base_percent": str(choice.percent) if choice.percent is not None else None,
            "base_fen": choice.amount_fen,
            "grade": choice.grade,
            "method": method,
            "agency": agency,
            "from_month": str(from_month),
            "to_month": str(to_month) if to_month else None,
            "signed_on": signed_on,
            "recorded_at": self.clock.now(),
        }
        latest = conn.execute(
            select(enrolments)
            .where(enrolments.c.member_id == member.id, enrolments.c.scheme == scheme.value)
            .order_by(enrolments.c.id.desc())
            .limit(1)
        ).first()
        if latest is not None and all(
            getattr(latest, k) == v for k, v in values.items() if k != "recorded_at"
        ):
            return enrolment_from_row(latest)
        return registry.add_enrolment(conn, tuple(values[c] for c in registry.ENROLMENT_COLUMNS))

    def check_enrolment(
        self,
        scheme: Scheme,
        region: str,
        choice: BaseChoice,
        from_month: Month,
        method: str = "monthly",
        agency: str | None = None,
        to_month: Month | None = None,
    ) -> None:
        """What ``enroll`` refuses, without writing: the method and months, and the first
        month assessed now (a base outside the range or a missing policy is refused at
        enrolment, not months later when the first payment fails)."""
        check_terms(method, agency, from_month, to_month)
        assess(self.policy, region, scheme, from_month, choice)

    def enrolments(self, conn: Connection, member_id: str, scheme: Scheme) -> list[Enrolment]:
        rows = conn.execute(
            select(enrolments)
            .where(enrolments.c.member_id == member_id, enrolments.c.scheme == scheme.value)
            .order_by(enrolments.c.from_month, enrolments.c.id)
        )
        return [enrolment_from_row(r) for r in rows]

    @staticmethod
    def enrolment_for(found: Sequence[Enrolment], month: Month) -> Enrolment | None:
        """The enrolment in force for ``month``: the latest one starting by then, if not ended."""
        current = None
        for enrolment in found:
            if enrolment.from_month <= month:
                current = enrolment
        if current is None or (current.to_month is not None and month > current.to_month):
            return None
        return current

    # ------------------------------------------------------------------ contributions

    def contribution_drafts(
        self,
        member: Member | str,
        found: Sequence[Enrolment],
        scheme: Scheme,
        first: Month,
        last: Month,
        paid_on: date,
        known_at: datetime | None = None,
        cache: dict | None = None,
        departed: Mapping[str, Departure] | None = None,
    ) -> list[EntryDraft]:
        """The entries that paying ``first``..``last`` on ``paid_on`` would post (no I/O).

        ``departed``: the regions the member's insurance in ``scheme`` was transferred out
        of (``departures_of``, loaded with the enrolments): a month whose enrolment is in
        one of them is refused (``MonthMovedWithTransfer``).

        ``cache``: a dict kept by a caller drafting many members at one ``known_at`` and
        ``paid_on`` (a batch): assessments and window checks are computed once per region,
        scheme, month and choice, not once per member.
        """
        member_id = member if isinstance(member, str) else member.id
        # A batch drafts every member over the same months on the same day: the checks
        # and the months are the same for all of them, made once.
        span = ("months", first, last, paid_on, scheme)
        months = cache.get(span) if cache is not None else None
        if months is None:
            if last < first:
                raise BadInput("to", f"{last} is before --from {first}")
            if paid_on > self.clock.now().date():
                raise BadInput("paid_on", f"{paid_on} is in the future")
            months = list(first.until(last))
            if scheme.is_yearly:
                months = sorted({Month(m.year, 1) for m in months})
            if cache is not None:
                cache[span] = months
        yearly = scheme.is_yearly
        drafts = []
        for month in months:
            enrolment = self.enrolment_for(found, last if yearly else month)
            if enrolment is None:
                starts = ", ".join(str(e.from_month) for e in found) or "none"
                raise NotEnrolled(
                    "from",
                    f"{month} is outside every {scheme} enrolment of {member_id} "
                    f"(enrolments from: {starts})",
                )
            if departed and enrolment.region in departed:
                gone = departed[enrolment.region]
                raise MonthMovedWithTransfer(
                    "from",
                    f"{month} cannot be paid in {gone.region}: {member_id}'s {scheme} "
                    f"insurance was transferred out of {gone.region} to {gone.to_region} on "
                    f"{gone.on} ({gone.transfer_id}); months are paid where it now is "
                    f"(国办发〔2009〕66号, DOMAIN.md §5)",
                )
            key = (enrolment.region, scheme, month, enrolment.choice, paid_on, known_at)
            assessed = cache.get(key) if cache is not None else None
            if assessed is None:
                self.check_window(enrolment.region, month, paid_on, scheme)
                assessment = assess(
                    self.policy,
                    enrolment.region,
                    scheme,
                    month,
                    enrolment.choice,
                    known_at=known_at or self.clock.now(),
                )
                if cache is None:
                    drafts.append(contribution_draft(member_id, enrolment, assessment, paid_on))
                    continue
                # the assessment, and its drafts' copies by payer (method, company)
                assessed = cache[key] = (assessment, {})
            assessment, by_payer = assessed
            payer = (enrolment.method, enrolment.agency)
            copies = by_payer.get(payer)
            if copies is None:
                template = contribution_draft(member_id, enrolment, assessment, paid_on)
                named, period = scheme.value, assessment.period
                by_payer[payer] = Redraft(
                    template, *keys.contribution_affixes(period, named), f"personal:{named}:"
                )
                drafts.append(template)
            else:
                drafts.append(copies.draft(member_id))
        return drafts

    def monthly_only(self, region: str, month: Month) -> Frequencies | None:
        """The region's rule if it takes flexible employees' months one by one, each in its
        own month, with no catch-up that adds years (Shanghai); None elsewhere."""
        rule = self.policy.at(Frequencies, month.first_day, region)
        if rule.allowed == ["monthly"] and not rule.catch_up_adds_years:
            return rule
        return None

    def window_closes(self, region: str, month: Month) -> date:
        """The last day ``month`` can be paid in ``region``: the end of its year (a
        calendar-year window), else the end of the month itself."""
        window = self.policy.at(BackPayment, month.first_day, region).window
        if window == "calendar-year" and self.monthly_only(region, month) is None:
            return date(month.year, 12, 31)
        return month.last_day

    def check_window(
        self, region: str, month: Month, paid_on: date, scheme: Scheme | None = None
    ) -> None:
        """Refuse paying ``month`` on ``paid_on`` where the region's payment rules forbid
        it: a back-payment window closed, or (flexible employees' schemes) a month-by-month
        region paid in another month. The reason names the rule's source."""
        if scheme is None or not scheme.is_yearly:
            rule = self.monthly_only(region, month)
            if rule is not None and Month.of(paid_on) != month:
                when = "late" if Month.of(paid_on) > month else "ahead"
                raise PaidOutsideItsMonth(
                    "paid_on",
                    f"{month} paid {when} on {paid_on}: {region} takes flexible employees' "
                    f"contributions month by month, each in its own month, with no later "
                    f"catch-up that adds contribution years ({rule.source})",
                )
        window = self.policy.at(BackPayment, month.first_day, region).window
        if window == "calendar-year" and paid_on.year > month.year:
            raise BackPaymentWindowClosed(
                "paid_on",
                f"{month} can no longer be paid on {paid_on}: the back-payment window in "
                f"{region} closed at the end of {month.year} (the month stays a gap)",
            )
        if window == "none" and Month.of(paid_on) > month:
            raise BackPaymentWindowClosed(
                "paid_on", f"{region} accepts no back-payment: {month} paid on {paid_on}"
            )

    # ------------------------------------------------------------------ corrections

    def correct(self, conn: Connection, entry_id: int, reason: str) -> RecordedEntry:
        """Reverse an entry with a new one that points at it; nothing is edited."""
        if not reason.strip():
            raise BadInput("reason", "a correction needs a reason")
        from ledger.store.tables import accounts, postings

        row = conn.execute(select(entries).where(entries.c.id == entry_id)).first()
        if row is None:
            raise BadInput("entry", f"there is no entry {entry_id}")
        legs = conn.execute(
            select(accounts.c.name, postings.c.amount_fen)
            .join(accounts, accounts.c.id == postings.c.account_id)
            .where(postings.c.entry_id == entry_id)
            .order_by(postings.c.id)
        ).all()
        draft = EntryDraft.build(
            kind=EntryKind.CORRECTION,
            effective_date=self.clock.now().date(),
            idempotency_key=keys.correction(entry_id),
            reason=reason.strip(),
            period=row.period,
            member_id=row.member_id,
            scheme=row.scheme,
            region=row.region,
            corrects=entry_id,
            postings=[(name, -amount) for name, amount in legs],
        )
        if self.recorder.recorded(conn, [draft]):
            raise BadInput("entry", f"entry {entry_id} has already been corrected")
        return self.recorder.append(conn, [draft])[0]


def contribution_draft(
    member_id: str, enrolment: Enrolment, assessment: Assessment, paid_on: date
) -> EntryDraft:
    """The balanced entry for one assessed period: the payer debited, the funds credited."""
    scheme, region = assessment.scheme.value, assessment.region
    payer = (
        agency_account(enrolment.agency)
        if enrolment.method == "agency" and enrolment.agency
        else collection(scheme, region)
    )
    return EntryDraft.build(
        kind=EntryKind.CONTRIBUTION,
        effective_date=paid_on,
        idempotency_key=keys.contribution(assessment.period, member_id, scheme),
        reason=f"{scheme} {assessment.period} paid {paid_on} ({enrolment.method})",
        period=str(assessment.period),
        member_id=member_id,
        scheme=scheme,
        region=region,
        base_fen=assessment.base_fen,
        postings=[
            (payer, assessment.total_fen),
            (subsidy(scheme, region), assessment.subsidy_fen),
            (personal(scheme, member_id), -assessment.personal_fen),
            (pooling(scheme, region), -assessment.pooling_fen),
        ],
    )


def _check_region_code(code: str, field: str) -> None:
    from ledger.domain.identity import is_known_region

    if not (len(code) == 6 and code.isdigit() and is_known_region(code)):
        raise BadInput(field, f"{code!r} is not a GB/T 2260 region code")


__all__ = [
    "CitizenId",
    "Enrolment",
    "Ledger",
    "LedgerError",
    "Member",
    "contribution_draft",
]

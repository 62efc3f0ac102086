"""The steering committee's indicators, computed from de-identified statistics facts.

Every indicator is defined once, in ``docs/indicators.md``; each function below names the
section it implements (``§ entries``, ``§ delay``...). Nothing here is defined a second time.

Two stages, both plain functions:

- :func:`aggregate` reduces fact records (:class:`Fact`, one per state change) to
  :class:`Aggregates`: a few small counters for one scope, one period and one axis. The
  database computes the very same ``Aggregates`` with ``GROUP BY`` (``exchange.indicators.facts``),
  which is what the screens use: a million facts never cross into Python. This function is the
  reference the SQL is tested against.
- :func:`compute` does the arithmetic on ``Aggregates`` — sums, means, medians, shares, the
  caseload band — and returns :class:`Indicators`.

Dates are months (the first day of the month): facts carry no finer date than the month.
"""

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import StrEnum
from typing import TypeVar

from exchange.domain.accompaniment import CASELOAD_RANGE, CASELOAD_TARGET, ENTRY_TARGET_DAYS
from exchange.domain.dates import add_months
from exchange.domain.vocabulary import DeclineReason, ExitReason

MIDTERM_GRACE_DAYS = 15
"""A mid-term review counts as done on time up to 15 days after it fell due (§ midterm)."""
MASK_THRESHOLD = 5
MASKED_SHARE = "n.d."

MONTH_NAMES = ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août",
               "septembre", "octobre", "novembre", "décembre")


class Event(StrEnum):
    """What a fact records (§ facts)."""

    ORIENTATION_SENT = "orientation_sent"
    ORIENTATION_ACCEPTED = "orientation_accepted"
    ORIENTATION_DECLINED = "orientation_declined"
    ORIENTATION_RECALLED = "orientation_recalled"
    ENTRY = "entry"
    RENEWAL = "renewal"
    MIDTERM_DONE = "midterm_done"
    EXIT = "exit"


ORIENTATION_EVENTS = (Event.ORIENTATION_SENT, Event.ORIENTATION_ACCEPTED,
                      Event.ORIENTATION_DECLINED, Event.ORIENTATION_RECALLED)


def month_of(day: date) -> date:
    """The month a day falls in, as its first day."""
    return date(day.year, day.month, 1)


def month_label(month: date) -> str:
    return f"{MONTH_NAMES[month.month - 1]} {month.year}"


def last_day(month: date) -> date:
    """The last day of ``month``."""
    return add_months(month_of(month), 1) - timedelta(days=1)


def midterm_on_time(due: date, done: date) -> bool:
    """§ midterm: done on or before the day it fell due plus MIDTERM_GRACE_DAYS."""
    return done <= due + timedelta(days=MIDTERM_GRACE_DAYS)


def within_entry_target(delay_days: int) -> bool:
    """§ delay: an entry at most 21 days after the proposal."""
    return delay_days <= ENTRY_TARGET_DAYS


# -- periods -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """A calendar year, one of its quarters or one of its months (§ periods)."""

    year: int
    quarter: int | None = None
    month: int | None = None

    def __post_init__(self) -> None:
        if not 2000 <= self.year <= 2100:
            raise ValueError("year out of range")
        if self.quarter is not None and self.month is not None:
            raise ValueError("a period is a year, a quarter or a month, not both")
        if self.quarter is not None and not 1 <= self.quarter <= 4:
            raise ValueError("quarter out of range")
        if self.month is not None and not 1 <= self.month <= 12:
            raise ValueError("month out of range")

    @classmethod
    def parse(cls, year: str | None, quarter: str | None, month: str | None,
              default_year: int) -> "Period":
        """From query parameters; empty values are absent; ValueError when invalid."""

        def number(value: str | None) -> int | None:
            value = (value or "").strip()
            if not value:
                return None
            if not value.isdigit() or len(value) > 4:
                raise ValueError("not a number")
            return int(value)

        return cls(number(year) or default_year, number(quarter), number(month))

    @property
    def kind(self) -> str:
        if self.month is not None:
            return "month"
        return "quarter" if self.quarter is not None else "year"

    @property
    def first(self) -> date:
        """The first month of the period."""
        if self.month is not None:
            return date(self.year, self.month, 1)
        if self.quarter is not None:
            return date(self.year, 3 * self.quarter - 2, 1)
        return date(self.year, 1, 1)

    @property
    def last(self) -> date:
        """The last month of the period."""
        span = {"month": 0, "quarter": 2, "year": 11}[self.kind]
        return add_months(self.first, span)

    @property
    def months(self) -> tuple[date, ...]:
        count = {"month": 1, "quarter": 3, "year": 12}[self.kind]
        return tuple(add_months(self.first, i) for i in range(count))

    def contains(self, month: date) -> bool:
        return self.first <= month_of(month) <= self.last

    def caseload_month(self, today: date) -> date:
        """§ caseload: the month whose last day the caseload is taken on — the period's last
        month, or the current month while the period runs."""
        return min(self.last, month_of(today))

    @property
    def label(self) -> str:
        if self.month is not None:
            return month_label(self.first)
        if self.quarter is not None:
            return f"{'1er' if self.quarter == 1 else f'{self.quarter}e'} trimestre {self.year}"
        return f"année {self.year}"

    @property
    def slug(self) -> str:
        """For file names: 2026, 2026-T1, 2026-03."""
        if self.month is not None:
            return f"{self.year}-{self.month:02d}"
        if self.quarter is not None:
            return f"{self.year}-T{self.quarter}"
        return str(self.year)


def quarter_of(month: date) -> int:
    return (month.month - 1) // 3 + 1


# -- facts and scopes ----------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Fact:
    """One statistics row (``exchange.indicators.models.StatFact``), without its id."""

    event: str
    axis: int
    convention_id: int
    sender_institution_id: int
    sender_unit_id: int
    receiving_institution_id: int
    receiving_unit_id: int
    month: date
    advisor_ref: str | None = None
    accompaniment_ref: str | None = None
    rsa_beneficiary: bool | None = None
    proposal_month: date | None = None
    entry_month: date | None = None
    delay_days: int | None = None
    within_21_days: bool | None = None
    decline_reason: str | None = None
    exit_reason: str | None = None
    positive_exit: bool | None = None
    midterm_on_time: bool | None = None


@dataclass(frozen=True)
class Scope:
    """Whose indicators (§ scopes): an institution's, a convention's or a unit's; exactly one
    is set."""

    institution: int | None = None
    convention: int | None = None
    unit: int | None = None

    def __post_init__(self) -> None:
        if sum(v is not None for v in (self.institution, self.convention, self.unit)) != 1:
            raise ValueError("a scope names exactly one institution, convention or unit")

    def admits(self, fact: Fact) -> bool:
        if self.convention is not None:
            return fact.convention_id == self.convention
        if self.institution is not None:
            return self.institution in (fact.sender_institution_id,
                                        fact.receiving_institution_id)
        return self.unit in (fact.sender_unit_id, fact.receiving_unit_id)


# -- stage 1: aggregates -------------------------------------------------------------------

K = TypeVar("K")
FlowKey = tuple[str, int, int, int, int]
"""(event, sender institution, sender unit, receiving institution, receiving unit)."""


@dataclass(frozen=True)
class Aggregates:
    """Small counters for one scope, period and axis. ``exchange.indicators.facts`` fills the same
    structure from SQL; zero counts are left out of every mapping."""

    period: Period
    caseload_month: date
    flows: Mapping[FlowKey, int] = field(default_factory=dict)
    decline_reasons: Mapping[str, int] = field(default_factory=dict)
    entries_by_month: Mapping[date, int] = field(default_factory=dict)
    delays: Mapping[int, int] = field(default_factory=dict)
    entries_within_target: int = 0
    entries_rsa: Mapping[bool, int] = field(default_factory=dict)
    exits_by_reason: Mapping[str, int] = field(default_factory=dict)
    positive_exits: int = 0
    renewals: int = 0
    midterm_reviews: Mapping[bool, int] = field(default_factory=dict)
    caseload: Mapping[str, int] = field(default_factory=dict)
    entries_by_advisor: Mapping[str, int] = field(default_factory=dict)


def nonzero(counts: Mapping[K, int]) -> dict[K, int]:
    return {key: value for key, value in counts.items() if value}


class Tally:
    """The counters an :class:`Aggregates` is made of. Both reductions add to one — `aggregate`
    fact by fact, `exchange.indicators.facts` group by group (``n`` facts at once) — so that a fact
    counts the same way in both; only the choice of facts differs."""

    def __init__(self, period: Period, caseload_month: date) -> None:
        self.period, self.caseload_month = period, caseload_month
        self.flows: Counter[FlowKey] = Counter()
        self.declines: Counter[str] = Counter()
        self.entries: Counter[date] = Counter()
        self.delays: Counter[int] = Counter()
        self.rsa: Counter[bool] = Counter()
        self.exits: Counter[str] = Counter()
        self.midterm: Counter[bool] = Counter()
        self.active: Counter[str] = Counter()
        self.entered: Counter[str] = Counter()
        self.within = self.positive = self.renewals = 0

    def orientation(self, event: str, parties: tuple[int, int, int, int], n: int = 1) -> None:
        """§ orientations: an orientation event of the period, between its two units."""
        self.flows[(event, *parties)] += n

    def event(self, event: str, *, month: date, decline_reason: str | None,
              exit_reason: str | None, positive_exit: bool | None,
              midterm_on_time: bool | None, delay_days: int | None,
              within_21_days: bool | None, rsa_beneficiary: bool | None, n: int = 1) -> None:
        """A fact of the period: declines (§ orientations), entries (§ entries, § delay,
        § rsa), exits (§ exits), renewals, mid-term reviews; other events count nothing."""
        if event == Event.ORIENTATION_DECLINED and decline_reason is not None:
            self.declines[decline_reason] += n
        elif event == Event.ENTRY:
            self.entries[month] += n
            if delay_days is not None:
                self.delays[delay_days] += n
            self.within += n if within_21_days else 0
            if rsa_beneficiary is not None:
                self.rsa[bool(rsa_beneficiary)] += n
        elif event == Event.EXIT and exit_reason is not None:
            self.exits[exit_reason] += n
            self.positive += n if positive_exit else 0
        elif event == Event.RENEWAL:
            self.renewals += n
        elif event == Event.MIDTERM_DONE and midterm_on_time is not None:
            self.midterm[bool(midterm_on_time)] += n

    def advisor(self, ref: str, active: int, entered: int = 0) -> None:
        """§ caseload: people an advisor gained (or lost, when negative) up to the caseload
        month, and entries of the period."""
        self.active[ref] += active
        self.entered[ref] += entered

    def result(self) -> Aggregates:
        return Aggregates(
            period=self.period, caseload_month=self.caseload_month, flows=nonzero(self.flows),
            decline_reasons=nonzero(self.declines), entries_by_month=nonzero(self.entries),
            delays=nonzero(self.delays), entries_within_target=self.within,
            entries_rsa=nonzero(self.rsa), exits_by_reason=nonzero(self.exits),
            positive_exits=self.positive, renewals=self.renewals,
            midterm_reviews=nonzero(self.midterm), caseload=nonzero(self.active),
            entries_by_advisor=nonzero(self.entered))


def aggregate(facts: Iterable[Fact], scope: Scope, period: Period, today: date,
              axis: int | None = None) -> Aggregates:
    """The reference reduction of facts to :class:`Aggregates` (every § of the document)."""
    tally = Tally(period, period.caseload_month(today))
    for fact in facts:
        if not scope.admits(fact) or (axis is not None and fact.axis != axis):
            continue
        event, ref = Event(fact.event), fact.advisor_ref
        if ref is not None and fact.month <= tally.caseload_month:
            if event is Event.ENTRY:
                tally.advisor(ref, 1)
            elif event is Event.EXIT and fact.entry_month is not None:
                tally.advisor(ref, -1)
        if not period.contains(fact.month):
            continue
        if event is Event.ENTRY and ref is not None:
            tally.advisor(ref, 0, 1)
        if event in ORIENTATION_EVENTS:
            tally.orientation(event, (fact.sender_institution_id, fact.sender_unit_id,
                                      fact.receiving_institution_id, fact.receiving_unit_id))
        tally.event(event, month=fact.month, decline_reason=fact.decline_reason,
                    exit_reason=fact.exit_reason, positive_exit=fact.positive_exit,
                    midterm_on_time=fact.midterm_on_time, delay_days=fact.delay_days,
                    within_21_days=fact.within_21_days, rsa_beneficiary=fact.rsa_beneficiary)
    return tally.result()


# -- stage 2: the arithmetic ---------------------------------------------------------------


def share(part: int, whole: int) -> float | None:
    """``part / whole``; None when there is nothing to divide."""
    return part / whole if whole else None


@dataclass(frozen=True)
class Direction:
    """§ orientations: what one institution oriented to another in the period."""

    sender_institution_id: int
    receiving_institution_id: int
    sent: int
    accepted: int
    declined: int
    recalled: int


@dataclass(frozen=True)
class UnitActivity:
    """§ orientations: one unit's orientations in the period, as sender and as recipient."""

    institution_id: int
    unit_id: int
    sent: int
    received: int
    accepted: int
    declined: int


@dataclass(frozen=True)
class Orientations:
    sent: int
    accepted: int
    declined: int
    recalled: int
    directions: tuple[Direction, ...]
    units: tuple[UnitActivity, ...]
    decline_reasons: tuple[tuple[DeclineReason, int], ...]


def orientations(flows: Mapping[FlowKey, int],
                 decline_reasons: Mapping[str, int]) -> Orientations:
    """§ orientations."""
    by_direction: dict[tuple[int, int], Counter[str]] = {}
    by_unit: dict[tuple[int, int], Counter[str]] = {}
    totals: Counter[str] = Counter()
    for (event, s_inst, s_unit, r_inst, r_unit), count in flows.items():
        totals[event] += count
        by_direction.setdefault((s_inst, r_inst), Counter())[event] += count
        sender = by_unit.setdefault((s_inst, s_unit), Counter())
        receiver = by_unit.setdefault((r_inst, r_unit), Counter())
        if event == Event.ORIENTATION_SENT:
            sender["sent"] += count
            receiver["received"] += count
        elif event == Event.ORIENTATION_ACCEPTED:
            receiver["accepted"] += count
        elif event == Event.ORIENTATION_DECLINED:
            receiver["declined"] += count
    directions = tuple(
        Direction(s, r, c[Event.ORIENTATION_SENT], c[Event.ORIENTATION_ACCEPTED],
                  c[Event.ORIENTATION_DECLINED], c[Event.ORIENTATION_RECALLED])
        for (s, r), c in sorted(by_direction.items()))
    units = tuple(UnitActivity(i, u, c["sent"], c["received"], c["accepted"], c["declined"])
                  for (i, u), c in sorted(by_unit.items()) if sum(c.values()))
    return Orientations(
        sent=totals[Event.ORIENTATION_SENT], accepted=totals[Event.ORIENTATION_ACCEPTED],
        declined=totals[Event.ORIENTATION_DECLINED], recalled=totals[Event.ORIENTATION_RECALLED],
        directions=directions, units=units,
        decline_reasons=tuple((reason, decline_reasons.get(reason.value, 0))
                              for reason in DeclineReason),
    )


@dataclass(frozen=True)
class Entries:
    """§ entries: entries in the period, by month and by quarter."""

    total: int
    by_month: tuple[tuple[date, int], ...]
    by_quarter: tuple[tuple[int, int], ...]


def entries(period: Period, by_month: Mapping[date, int]) -> Entries:
    months = tuple((month, by_month.get(month, 0)) for month in period.months)
    quarters: Counter[int] = Counter()
    for month, count in months:
        quarters[quarter_of(month)] += count
    return Entries(total=sum(count for _, count in months), by_month=months,
                   by_quarter=tuple(sorted(quarters.items())))


@dataclass(frozen=True)
class DelaySummary:
    """§ delay: days from proposal to entry, over the entries of the period."""

    entries: int
    mean: float | None
    median: float | None
    within_target: int
    share_within: float | None


def median(histogram: Mapping[int, int]) -> float | None:
    """The median of the values a ``value -> how many`` histogram describes."""
    count = sum(histogram.values())
    if not count:
        return None
    wanted = ((count - 1) // 2, count // 2)  # the two middle ranks (equal when count is odd)
    found: list[int] = []
    seen = 0
    for value in sorted(histogram):
        upto = seen + histogram[value]
        found.extend(value for rank in wanted if seen <= rank < upto)
        seen = upto
    return (found[0] + found[1]) / 2


def delay(histogram: Mapping[int, int], within_target: int) -> DelaySummary:
    count = sum(histogram.values())
    total = sum(days * n for days, n in histogram.items())
    return DelaySummary(entries=count, mean=share(total, count), median=median(histogram),
                        within_target=within_target, share_within=share(within_target, count))


DELAY_BUCKETS: tuple[tuple[int, int | None, str], ...] = (
    (0, 7, "0 à 7 j"), (8, 14, "8 à 14 j"), (15, 21, "15 à 21 j"), (22, 30, "22 à 30 j"),
    (31, 45, "31 à 45 j"), (46, 60, "46 à 60 j"), (61, None, "plus de 60 j"),
)


def delay_distribution(histogram: Mapping[int, int]) -> tuple[tuple[str, int], ...]:
    """§ delay: entries per band of days, for the annual report's histogram."""
    return tuple(
        (label, sum(n for days, n in histogram.items()
                    if low <= days and (high is None or days <= high)))
        for low, high, label in DELAY_BUCKETS)


@dataclass(frozen=True)
class CaseloadBand:
    """§ caseload: the expected active caseload per advisor, ``low`` to ``high`` people."""

    low: int
    high: int

    @classmethod
    def for_target(cls, target: int | None) -> "CaseloadBand":
        """A convention's ``caseload_target`` is the top of its band; the bottom is the
        platform's 70. Target 70 gives "70" (001, 003), target 100 gives "70 to 100" (004)."""
        top = CASELOAD_TARGET if target is None else target
        return cls(min(CASELOAD_RANGE[0], top), top)

    @property
    def label(self) -> str:
        return str(self.high) if self.low == self.high else f"{self.low} à {self.high}"

    def status(self, active: int) -> str:
        if active < self.low:
            return "below"
        return "above" if active > self.high else "within"


STATUS_LABELS = {"below": "en dessous de la cible", "within": "dans la cible",
                 "above": "au-dessus de la cible"}


@dataclass(frozen=True)
class AdvisorLoad:
    ref: str
    active: int
    entries: int
    status: str

    @property
    def label(self) -> str:
        """The advisor as the screens name them: an opaque code, never a name."""
        return f"Conseiller {self.ref[:8]}"


@dataclass(frozen=True)
class Caseload:
    """§ caseload: people in accompaniment on the last day of ``month``, per advisor."""

    month: date
    band: CaseloadBand
    advisors: tuple[AdvisorLoad, ...]
    total_active: int
    mean_active: float | None

    @property
    def as_of(self) -> date:
        return last_day(self.month)


def caseload(month: date, active: Mapping[str, int], entries_by_advisor: Mapping[str, int],
             band: CaseloadBand) -> Caseload:
    refs = sorted(set(nonzero(active)) | set(nonzero(entries_by_advisor)))
    loads = tuple(AdvisorLoad(ref, active.get(ref, 0), entries_by_advisor.get(ref, 0),
                              band.status(active.get(ref, 0))) for ref in refs)
    with_people = [load.active for load in loads if load.active > 0]
    return Caseload(month=month, band=band, advisors=loads, total_active=sum(with_people),
                    mean_active=share(sum(with_people), len(with_people)))


@dataclass(frozen=True)
class Exits:
    """§ exits: exits in the period by reason; positive = employment or qualifying training."""

    total: int
    by_reason: tuple[tuple[ExitReason, int], ...]
    positive: int
    share_positive: float | None


def exits(by_reason: Mapping[str, int], positive: int) -> Exits:
    total = sum(by_reason.values())
    return Exits(total=total,
                 by_reason=tuple((reason, by_reason.get(reason.value, 0))
                                 for reason in ExitReason),
                 positive=positive, share_positive=share(positive, total))


@dataclass(frozen=True)
class Midterm:
    """§ midterm: mid-term reviews recorded in the period, and those done on time."""

    done: int
    on_time: int
    share_on_time: float | None


@dataclass(frozen=True)
class Rsa:
    """§ rsa: entries of RSA beneficiaries, among the entries whose status is known."""

    entries: int
    beneficiaries: int
    not_beneficiaries: int
    unknown: int
    share: float | None


@dataclass(frozen=True)
class Indicators:
    period: Period
    axis: int | None
    orientations: Orientations
    entries: Entries
    delay: DelaySummary
    delay_distribution: tuple[tuple[str, int], ...]
    caseload: Caseload
    exits: Exits
    renewals: int
    midterm: Midterm
    rsa: Rsa


def compute(aggregates: Aggregates, band: CaseloadBand, axis: int | None = None) -> Indicators:
    """Every indicator of ``docs/indicators.md`` from the aggregates of one scope."""
    a = aggregates
    counted = entries(a.period, a.entries_by_month)
    yes, no = a.entries_rsa.get(True, 0), a.entries_rsa.get(False, 0)
    done = sum(a.midterm_reviews.values())
    on_time = a.midterm_reviews.get(True, 0)
    return Indicators(
        period=a.period,
        axis=axis,
        orientations=orientations(a.flows, a.decline_reasons),
        entries=counted,
        delay=delay(a.delays, a.entries_within_target),
        delay_distribution=delay_distribution(a.delays),
        caseload=caseload(a.caseload_month, a.caseload, a.entries_by_advisor, band),
        exits=exits(a.exits_by_reason, a.positive_exits),
        renewals=a.renewals,
        midterm=Midterm(done=done, on_time=on_time, share_on_time=share(on_time, done)),
        rsa=Rsa(entries=counted.total, beneficiaries=yes, not_beneficiaries=no,
                unknown=counted.total - yes - no, share=share(yes, yes + no)),
    )


# -- presentation helpers shared by the screens, the CSV and the report ----------------------


def mask(value: int, threshold: int = MASK_THRESHOLD) -> str:
    """A count as it may leave the portal (§ masking): 1 to ``threshold - 1`` become
    ``"< threshold"``; 0 and larger counts are shown."""
    if 0 < value < threshold:
        return f"< {threshold}"
    return str(value)


def number_fr(value: float | None, digits: int = 1) -> str:
    """``12,5`` — French decimal comma; ``—`` when there is no value."""
    if value is None:
        return "—"
    text = f"{value:.{digits}f}".replace(".", ",")
    return text


def percent_fr(value: float | None) -> str:
    """``42,9 %`` with a no-break space, as French typography writes it."""
    return "—" if value is None else f"{number_fr(100 * value)}\u00a0%"


def masked_ratio(text: str, denominator: int, threshold: int | None) -> str:
    """§ masking: a mean or share computed over fewer than ``threshold`` items is withheld
    in exports (``threshold`` None: not masked)."""
    if threshold is not None and 0 < denominator < threshold:
        return MASKED_SHARE
    return text


"""What servers cost: pure arithmetic in Decimal, exact to the cent. No I/O.

A server is charged for every hour it exists, counted from the moment it was provisioned
(hour k starts k hours after `provisioned_at`) until it is deleted; an hour that has started
is charged whole. An hour belongs to the calendar month (UTC) in which it starts. A server
keeps the prices its plan had when it was created: H per hour, M per month. In a month in
which n of its hours started, b of them charged while backups were enabled, it costs

    plan(n)    = min(round(n * H), M)
    backups(b) = min(round(b * H * 20%), round(M * 20%))

(rounded half up to the cent). The worker charges hours as they start; each charge is the
growth of that sum, so a month's charges add up to exactly plan(n) + backups(b) and never
pass the monthly price (M, plus 20% with backups).

A resize (vpsorg.servers.resize) changes the prices from the server's next hour on: every
hour that started before the resize ended, the one it ended in included, is charged at the
old prices. What the month had cost by then, C, is carried; the month's later hours are
counted afresh (n, b) at the new prices H', M', and the month costs

    total = max(C, min(C + plan'(n) + backups'(b), M' (+ 20% of M' if b > 0)))

so a month never costs more than the later plan's month, nor less than it had cost already
(with C = 0 this is the formula above; several resizes in a month carry one after another).
"""

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
BACKUP_SURCHARGE = Decimal("0.20")
HOUR = timedelta(hours=1)


def cents(amount: Decimal) -> Decimal:
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def backup_cap(monthly: Decimal) -> Decimal:
    return cents(monthly * BACKUP_SURCHARGE)


def monthly_price(monthly: Decimal, *, backups: bool) -> Decimal:
    """One month of a server: the most it can cost in a calendar month."""
    return cents(monthly) + (backup_cap(monthly) if backups else Decimal("0.00"))


def hourly_price(hourly: Decimal, *, backups: bool) -> Decimal:
    """What an hour of a server adds to its month (before the month's cap), backups included."""
    return hourly * (1 + BACKUP_SURCHARGE) if backups else hourly


ZERO = Decimal("0.00")


def month_total(
    hours: int, backup_hours: int, *, hourly: Decimal, monthly: Decimal, carried: Decimal = ZERO
) -> Decimal:
    """What a server costs in a month in which `hours` of its hours started, `backup_hours`
    of them with backups, at these prices, after `carried` under the plans it had before a
    resize in that month (the formulas above)."""
    plan = min(cents(hours * hourly), cents(monthly))
    backups = min(cents(backup_hours * hourly * BACKUP_SURCHARGE), backup_cap(monthly))
    if not carried:
        return plan + backups
    return max(carried, min(carried + plan + backups, monthly_price(monthly, backups=backup_hours > 0)))


def month_of(t: datetime) -> str:
    return t.strftime("%Y-%m")


@dataclass(frozen=True)
class BillingState:
    """How far a server has been charged: hours starting before `billed_until` are, and of
    those that started in `month`, `hours` (`backup_hours` with backups)."""

    billed_until: datetime
    month: str | None
    hours: int
    backup_hours: int
    carried: Decimal = ZERO  # what `month` cost before the server's last resize in it


@dataclass(frozen=True)
class Charge:
    """Consecutive hours of one server in one month, charged together."""

    month: str
    period_start: datetime
    period_end: datetime
    hours: int
    backup_hours: int
    amount: Decimal


def charges_due(
    state: BillingState, *, until: datetime, backups: bool, hourly: Decimal, monthly: Decimal
) -> tuple[list[Charge], BillingState]:
    """The charges for every hour starting before `until` not yet charged (one per month
    touched), and the state after them."""
    charges: list[Charge] = []
    t = state.billed_until
    while t < until:
        month = month_of(t)
        same = month == state.month
        n0, b0 = (state.hours, state.backup_hours) if same else (0, 0)
        c0 = state.carried if same else ZERO
        start, n = t, 0
        while t < until and month_of(t) == month:
            n += 1
            t += HOUR
        b = n if backups else 0
        amount = month_total(n0 + n, b0 + b, hourly=hourly, monthly=monthly, carried=c0) - month_total(
            n0, b0, hourly=hourly, monthly=monthly, carried=c0
        )
        charges.append(Charge(month, start, t, n, b, amount))
        state = replace(state, month=month, hours=n0 + n, backup_hours=b0 + b, carried=c0)
    return charges, replace(state, billed_until=t)


def carry(state: BillingState, *, hourly: Decimal, monthly: Decimal) -> BillingState:
    """The state after a resize (its hours that started charged at the old prices `hourly`
    and `monthly`): what its month cost carried, its hours counted afresh."""
    total = month_total(
        state.hours, state.backup_hours, hourly=hourly, monthly=monthly, carried=state.carried
    )
    return replace(state, hours=0, backup_hours=0, carried=total)

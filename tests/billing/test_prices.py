"""The charging formula (vpsorg.billing.prices), pure: months, caps, backups, rounding."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from vpsorg.billing.prices import BillingState, carry, charges_due, hourly_price, month_total, monthly_price

H = timedelta(hours=1)
STANDARD = {"hourly": Decimal("0.0360"), "monthly": Decimal("24.00")}


def test_month_total_rounds_the_sum_not_each_hour() -> None:
    # 0.0089/h: one hour is 0.01 (0.0089 rounded), two are 0.02 (0.0178), three 0.03 (0.0267)
    starter = {"hourly": Decimal("0.0089"), "monthly": Decimal("6.00")}
    assert [month_total(n, 0, **starter) for n in (0, 1, 2, 3, 100)] == [
        Decimal("0.00"),
        Decimal("0.01"),
        Decimal("0.02"),
        Decimal("0.03"),
        Decimal("0.89"),
    ]


def test_month_total_is_capped_at_the_monthly_price() -> None:
    assert month_total(666, 0, **STANDARD) == Decimal("23.98")  # 666 * 0.036 = 23.976
    assert month_total(667, 0, **STANDARD) == Decimal("24.00")  # 24.012, capped
    assert month_total(744, 0, **STANDARD) == Decimal("24.00")
    # Backups: 20% of the hourly price, capped at 20% of the monthly one.
    assert month_total(10, 10, **STANDARD) == Decimal("0.36") + Decimal("0.07")  # 0.072
    assert month_total(744, 744, **STANDARD) == Decimal("28.80")
    assert monthly_price(Decimal("24.00"), backups=True) == Decimal("28.80")
    assert monthly_price(Decimal("6.00"), backups=False) == Decimal("6.00")


def test_charges_split_at_the_month_and_add_up_to_the_formula() -> None:
    start = datetime(2027, 1, 31, 21, 30, tzinfo=UTC)
    state = BillingState(start, None, 0, 0)
    charges, after = charges_due(state, until=start + 5 * H, backups=False, **STANDARD)
    # Hours starting 21:30, 22:30, 23:30 are January's; 00:30 and 01:30 February's.
    assert [(c.month, c.hours, c.amount) for c in charges] == [
        ("2027-01", 3, Decimal("0.11")),
        ("2027-02", 2, Decimal("0.07")),
    ]
    assert charges[0].period_end == charges[1].period_start == start + 3 * H
    assert after == BillingState(start + 5 * H, "2027-02", 2, 0)
    # Charged again up to the same instant: nothing new.
    again, same = charges_due(after, until=start + 5 * H, backups=False, **STANDARD)
    assert again == [] and same == after


@pytest.mark.parametrize("step_hours", [1, 7, 50, 1000])
def test_charging_in_any_steps_gives_the_same_total(step_hours: int) -> None:
    """Hour by hour or in big catch-up steps (a worker that was down): the same cents."""
    start = datetime(2027, 1, 25, 10, 15, tzinfo=UTC)
    end = start + 40 * 24 * H
    state = BillingState(start, None, 0, 0)
    per_month: dict[str, Decimal] = {}
    t = start
    while t < end:
        t = min(t + step_hours * H + timedelta(minutes=1), end)
        charges, state = charges_due(state, until=t, backups=True, **STANDARD)
        for c in charges:
            per_month[c.month] = per_month.get(c.month, Decimal(0)) + c.amount
    # Jan 25 10:15 .. Jan 31 23:15 is 158 hours; all 672 of February; March gets the rest.
    assert per_month == {
        "2027-01": month_total(158, 158, **STANDARD),
        "2027-02": Decimal("28.80"),
        "2027-03": month_total(960 - 158 - 672, 960 - 158 - 672, **STANDARD),
    }


def test_an_hour_with_backups_adds_the_surcharge_as_the_month_total_charges_it() -> None:
    hourly = STANDARD["hourly"]
    assert hourly_price(hourly, backups=False) == hourly
    assert hourly_price(hourly, backups=True) == Decimal("0.0432")
    # one hour's charge with backups is the hour's price, rounded as the month's total is
    one = month_total(1, 1, **STANDARD)
    assert one == Decimal("0.04") + Decimal("0.01")
    assert month_total(100, 100, **STANDARD) == (100 * hourly_price(hourly, backups=True)).quantize(
        Decimal("0.01")
    )


# -- a month split across a resize (README, "Resize") ------------------------------------------

PERFORMANCE = {"hourly": Decimal("0.0714"), "monthly": Decimal("48.00")}
STARTER = {"hourly": Decimal("0.0089"), "monthly": Decimal("6.00")}


def _resize_at(state: BillingState, at: datetime, old: dict[str, Decimal]) -> BillingState:
    """What billing.reprice does: the hours that started by `at` charged at the old prices,
    then the month carried."""
    _, state = charges_due(state, until=at, backups=False, **old)
    return carry(state, **old)


def test_the_hour_a_resize_happens_in_is_charged_at_the_old_price() -> None:
    start = datetime(2027, 3, 1, 0, 0, tzinfo=UTC)
    state = BillingState(start, None, 0, 0)
    # Charged through 10:xx: hours 00:00 ... 10:00 (11 of them) at Standard's price.
    charges, state = charges_due(
        state, until=start + 10 * H + timedelta(minutes=5), backups=False, **STANDARD
    )
    assert sum(c.amount for c in charges) == Decimal("0.40")  # round(11 * 0.036) = 0.396
    resized = start + 10 * H + timedelta(minutes=30)  # in the hour that started at 10:00
    state = _resize_at(state, resized, STANDARD)
    assert state.billed_until == start + 11 * H  # the 10:00 hour was charged, at the old price
    assert (state.hours, state.carried) == (0, Decimal("0.40"))
    # 11:00 and 12:00 start at Performance's price: round(2 * 0.0714) = 0.14
    charges, state = charges_due(
        state, until=start + 12 * H + timedelta(minutes=1), backups=False, **PERFORMANCE
    )
    assert [(c.hours, c.amount) for c in charges] == [(2, Decimal("0.14"))]
    assert month_total(state.hours, 0, **PERFORMANCE, carried=state.carried) == Decimal("0.54")


def test_a_resize_before_the_hour_was_charged_charges_it_at_the_old_price() -> None:
    start = datetime(2027, 3, 1, 0, 0, tzinfo=UTC)
    # Provisioned at 00:00, nothing charged yet (billing had not run); resized at 00:20.
    state = _resize_at(BillingState(start, None, 0, 0), start + timedelta(minutes=20), STANDARD)
    assert state.billed_until == start + H and state.carried == Decimal("0.04")  # round(0.036)
    charges, _ = charges_due(state, until=start + H + timedelta(seconds=1), backups=False, **PERFORMANCE)
    assert [c.amount for c in charges] == [Decimal("0.07")]  # the next hour, at the new price


def test_a_month_split_across_a_resize_never_passes_the_later_plan_s_month() -> None:
    start = datetime(2027, 3, 1, 0, 0, tzinfo=UTC)
    # 600 hours of Starter (600 * 0.0089 = 5.34, under its 6.00), then Performance.
    state = _resize_at(BillingState(start, None, 0, 0), start + 599 * H + timedelta(minutes=1), STARTER)
    assert state.carried == Decimal("5.34")
    charges, state = charges_due(state, until=datetime(2027, 4, 1, tzinfo=UTC), backups=False, **PERFORMANCE)
    # the month's last 144 hours at 0.0714: 10.28, under Performance's 48.00
    assert state.hours == 744 - 600 and sum(c.amount for c in charges) == Decimal("10.28")
    # nearly a month of Performance, then Standard: the month is 48.00 at most, and never less
    # than it had cost already (Standard's 24.00 cap does not give anything back)
    state = _resize_at(BillingState(start, None, 0, 0), start + 700 * H + timedelta(minutes=1), PERFORMANCE)
    assert state.carried == Decimal("48.00")  # round(701 * 0.0714) = 50.05, capped
    charges, state = charges_due(state, until=datetime(2027, 4, 1, tzinfo=UTC), backups=False, **STANDARD)
    assert sum(c.amount for c in charges) == Decimal("0.00") and state.hours == 744 - 701
    assert month_total(state.hours, 0, **STANDARD, carried=state.carried) == Decimal("48.00")


def test_the_carried_amount_stays_in_its_month() -> None:
    start = datetime(2027, 3, 31, 22, 0, tzinfo=UTC)
    state = _resize_at(BillingState(start, None, 0, 0), start + timedelta(minutes=10), STANDARD)
    assert state.carried == Decimal("0.04") and state.month == "2027-03"
    charges, state = charges_due(state, until=start + 3 * H, backups=False, **PERFORMANCE)
    # 23:00 in March (carried 0.04 + 0.07), 00:00 in April afresh (0.07; nothing carried)
    assert [(c.month, c.amount) for c in charges] == [
        ("2027-03", Decimal("0.07")),
        ("2027-04", Decimal("0.07")),
    ]
    assert (state.month, state.hours, state.carried) == ("2027-04", 1, Decimal("0.00"))

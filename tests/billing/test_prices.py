"""The charging formula (vpsorg.billing.prices), pure: months, caps, backups, rounding."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from vpsorg.billing.prices import BillingState, charges_due, hourly_price, month_total, monthly_price

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

"""The general manager's charts (``settlement.service.months_overview``, ``days_overview``,
``overview_by_period`` and ``ledger.results_by_period``) tell the same story as the month's
``overview``: period by period, and the days of a month adding up to the month."""

from __future__ import annotations

from marketplace.core.clock import month_bounds
from marketplace.ledger import service as ledger
from marketplace.settlement import service as settlement
from tests.web.test_staff_money import november  # noqa: F401 - the fixture

FIGURES = (
    "gmv",
    "refunds",
    "platform_margin",
    "commission",
    "subsidies_budgeted",
    "subsidies_spent",
    "net_result",
)


def test_each_month_and_the_days_of_a_month_equal_the_months_overview(app, november):  # noqa: F811
    with app.app_context():
        month = settlement.overview("2026-11")
        months = settlement.months_overview("2026-11", 3)
        days = settlement.days_overview("2026-11")
        start, end = month_bounds("2026-11")
        whole = ledger.results_by_period([start, end])
        between = ledger.results_between(start, end)
        statements = settlement.statement_totals("2026-11")

    assert [m["period"] for m in months] == ["2026-09", "2026-10", "2026-11"]
    assert all(months[0][name] == 0 for name in FIGURES)
    assert {name: months[-1][name] for name in FIGURES} == {name: month[name] for name in FIGURES}
    assert len(days) == 30
    for name in FIGURES:
        assert sum(d[name] for d in days) == month[name], name
    assert whole == [between]
    assert month["gmv"] > 0 and sum(d["settlement_owed"] for d in days) > 0
    assert statements == {
        "merchant": 0,
        "distributor": 0,
        "statements": 0,
        "paid": 0,
        "paid_total": 0,
    }


def test_the_days_of_the_current_month_stop_at_today(app, november):  # noqa: F811
    with app.app_context():
        days = settlement.days_overview("2026-12")  # the clock says 1 December
    assert [d["day"].isoformat() for d in days] == ["2026-12-01"]

"""The general manager's money pages (role ``admin``, as every route of
``settlement/api.py``): the month's overview with its charts, settlement (run a month,
the statements, payouts) and the reconciliation against the payment provider.

Every figure is the settlement domain's: ``overview`` (the API's
``/settlements/overview``), ``months_overview`` and ``days_overview`` (the same figures
per month and per day, for the charts), ``statement_totals`` (the month's statements
added up, shown beside the overview so the two can be compared), ``close_month``,
``statements``, ``get_statement``, ``record_payout``, ``to_csv``, ``reconcile``. The
charts are drawn here as SVG from those figures (``chart``): geometry only, no sums.
"""

from __future__ import annotations

from typing import Any

from flask import Response as FlaskResponse
from flask import flash, redirect, request, url_for

from marketplace.accounts.auth import current_user
from marketplace.accounts.models import Role
from marketplace.core.clock import month_of, now, previous_month
from marketplace.settlement import service as settlement
from marketplace.settlement.schemas import PayoutSchema, PeriodSchema
from marketplace.web.session import page_login_required
from marketplace.web.staff import bp, menu_item
from marketplace.web.staff.ops import PAGE_SIZE, act, choice, load, page_number, page_of, render
from marketplace.web.texts import t

ADMIN = Role.ADMIN
FIGURES = (
    "gmv",
    "refunds",
    "platform_margin",
    "commission",
    "subsidies_spent",
    "net_result",
)
PARTY_TYPES = ["merchant", "distributor"]
STATEMENT_STATUSES = ["issued", "paid"]

menu_item("staff.money", "staff_money.menu_overview", ADMIN, order=60)
menu_item("staff.settlements", "staff_money.menu_settlements", ADMIN, order=61)
menu_item("staff.reconciliation", "staff_money.menu_reconciliation", ADMIN, order=62)


def _period(name: str = "period", default: str | None = None) -> str:
    """The month asked for (``?period=YYYY-MM``, the API's ``Month`` field); this month
    when absent. A malformed one is the API's validation error (422 page)."""
    raw = request.values.get(name, "").strip()
    if not raw:
        return default or month_of(now())
    return load(PeriodSchema(), {"period": raw})["period"]


# -- charts --------------------------------------------------------------------------------

CHART_WIDTH, CHART_HEIGHT, CHART_PAD = 1000, 260, 30


def chart(points: list[dict[str, Any]], label: str, series: tuple[str, ...]) -> dict[str, Any]:
    """Bars for ``series`` (GMV and net result) of each point, scaled to the largest
    figure; a negative figure hangs below the zero line. Geometry for an SVG template."""
    values = [p[s] for p in points for s in series] or [0]
    top, bottom = max(max(values), 0), min(min(values), 0)
    span = (top - bottom) or 1
    plot = CHART_HEIGHT - 2 * CHART_PAD
    zero = CHART_PAD + plot * top / span
    slot = (CHART_WIDTH - 2 * CHART_PAD) / max(len(points), 1)
    bar = max(1.0, slot * 0.8 / len(series))
    bars, labels = [], []
    every = max(1, len(points) // 12)  # at most a dozen labels under the bars
    for i, point in enumerate(points):
        x0 = CHART_PAD + slot * i + slot * 0.1
        for j, name in enumerate(series):
            height = plot * abs(point[name]) / span
            y = zero - height if point[name] >= 0 else zero
            bars.append(
                {
                    "x": round(x0 + j * bar, 1),
                    "y": round(y, 1),
                    "width": round(bar, 1),
                    "height": round(max(height, 0.5), 1),
                    "series": name,
                    "label": point[label],
                    "value": point[name],
                }
            )
        if i % every == 0:
            labels.append({"x": round(x0 + slot * 0.4, 1), "text": point["short"]})
    return {
        "width": CHART_WIDTH,
        "height": CHART_HEIGHT,
        "zero": round(zero, 1),
        "top": top,
        "bottom": bottom,
        "bars": bars,
        "labels": labels,
        "series": series,
        "pad": CHART_PAD,
    }


def _months(period: str) -> list[dict[str, Any]]:
    points = settlement.months_overview(period, 12)
    for point in points:
        point["short"] = point["period"][2:]
    return points


def _days(period: str) -> list[dict[str, Any]]:
    points = settlement.days_overview(period)
    for point in points:
        point["period"] = point["day"].isoformat()
        point["short"] = str(point["day"].day)
    return points


@bp.app_template_global("staff_admin_panel")
def admin_panel() -> dict[str, Any]:
    """The general manager's landing panel: this month so far, and last month's
    statements (settled or not yet)."""
    last = previous_month()
    return {
        "period": month_of(now()),
        "overview": settlement.overview(month_of(now())),
        "last_period": last,
        "last_statements": settlement.statement_totals(last),
    }


# -- the overview --------------------------------------------------------------------------


@bp.get("/money")
@page_login_required(ADMIN)
def money():
    """The month's money (``?period=``, this month by default) with the last twelve
    months and each day of the month as charts, and the month's statements beside it."""
    period = _period()
    overview = settlement.overview(period)
    months, days = _months(period), _days(period)
    return render(
        "staff/money/overview.html",
        period=period,
        overview=overview,
        figures=FIGURES,
        statements=settlement.statement_totals(period),
        months=months,
        days=days,
        months_chart=chart(months, "period", ("gmv", "net_result")),
        days_chart=chart(days, "period", ("gmv", "net_result")),
        previous=previous_month(),
    )


# -- settlement ----------------------------------------------------------------------------


def _settlements_page(problem: str | None = None, status: int = 200) -> FlaskResponse:
    period = _period(default=previous_month())
    party_type = choice("party_type", PARTY_TYPES)
    wanted = choice("status", STATEMENT_STATUSES)
    result = page_of(settlement.statements(period, party_type=party_type, status=wanted))
    return render(
        "staff/money/settlements.html",
        status=status,
        problem=problem,
        period=period,
        party_type=party_type,
        wanted=wanted,
        party_types=PARTY_TYPES,
        statuses=STATEMENT_STATUSES,
        result=result,
        totals=settlement.statement_totals(period),
        parties=settlement.party_names(result["items"]),
        previous=previous_month(),
    )


@bp.get("/money/settlements")
@page_login_required(ADMIN)
def settlements():
    """A month's statements (last month by default), filtered by party and status, and
    the form that settles a month."""
    return _settlements_page()


@bp.post("/money/settlements")
@page_login_required(ADMIN)
def run_settlement():
    """Settle a finished month (``close_month``: its streak bonuses, then the statements;
    running it again changes nothing). It commits per party itself."""

    def close() -> dict[str, Any]:
        return settlement.close_month(_period(default=previous_month()))

    made = act(close, _settlements_page)
    flash(
        t(
            "staff_money.settled",
            period=made["period"],
            merchants=made["merchant"],
            distributors=made["distributor"],
        )
    )
    return redirect(url_for("staff.settlements", period=made["period"]), code=303)


def _statement_page(statement_id: int, problem: str | None = None, status: int = 200):
    statement = settlement.get_statement(statement_id)
    lines = page_of(settlement.statement_lines(statement), path={"statement_id": statement.id})
    return render(
        "staff/money/statement.html",
        status=status,
        problem=problem,
        statement=statement,
        lines=lines,
        party=settlement.party_names([statement]).get((statement.party_type, statement.party_id)),
        today=now(),
        form=request.form,
    )


@bp.get("/money/statements/<int:statement_id>")
@page_login_required(ADMIN)
def statement(statement_id: int):
    """One statement with its lines (a page at a time; the total is the statement's), its
    CSV (every line), and the payout (reference and date)."""
    return _statement_page(statement_id)


@bp.get("/money/statements/<int:statement_id>.csv")
@page_login_required(ADMIN)
def statement_csv(statement_id: int):
    found = settlement.get_statement(statement_id)
    return FlaskResponse(
        settlement.to_csv(found),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="statement-{found.id}.csv"'},
    )


@bp.post("/money/statements/<int:statement_id>/payout")
@page_login_required(ADMIN)
def record_payout(statement_id: int):
    """Record the payout (``record_payout``: the ledger's payout and the audit trail)."""

    def pay() -> Any:
        form = load(
            PayoutSchema(),
            {
                "reference": request.form.get("reference", "").strip(),
                "paid_on": request.form.get("paid_on", "").strip(),
            },
        )
        return settlement.record_payout(
            statement_id, form["reference"], form["paid_on"], current_user().id
        )

    act(pay, lambda **kwargs: _statement_page(statement_id, **kwargs))
    flash(t("staff_money.paid", id=statement_id))
    return redirect(url_for("staff.statement", statement_id=statement_id), code=303)


# -- reconciliation ------------------------------------------------------------------------


@bp.get("/money/reconciliation")
@page_login_required(ADMIN)
def reconciliation():
    """The provider's money (payments less refunds) against the ledger for a month, order
    by order, with the orders that differ (paginated). It asks the provider about every
    order of the month, so it runs when the form is sent (``?period=``)."""
    raw = request.args.get("period", "").strip()
    report, differences = None, None
    if raw:
        report = settlement.reconcile(_period())
        differences = _page_list(report["differences"])
    return render(
        "staff/money/reconciliation.html",
        period=raw or previous_month(),
        report=report,
        differences=differences,
    )


def _page_list(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """A page of a list the domain computed whole (the reconciliation's differences)."""
    pages = max(1, -(-len(rows) // PAGE_SIZE))
    page = min(page_number(), pages)
    kept = {k: v for k, v in request.args.items() if k != "page" and v}
    items = rows[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    return {"items": items, "page": page, "pages": pages, "total": len(rows), "kept": kept}

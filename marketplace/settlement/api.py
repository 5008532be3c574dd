"""HTTP routes of settlement: run a month, statements, payouts, reconciliation, CSV."""

from __future__ import annotations

import marshmallow as ma
from flask import Response

from marketplace.accounts.auth import auth_required, current_user
from marketplace.accounts.models import Role
from marketplace.core.api import Blueprint, documents_errors
from marketplace.core.db import db
from marketplace.core.errors import PermissionDenied
from marketplace.core.fields import LocalDateTime, Month
from marketplace.core.pagination import PageArgsSchema, page_of, paginate
from marketplace.settlement import access, service, summary
from marketplace.settlement.schemas import PayoutSchema, PeriodSchema
from merchants.service import my_merchant

blp = Blueprint("settlement", __name__, description="Monthly settlement and the money view")


class PeriodArgsSchema(PageArgsSchema):
    period = Month()


class LineSchema(ma.Schema):
    id = ma.fields.Integer()
    kind = ma.fields.String()
    amount = ma.fields.Integer(metadata={"description": "fen"})
    order_id = ma.fields.Integer(allow_none=True)
    voucher_id = ma.fields.Integer(allow_none=True)
    commission_entry_id = ma.fields.Integer(allow_none=True)
    carried_from_id = ma.fields.Integer(
        allow_none=True,
        metadata={"description": "the earlier negative statement this line carries forward"},
    )


class StatementSchema(ma.Schema):
    id = ma.fields.Integer()
    period = ma.fields.String()
    party_type = ma.fields.String()
    party_id = ma.fields.Integer()
    total = ma.fields.Integer(metadata={"description": "fen"})
    status = ma.fields.String()
    created_at = LocalDateTime()
    paid_at = LocalDateTime(allow_none=True)
    paid_on = ma.fields.Date(allow_none=True)
    payout_reference = ma.fields.String(allow_none=True)
    lines = ma.fields.List(ma.fields.Nested(LineSchema))


class SummaryDaySchema(ma.Schema):
    date = ma.fields.Date(metadata={"description": "today, Asia/Shanghai"})
    sold_units = ma.fields.Integer(metadata={"description": "units of orders paid today"})
    sales = ma.fields.Integer(metadata={"description": "fen shoppers paid for them"})
    redeemed = ma.fields.Integer(metadata={"description": "vouchers redeemed today"})
    redeemed_value = ma.fields.Integer(
        metadata={"description": "fen owed for them (settlement prices, from the ledger)"}
    )
    unused = ma.fields.Integer(metadata={"description": "vouchers sold and still usable now"})


class SummaryDealSchema(ma.Schema):
    deal_id = ma.fields.Integer()
    title = ma.fields.String()
    sold_units = ma.fields.Integer()
    sales = ma.fields.Integer(metadata={"description": "fen"})
    redeemed = ma.fields.Integer()
    refunded_units = ma.fields.Integer()
    refunds = ma.fields.Integer(metadata={"description": "fen given back (ledger)"})


class SummaryMonthSchema(ma.Schema):
    period = ma.fields.String(metadata={"description": "YYYY-MM, Asia/Shanghai"})
    sold_units = ma.fields.Integer()
    sales = ma.fields.Integer(metadata={"description": "fen"})
    redeemed = ma.fields.Integer()
    refunded_units = ma.fields.Integer()
    refunds = ma.fields.Integer(metadata={"description": "fen given back (ledger)"})
    settlement_owed = ma.fields.Integer(
        metadata={"description": "fen owed for this month's redemptions so far (ledger)"}
    )
    deals = ma.fields.List(ma.fields.Nested(SummaryDealSchema))


class MerchantSummarySchema(ma.Schema):
    today = ma.fields.Nested(SummaryDaySchema)
    month = ma.fields.Nested(SummaryMonthSchema)
    unpaid_balance = ma.fields.Integer(
        metadata={"description": "fen the platform owes the shop now, not yet paid out (ledger)"}
    )


class RunResultSchema(ma.Schema):
    period = ma.fields.String()
    streak_bonuses = ma.fields.Integer(
        metadata={"description": "streak bonuses standing for the month (computed first)"}
    )
    merchant = ma.fields.Integer(metadata={"description": "merchant statements this run made"})
    distributor = ma.fields.Integer(
        metadata={"description": "distributor statements this run made"}
    )


class OverviewSchema(ma.Schema):
    period = ma.fields.String()
    gmv = ma.fields.Integer()
    refunds = ma.fields.Integer()
    platform_margin = ma.fields.Integer()
    commission = ma.fields.Integer()
    subsidies_budgeted = ma.fields.Integer(
        metadata={"description": "subsidy per unit × units of the month's paid orders"}
    )
    subsidies_spent = ma.fields.Integer(
        metadata={
            "description": "platform money beyond the margin that the month's redeemed "
            "vouchers cost: commission over the margin and sales below settlement"
        }
    )
    net_result = ma.fields.Integer()


class DifferenceSchema(ma.Schema):
    order_id = ma.fields.Integer()
    provider = ma.fields.Integer()
    ledger = ma.fields.Integer()
    difference = ma.fields.Integer()


class ReconciliationSchema(ma.Schema):
    period = ma.fields.String()
    orders = ma.fields.Integer()
    provider_net = ma.fields.Integer()
    ledger_net = ma.fields.Integer()
    differences = ma.fields.List(ma.fields.Nested(DifferenceSchema))


@blp.post("/settlements")
@auth_required(Role.ADMIN)
@blp.arguments(PeriodSchema)
@blp.response(200, RunResultSchema)
@documents_errors(409)
def run(body: dict):
    """Settle a finished month: its streak bonuses, then the statements (the job does it on
    the 1st at 02:00); running it again changes nothing"""
    return service.close_month(body["period"])


@blp.get("/settlements")
@auth_required(Role.ADMIN)
@blp.arguments(PeriodArgsSchema, location="query")
@blp.response(200, page_of(StatementSchema))
def list_statements(args: dict):
    """The month's merchant and distributor statements"""
    return paginate(service.statements(args.get("period")), args["page"], args["page_size"])


@blp.get("/settlements/overview")
@auth_required(Role.ADMIN)
@blp.arguments(PeriodSchema, location="query")
@blp.response(200, OverviewSchema)
def overview(args: dict):
    """GMV, refunds, platform margin, commission, subsidies: the month in one call"""
    return service.overview(args["period"])


@blp.get("/settlements/reconciliation")
@auth_required(Role.ADMIN)
@blp.arguments(PeriodSchema, location="query")
@blp.response(200, ReconciliationSchema)
def reconciliation(args: dict):
    """Provider money (payments − refunds) against the ledger, order by order"""
    return service.reconcile(args["period"])


def _readable(statement_id: int):
    statement = service.get_statement(statement_id)
    if not access.can_read_statement(current_user(), statement):
        raise PermissionDenied("That is not your statement.")
    return statement


@blp.get("/settlements/statements/<int:statement_id>")
@auth_required(Role.ADMIN, Role.MERCHANT_STAFF, Role.SHOPPER)
@blp.response(200, StatementSchema)
@documents_errors(404)
def get_statement(statement_id: int):
    """One statement with its lines (admin, or the party it belongs to)"""
    return _readable(statement_id)


@blp.get("/settlements/statements/<int:statement_id>/csv")
@auth_required(Role.ADMIN, Role.MERCHANT_STAFF, Role.SHOPPER)
@blp.response(200, content_type="text/csv", description="the statement's lines as CSV")
@documents_errors(404)
def statement_csv(statement_id: int):
    """A statement as CSV"""
    statement = _readable(statement_id)
    return Response(
        service.to_csv(statement),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="statement-{statement.id}.csv"'},
    )


@blp.post("/settlements/statements/<int:statement_id>/payout")
@auth_required(Role.ADMIN)
@blp.arguments(PayoutSchema)
@blp.response(200, StatementSchema)
@documents_errors(404, 409)
def payout(body: dict, statement_id: int):
    """Record the payout (bank reference, date); recording the same reference again is
    harmless"""
    statement = service.record_payout(
        statement_id, body["reference"], body["paid_on"], current_user().id
    )
    db.session.commit()
    return statement


@blp.get("/merchant/statements")
@auth_required(Role.MERCHANT_STAFF)
@blp.arguments(PageArgsSchema, location="query")
@blp.response(200, page_of(StatementSchema))
def merchant_statements(args: dict):
    """My shop's monthly statements"""
    return paginate(
        service.my_statements(current_user(), "merchant"), args["page"], args["page_size"]
    )


@blp.get("/merchant/summary")
@auth_required(Role.MERCHANT_STAFF)
@blp.response(200, MerchantSummarySchema)
@documents_errors(404)
def merchant_summary():
    """My shop today and this month: sold, redeemed, refunded, owed (Asia/Shanghai days)

    Money owed is what the ledger booked when each voucher was redeemed (the settlement
    price); `unpaid_balance` includes earlier months not yet paid out. 404
    no_merchant for an account with no shop."""
    return summary.summary(my_merchant(current_user()).merchant_id)


@blp.get("/distributors/me/statements")
@auth_required(Role.SHOPPER)
@blp.arguments(PageArgsSchema, location="query")
@blp.response(200, page_of(StatementSchema))
def distributor_statements(args: dict):
    """My monthly commission statements"""
    return paginate(
        service.my_statements(current_user(), "distributor"), args["page"], args["page_size"]
    )

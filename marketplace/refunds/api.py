"""HTTP routes of refunds: shoppers ask, customer service decides, admin overrides."""

from __future__ import annotations

from marketplace.accounts.auth import auth_required, current_user
from marketplace.accounts.models import Role
from marketplace.core.api import Blueprint, IdempotencyKeySchema, documents_errors
from marketplace.core.db import db
from marketplace.core.pagination import PageArgsSchema, page_of, paginate
from marketplace.refunds import service
from marketplace.refunds.schemas import (
    ExpiredVoucherSchema,
    OverrideSchema,
    QueueArgsSchema,
    RefundCreateSchema,
    RefundDecisionSchema,
    RefundQueueItemSchema,
    RefundSchema,
)

blp = Blueprint("refunds", __name__, description="Manual refunds")


@blp.post("/orders/<int:order_id>/refund-requests")
@auth_required(Role.SHOPPER)
@blp.arguments(RefundCreateSchema)
@blp.response(201, RefundSchema)
@documents_errors(404, 409)
def request_refund(body: dict, order_id: int):
    """Ask for a refund of some or all unused vouchers (one open request per order)

    409 codes: voucher_redeemed, refund_already_requested, nothing_to_refund,
    order_not_refundable."""
    refund = service.request_refund(
        current_user(),
        order_id,
        reason=body["reason"],
        reason_text=body["reason_text"],
        voucher_codes=body.get("voucher_codes"),
    )
    db.session.commit()
    return refund


@blp.get("/orders/<int:order_id>/refund-requests")
@auth_required(Role.SHOPPER)
@blp.response(200, RefundSchema(many=True))
@documents_errors(404)
def my_refunds(order_id: int):
    """My refund requests for an order and where they stand"""
    return service.for_order(order_id, current_user())


@blp.get("/refund-requests")
@auth_required(Role.CS)
@blp.arguments(QueueArgsSchema, location="query")
@blp.response(200, page_of(RefundQueueItemSchema))
def refund_queue(args: dict):
    """The queue, oldest first (open requests unless a status is given)"""
    return paginate(service.queue(args.get("status")), args["page"], args["page_size"])


@blp.post("/refund-requests/<int:request_id>/approve")
@auth_required(Role.CS)
@blp.arguments(RefundDecisionSchema)
@blp.arguments(IdempotencyKeySchema, location="headers")
@blp.response(200, RefundSchema)
@documents_errors(404, 409)
def approve(body: dict, headers: dict, request_id: int):
    """Approve and pay the refund back through the provider. Approving again returns the
    same request; one refund is ever paid. If the provider is down the request stays
    approved_pending_refund and a job retries it."""
    return service.approve_and_pay(
        request_id, current_user(), note=body["note"], key=headers.get("key")
    )


@blp.post("/refund-requests/<int:request_id>/reject")
@auth_required(Role.CS)
@blp.arguments(RefundDecisionSchema)
@blp.response(200, RefundSchema)
@documents_errors(404, 409)
def reject(body: dict, request_id: int):
    """Reject, telling the shopper why"""
    refund = service.reject(request_id, current_user(), note=body["note"])
    db.session.commit()
    return refund


@blp.post("/orders/<int:order_id>/refund-override")
@auth_required(Role.ADMIN)
@blp.arguments(OverrideSchema)
@blp.response(200, RefundSchema)
@documents_errors(404, 409)
def override(body: dict, order_id: int):
    """Admin: refund vouchers even if used, with a reason"""
    return service.override_and_pay(
        order_id, current_user(), reason=body["reason"], voucher_codes=body.get("voucher_codes")
    )


@blp.get("/vouchers/expired-unused")
@auth_required(Role.CS)
@blp.arguments(PageArgsSchema, location="query")
@blp.response(200, page_of(ExpiredVoucherSchema))
def expired_unused(args: dict):
    """Vouchers that expired unused: customer service contacts the shopper"""
    return paginate(service.expired_unused(), args["page"], args["page_size"])

"""HTTP routes of vouchers: the shopper's list and QR, redemption at the shop."""

from __future__ import annotations

from flask import Response

from marketplace.accounts.auth import auth_required, current_user
from marketplace.accounts.models import Role
from marketplace.core import qr
from marketplace.core.api import Blueprint, IdempotencyKeySchema, documents_errors
from marketplace.core.db import db
from marketplace.core.pagination import page_of, paginate
from marketplace.orders import actions
from marketplace.vouchers import service as vouchers
from marketplace.vouchers.schemas import VoucherArgsSchema, VoucherSchema
from merchants.service import my_merchant

blp = Blueprint("vouchers", __name__, description="Vouchers: codes, QR, redemption at the shop")


@blp.get("/vouchers")
@auth_required(Role.SHOPPER)
@blp.arguments(VoucherArgsSchema, location="query")
@blp.response(200, page_of(VoucherSchema))
def my_vouchers(args: dict):
    """My vouchers: codes, status, validity"""
    query = vouchers.my_vouchers(current_user(), args.get("status"))
    return paginate(query, args["page"], args["page_size"])


@blp.get("/vouchers/<voucher_code:code>/qr.png")
@auth_required(Role.SHOPPER)
@blp.response(200, content_type="image/png", description="the code as a QR image")
@documents_errors(404)
def voucher_qr(code: str):
    """My voucher's code as a QR PNG, to show at the shop"""
    voucher = vouchers.shoppers_voucher(code, current_user())
    response = Response(qr.png(voucher.code), mimetype="image/png")
    response.headers["Cache-Control"] = "private, max-age=3600"
    return response


@blp.post("/vouchers/<voucher_code:code>/redeem")
@auth_required(Role.MERCHANT_STAFF)
@blp.arguments(IdempotencyKeySchema, location="headers")
@blp.response(200, VoucherSchema)
@documents_errors(404, 409, 422)
def redeem(headers: dict, code: str):
    """Redeem a voucher at the shop, once (owner or clerk of the deal's merchant)

    Send an `Idempotency-Key` per attempt (a new one for each voucher the clerk confirms):
    a retry with the same key after a lost answer gets the first result (200, the redeemed
    voucher) instead of 409 already_redeemed.

    403 wrong_merchant; 409 already_redeemed, voucher_refunded, voucher_refund_pending,
    voucher_expired, voucher_not_yet_valid, voucher_not_usable_today; 422
    malformed_voucher_code."""
    voucher = actions.redeem_voucher(code, current_user(), idempotency_key=headers.get("key"))
    db.session.commit()
    return voucher


@blp.get("/merchant/vouchers")
@auth_required(Role.MERCHANT_STAFF)
@blp.arguments(VoucherArgsSchema, location="query")
@blp.response(200, page_of(VoucherSchema))
def merchant_vouchers(args: dict):
    """My shop's vouchers by status"""
    member = my_merchant(current_user())
    query = vouchers.merchant_vouchers(member.merchant_id, args.get("status"))
    return paginate(query, args["page"], args["page_size"])

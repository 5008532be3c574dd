"""HTTP routes of customer care: segments for customer service and for a distributor's own
customers, the lapsed list and its contact log."""

from __future__ import annotations

from marketplace.accounts.auth import auth_required, current_user
from marketplace.accounts.models import Role
from marketplace.care import service
from marketplace.care.schemas import (
    CareContactCreateSchema,
    CareContactSchema,
    CareSegmentArgsSchema,
    CareSegmentPageSchema,
)
from marketplace.core.api import Blueprint, documents_errors
from marketplace.core.db import db
from marketplace.core.pagination import PageArgsSchema, page_of, paginate
from marketplace.distribution.distributors import my_distributor

blp = Blueprint("care", __name__, description="Customer care: segments, lapsed customers")


def _segment_page(args: dict, distributor_id: int | None) -> dict:
    query = service.segments(distributor_id=distributor_id, segment=args.get("segment"))
    result = service.page_rows(query, args["page"], args["page_size"])
    result["items"] = [
        {
            "shopper_id": user.id,
            "display_name": user.display_name,
            "phone": user.phone,
            "segment": segment,
            "purchases_90d": int(recent),
            "last_paid_at": last_paid_at,
        }
        for user, segment, recent, last_paid_at in result["items"]
    ]
    result["counts"] = service.segment_counts(distributor_id=distributor_id)
    return result


@blp.get("/care/segments")
@auth_required(Role.CS)
@blp.arguments(CareSegmentArgsSchema, location="query")
@blp.response(200, CareSegmentPageSchema)
def segments(args: dict):
    """Every shopper's segment: A 3+ purchases in the last 90 days, B 1–2, C none"""
    return _segment_page(args, None)


@blp.get("/distributors/me/customer-segments")
@auth_required(Role.SHOPPER)
@blp.arguments(CareSegmentArgsSchema, location="query")
@blp.response(200, CareSegmentPageSchema)
@documents_errors(404)
def my_customer_segments(args: dict):
    """My bound customers' segments (a distributor); phones are not shown"""
    result = _segment_page(args, my_distributor(current_user()).id)
    for row in result["items"]:
        row["phone"] = None
    return result


@blp.post("/care/contacts")
@auth_required(Role.CS)
@blp.arguments(CareContactCreateSchema)
@blp.response(201, CareContactSchema)
@documents_errors(404)
def log_contact(body: dict):
    """Record a call or WeChat message to a customer, with its outcome"""
    contact = service.log_contact(current_user(), **body)
    db.session.commit()
    contact.won_back_order_id = None  # just made: nothing bought after it yet
    return contact


@blp.get("/care/contacts")
@auth_required(Role.CS)
@blp.arguments(PageArgsSchema, location="query")
@blp.response(200, page_of(CareContactSchema))
def contacts(args: dict):
    """The contact log, newest first, each with the order that won the customer back
    (within 14 days), if any"""
    result = paginate(service.contacts(), args["page"], args["page_size"])
    won = service.won_back(result["items"])
    for contact in result["items"]:
        contact.won_back_order_id = won[contact.id]  # shown beside the contact, not stored
    return result

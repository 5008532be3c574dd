"""HTTP routes of reviews: shoppers rate a redeemed visit, the public reads a deal's or a
merchant's reviews, the shop replies once, staff hide."""

from __future__ import annotations

import flask_smorest
from flask import request

from marketplace.accounts.auth import auth_required, current_user
from marketplace.accounts.models import Role
from marketplace.core.api import Blueprint, documents_errors
from marketplace.core.db import db
from marketplace.core.errors import NotFound
from marketplace.core.pagination import PageArgsSchema, page_of, paginate
from marketplace.providers.storage import public_image
from marketplace.reviews import service
from marketplace.reviews.models import Review
from marketplace.reviews.schemas import (
    ReviewHideSchema,
    ReviewReplySchema,
    ReviewsAnswerSchema,
    ReviewSchema,
    ReviewStaffArgsSchema,
    ReviewUploadSchema,
    load_review_form,
)

blp = Blueprint("reviews", __name__, description="Reviews after use")
media = flask_smorest.Blueprint(
    "review_media", __name__, url_prefix="/media/reviews", description="Review photos"
)
STAFF = (Role.CS, Role.BD, Role.EDITOR)


@blp.post("/vouchers/<string:code>/review")
@auth_required(Role.SHOPPER)
# Read by load_review_form (shared with the shop's page); documented here as the body it is.
@blp.doc(
    requestBody={
        "required": True,
        "content": {"multipart/form-data": {"schema": ReviewUploadSchema}},
    }
)
@blp.response(201, ReviewSchema)
@documents_errors(403, 404, 409, 413, 422)
def create(code: str):
    """Rate a redeemed visit once (multipart: stars 1–5, text ≤ 300, up to 3 photos ≤ 2 MiB)"""
    review = service.create_review(
        current_user(), code, **load_review_form(request.form, request.files)
    )
    db.session.commit()
    return review


@blp.get("/deals/<int:deal_id>/reviews")
@blp.response(200, ReviewsAnswerSchema)
def deal_reviews(deal_id: int):
    """A deal's average and latest visible reviews. Public"""
    return service.latest(deal_id=deal_id)


@blp.get("/merchants/<int:merchant_id>/reviews")
@blp.response(200, ReviewsAnswerSchema)
def merchant_reviews(merchant_id: int):
    """A shop's average and latest visible reviews. Public"""
    return service.latest(merchant_id=merchant_id)


@blp.get("/merchant/reviews")
@auth_required(Role.MERCHANT_STAFF)
@blp.arguments(PageArgsSchema, location="query")
@blp.response(200, page_of(ReviewSchema))
def my_shop_reviews(args: dict):
    """Reviews of my shop, newest first (merchant staff)"""
    return paginate(service.for_my_shop(current_user()), args["page"], args["page_size"])


@blp.post("/reviews/<int:review_id>/reply")
@auth_required(Role.MERCHANT_STAFF)
@blp.arguments(ReviewReplySchema)
@blp.response(200, ReviewSchema)
@documents_errors(403, 404, 409)
def reply(body: dict, review_id: int):
    """The shop replies once, publicly"""
    review = service.reply(review_id, current_user(), body["text"])
    db.session.commit()
    return review


@blp.get("/reviews")
@auth_required(*STAFF)
@blp.arguments(ReviewStaffArgsSchema, location="query")
@blp.response(200, page_of(ReviewSchema))
def staff_list(args: dict):
    """Every review for staff, newest first; ``low=true``: 1–2 stars"""
    return paginate(service.staff_list(low=args["low"]), args["page"], args["page_size"])


@blp.post("/reviews/<int:review_id>/hide")
@auth_required(Role.CS)
@blp.arguments(ReviewHideSchema)
@blp.response(200, ReviewSchema)
@documents_errors(404, 409)
def hide(body: dict, review_id: int):
    """Hide a review from the public pages, with a reason (audited); never edited"""
    review = service.hide(review_id, current_user(), body["reason"])
    db.session.commit()
    return review


@media.get("/<int:review_id>/<string:name>")
@media.response(200, content_type="image/*", description="the photo's bytes")
@documents_errors(404)
def photo(review_id: int, name: str):
    """A review's photo (none once the review is hidden)"""
    review = db.session.get(Review, review_id)
    if review is None or review.hidden_at is not None:
        raise NotFound("No such image.")
    return public_image(f"reviews/{review_id}/{name}")

"""What the reviews API reads and answers."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask_smorest.fields import Upload
from marshmallow import validate

from marketplace.core.errors import InvalidInput
from marketplace.core.pagination import PageArgsSchema
from marketplace.reviews.models import MAX_PHOTOS, MAX_REPLY, MAX_TEXT


class ReviewCreateSchema(ma.Schema):
    """Multipart form: ``stars``, ``text`` and up to three ``photos`` files."""

    class Meta:
        unknown = ma.EXCLUDE  # the page's form carries its csrf_token

    stars = ma.fields.Integer(required=True, strict=False, validate=validate.Range(1, 5))
    text = ma.fields.String(load_default="", validate=validate.Length(max=MAX_TEXT))


class ReviewUploadSchema(ReviewCreateSchema):
    """The whole multipart body as the API documents it: the form's fields and the photos
    (read by ``load_review_form``, which the shop's page uses too)."""

    photos = ma.fields.List(
        Upload(),
        load_default=list,
        metadata={"description": f"up to {MAX_PHOTOS} photos (JPEG/PNG/WebP, 2 MiB each)"},
    )


class ReviewReplySchema(ma.Schema):
    text = ma.fields.String(required=True, validate=validate.Length(min=1, max=MAX_REPLY))


class ReviewHideSchema(ma.Schema):
    reason = ma.fields.String(required=True, validate=validate.Length(min=1, max=200))


class PublicReviewSchema(ma.Schema):
    id = ma.fields.Integer()
    stars = ma.fields.Integer()
    text = ma.fields.String()
    photos = ma.fields.List(ma.fields.String())
    created_at = ma.fields.DateTime()
    reply = ma.fields.String(allow_none=True)
    replied_at = ma.fields.DateTime(allow_none=True)
    shopper = ma.fields.Function(lambda r: r.shopper.masked_name)


class ReviewSchema(PublicReviewSchema):
    """For the shopper who wrote it, the shop's staff and customer service."""

    deal_id = ma.fields.Integer()
    merchant_id = ma.fields.Integer()
    order_id = ma.fields.Integer()
    ticket_id = ma.fields.Integer(allow_none=True)
    hidden_at = ma.fields.DateTime(allow_none=True)
    hidden_reason = ma.fields.String(allow_none=True)


class ReviewsAnswerSchema(ma.Schema):
    average = ma.fields.Float(allow_none=True)
    count = ma.fields.Integer()
    items = ma.fields.List(ma.fields.Nested(PublicReviewSchema))


class ReviewStaffArgsSchema(PageArgsSchema):
    low = ma.fields.Boolean(load_default=False)


def load_review_form(form: Any, files: Any) -> dict[str, Any]:
    """A new review's multipart form (``request.form``, ``request.files``), as the API and
    the shop's page both read it: the fields checked, the photos' bytes (a fourth is read,
    to be refused by the rule)."""
    errors = ReviewCreateSchema().validate(form)
    if errors:
        raise InvalidInput(fields=errors)
    body = ReviewCreateSchema().load(form)
    uploads = [f for f in files.getlist("photos") if f and f.filename]
    body["photos"] = [f.read() for f in uploads[:4]]
    return body

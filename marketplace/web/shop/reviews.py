"""Reviews on the shoppers' web: "rate this visit" on a redeemed voucher's page (a form of
stars, a short text and up to three photos) and the reviews block of a deal's page,
loaded by htmx from its own URL (the deal page and its catalog cache stay as they are).

The form posts what ``POST /api/v1/vouchers/{code}/review`` reads
(``reviews.schemas.load_review_form``) to ``reviews.service.create_review``."""

from __future__ import annotations

from flask import Response as FlaskResponse
from flask import flash, redirect, render_template, request, url_for

from marketplace.accounts.auth import current_user
from marketplace.accounts.models import Role
from marketplace.core.db import db
from marketplace.core.errors import DomainError
from marketplace.reviews import service as reviews
from marketplace.reviews.models import MAX_PHOTOS, MAX_TEXT
from marketplace.reviews.schemas import load_review_form
from marketplace.vouchers import service as vouchers
from marketplace.web import session as page_session
from marketplace.web.shop.views import bp
from marketplace.web.texts import error_sentence, t


def _form(code: str, *, problem: str | None = None, bad_fields=(), status: int = 200):
    voucher = vouchers.shoppers_voucher(code, current_user())  # another's: 404
    html = render_template(
        "shop/reviews/new.html",
        voucher=voucher,
        problem=problem,
        bad_fields=list(bad_fields),
        max_text=MAX_TEXT,
        max_photos=MAX_PHOTOS,
        done=reviews.for_voucher(voucher.id),
    )
    return FlaskResponse(html, status=status, mimetype="text/html")


@bp.get("/vouchers/<voucher_code:code>/review")
@page_session.page_login_required(Role.SHOPPER)
def review_form(code: str):
    """Rate this visit: the form, or the review already given."""
    return _form(code)


@bp.post("/vouchers/<voucher_code:code>/review")
@page_session.page_login_required(Role.SHOPPER)
def review_submit(code: str):
    try:
        reviews.create_review(current_user(), code, **load_review_form(request.form, request.files))
        db.session.commit()
    except DomainError as error:
        db.session.rollback()
        if error.status == 404:
            raise
        fields = sorted(n for n in (error.fields or {}) if not n.startswith("_"))
        problem = (
            t("forms.fix_fields")
            if fields and error.code == "validation_error"
            else error_sentence(error.code, error.status)
        )
        return _form(code, problem=problem, bad_fields=fields, status=error.status)
    flash(t("reviews.thanks"))
    return redirect(url_for("shop.voucher", code=code), code=303)


@bp.get("/deals/<int:deal_id>/reviews")
def deal_reviews(deal_id: int):
    """The deal page's reviews block (htmx fragment): average, count, the latest five
    (two statements, whatever the number of reviews)."""
    html = render_template("shop/reviews/_block.html", reviews=reviews.latest(deal_id=deal_id))
    return FlaskResponse(html, mimetype="text/html")

"""The merchant portal's reviews page: the shop's reviews, newest first, and the one
public reply to each (``reviews.service.for_my_shop`` and ``reply``, what
``GET /api/v1/merchant/reviews`` and ``POST /api/v1/reviews/{id}/reply`` call)."""

from __future__ import annotations

from flask import Response as FlaskResponse
from flask import flash, redirect, render_template, request, url_for

from marketplace.accounts.auth import current_user
from marketplace.core.db import db
from marketplace.core.errors import DomainError
from marketplace.reviews import service as reviews
from marketplace.web.merchant import bp
from marketplace.web.merchant.common import member, portal_page
from marketplace.web.routing import page_of
from marketplace.web.texts import error_sentence, t


def _page(problem: str | None = None, status: int = 200) -> FlaskResponse:
    result = page_of(reviews.for_my_shop(current_user()))
    html = render_template(
        "merchant/reviews/list.html",
        result=result,
        pages=result["pages"],
        summary=reviews.summary(merchant_id=reviews.my_shop_id(current_user())),
        problem=problem,
        place=member(),
        active="reviews",
    )
    return FlaskResponse(html, status=status, mimetype="text/html")


@bp.get("/reviews")
@portal_page
def reviews_page():
    """My shop's reviews and their replies."""
    return _page()


@bp.post("/reviews/<int:review_id>/reply")
@portal_page
def reply_review(review_id: int):
    """Reply once, publicly."""
    try:
        reviews.reply(review_id, current_user(), request.form.get("text", ""))
        db.session.commit()
    except DomainError as error:
        db.session.rollback()
        if error.status == 404:
            raise
        return _page(problem=error_sentence(error.code, error.status), status=error.status)
    flash(t("merchant_reviews.replied"))
    return redirect(url_for("merchant.reviews_page"), code=303)

"""Customer service's reviews page (role ``cs``): every review, newest first, the low ones
(1–2 stars, each with its ticket) by a filter, and hiding a review with a reason —
``reviews.service.staff_list`` and ``hide``, what ``GET /api/v1/reviews`` and
``POST /api/v1/reviews/{id}/hide`` call. A review is never edited."""

from __future__ import annotations

from flask import flash, redirect, request, url_for

from marketplace.accounts.auth import current_user
from marketplace.accounts.models import Role
from marketplace.reviews import service as reviews
from marketplace.reviews.schemas import ReviewHideSchema
from marketplace.web.session import page_login_required
from marketplace.web.staff import bp, menu_item
from marketplace.web.staff.ops import act, choice, load, page_of, render
from marketplace.web.texts import t

CS = Role.CS
VIEWS = ["low", "visible", "hidden"]

menu_item("staff.reviews_page", "staff_reviews.menu", CS, order=80)


def _page(problem: str | None = None, status: int = 200):
    view = choice("view", VIEWS)
    query = reviews.staff_list(
        low=view == "low",
        hidden={"visible": False, "hidden": True}.get(view or ""),
    )
    return render(
        "staff/reviews/list.html", result=page_of(query), view=view, views=VIEWS,
        problem=problem, status=status,
    )  # fmt: skip


@bp.get("/reviews")
@page_login_required(CS)
def reviews_page():
    """Reviews, newest first; ``?view=low`` 1–2 stars, ``visible``, ``hidden``."""
    return _page()


@bp.post("/reviews/<int:review_id>/hide")
@page_login_required(CS)
def hide_review(review_id: int):
    """Hide a review with a reason (audited)."""
    reason = request.form.get("reason", "").strip()
    act(
        lambda: reviews.hide(
            review_id, current_user(), load(ReviewHideSchema(), {"reason": reason})["reason"]
        ),
        _page,
    )
    flash(t("staff_reviews.hidden_done", id=review_id))
    target = request.form.get("back", "")
    if not (target.startswith(url_for("staff.reviews_page")) and "//" not in target):
        target = url_for("staff.reviews_page")
    return redirect(target, code=303)


@bp.app_template_global("shoppers_average")
def shoppers_average(merchant_id: int) -> dict:
    """BD's merchant page shows the shoppers' average beside the grade BD set."""
    return reviews.merchant_average(merchant_id)

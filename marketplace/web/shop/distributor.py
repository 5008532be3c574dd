"""The distributors' pages under ``/distributor``: join, the home (today's sharing, the
Moments run, commission by state and by month), share a deal (the link and its poster),
my customers, my statements and the daily Moments proof.

Every handler calls the functions the API calls (``distribution.*``,
``orders.attribution``, ``settlement.service``) and the same access rules
(``distribution.access``, ``settlement.access``); none holds a rule of its own. A refusal
on a form (a wrong invite code, the join policy, a second proof for a day) is the form
again with the API's status and the code's sentence, not an error page.
"""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

import marshmallow as ma
from flask import Response, flash, redirect, render_template, request, url_for
from marshmallow import validate

from marketplace.accounts.auth import current_user
from marketplace.accounts.models import Role
from marketplace.care import service as care
from marketplace.core.clock import local_today
from marketplace.core.db import db
from marketplace.core.errors import DomainError, InvalidInput, NotFound
from marketplace.core.fields import Day
from marketplace.core.pagination import paginate
from marketplace.distribution import access, distributors, links, settings, streaks
from marketplace.distribution.models import Distributor, DistributorStatus, ShareLink
from marketplace.distribution.schemas import CustomerSchema, DashboardSchema, JoinSchema
from marketplace.orders import attribution
from marketplace.settlement import access as statement_access
from marketplace.settlement import service as settlement
from marketplace.web import poster
from marketplace.web.routing import page_number
from marketplace.web.session import page_login_required, signed_in_user
from marketplace.web.shop import content
from marketplace.web.shop.views import bp, category_tone
from marketplace.web.texts import error_sentence, t

PAGE_SIZE = 20
PROOF_DAYS_BACK = 2  # streaks.submit_proof takes today and the two days before
PROBLEM_FIELDS = {
    "invite_code": "distributor.invite_code_invalid",
    "wechat_friends": "distributor.friends_invalid",
    "day": "distributor.proof_day_invalid",
    "file": "distributor.proof_file_missing",
    "deal_id": "distributor.deal_invalid",
}


def _parse(schema: ma.Schema, data: dict[str, Any]) -> dict[str, Any]:
    try:
        return schema.load(data)
    except ma.ValidationError as exc:
        raise InvalidInput(fields=exc.normalized_messages()) from exc


def _filled(form: dict[str, str]) -> dict[str, str]:
    """The form's non-empty fields (an empty optional field is no value, not a bad one)."""
    return {k: v.strip() for k, v in form.items() if k != "csrf_token" and v.strip()}


def _refusal(error: DomainError) -> dict[str, Any]:
    """What a form shows for a refusal: a sentence under each field for a plain
    validation error; otherwise the code's own sentence (``invalid_invite_code``,
    ``file_type_not_allowed``, ``proof_exists`` … say more than "this field is wrong"),
    with the fields it names still marked."""
    named = [name for name in (error.fields or {}) if not name.startswith("_")]
    if error.code == "validation_error" and named:
        return {
            "problem": None,
            "fields": {n: t(PROBLEM_FIELDS.get(n, "distributor.field_invalid")) for n in named},
            "invalid": named,
        }
    return {"problem": error_sentence(error.code, error.status), "fields": {}, "invalid": named}


def _page(template: str, status: int = 200, **context: Any) -> Response:
    return Response(render_template(template, **context), status=status, mimetype="text/html")


def _mine() -> Distributor | None:
    return distributors.distributor_of(current_user())


def _active() -> Distributor | Response:
    """The signed-in shopper's distributor, active; otherwise where they should go instead
    (to join, or home to read why they cannot share)."""
    distributor = _mine()
    if distributor is None:
        return redirect(url_for("shop.distributor_join"))
    if distributor.status != DistributorStatus.ACTIVE.value:
        flash(error_sentence("distributor_not_active", 409))
        return redirect(url_for("shop.distributor_home"))
    return distributor


def _pages(result: dict[str, Any]) -> int:
    return max(1, math.ceil(result["total"] / result["page_size"]))


def share_url(link: ShareLink) -> str:
    """The link as a visitor follows it (``/s/{code}`` on this site), for the page and
    the poster's QR code alike."""
    return request.host_url.rstrip("/") + f"/s/{link.code}"


@bp.app_template_global()
def page_distributor() -> Distributor | None:
    """The signed-in shopper's distributor row, for templates that offer sharing (None for
    a visitor or a shopper who has not joined)."""
    user = signed_in_user()
    return distributors.distributor_of(user) if user is not None else None


# -- joining -------------------------------------------------------------------------------


class JoinFormSchema(JoinSchema):
    """The API's join body, from a form: numbers come as text."""

    class Meta:
        unknown = ma.EXCLUDE

    wechat_friends = ma.fields.Integer(validate=validate.Range(0, 100_000))


def _join_form(status: int = 200, **context: Any) -> Response:
    return _page(
        "shop/distributor/join.html",
        status,
        policy=settings.setting("join_policy"),
        invite_code=(request.values.get("invite_code") or request.args.get("invite") or "")[:12],
        wechat_friends=request.form.get("wechat_friends", ""),
        **{"problem": None, "fields": {}, "invalid": [], **context},
    )


@bp.get("/distributor/join")
@page_login_required(Role.SHOPPER)
def distributor_join():
    """The join form: an invite code (required, optional or reviewed, as the join policy
    says) and the WeChat friend count customer service will verify."""
    if _mine() is not None:
        return redirect(url_for("shop.distributor_home"))
    return _join_form()


@bp.post("/distributor/join")
@page_login_required(Role.SHOPPER)
def distributor_join_post():
    try:
        body = _parse(JoinFormSchema(), _filled(request.form.to_dict()))
        distributor = distributors.join(
            current_user(),
            invite_code=body.get("invite_code"),
            wechat_friends=body.get("wechat_friends"),
        )
        db.session.commit()
    except DomainError as error:
        db.session.rollback()
        if error.code == "already_joined":
            return redirect(url_for("shop.distributor_home"), code=303)
        return _join_form(error.status, **_refusal(error))
    applied = distributor.status == DistributorStatus.APPLIED.value
    flash(t("distributor.applied" if applied else "distributor.welcome"))
    return redirect(url_for("shop.distributor_home"), code=303)


# -- home ----------------------------------------------------------------------------------


@bp.get("/distributor")
@page_login_required(Role.SHOPPER)
def distributor_home():
    """Today's sharing and Moments run, commission by state and by month, my links; for
    an application under review (or turned down) only where it stands."""
    distributor = _mine()
    if distributor is None:
        return redirect(url_for("shop.distributor_join"))
    if distributor.status in (DistributorStatus.APPLIED.value, DistributorStatus.REJECTED.value):
        return render_template("shop/distributor/pending.html", distributor=distributor)
    board = DashboardSchema().dump(attribution.dashboard(distributor))
    recent = paginate(links.links_of(distributor), 1, 5)
    return render_template(
        "shop/distributor/home.html",
        distributor=distributor,
        board=board,
        links=recent["items"],
        more_links=recent["total"] > len(recent["items"]),
        invite_url=url_for("shop.distributor_join", invite=distributor.invite_code, _external=True),
    )


# -- sharing -------------------------------------------------------------------------------


class ShareFormSchema(ma.Schema):
    class Meta:
        unknown = ma.EXCLUDE

    deal_id = ma.fields.Integer(required=True, validate=validate.Range(1, 2**31 - 1))


@bp.post("/distributor/share")
@page_login_required(Role.SHOPPER)
def distributor_share():
    """Share a deal: the distributor's link to it (made once, then reused), and on to its
    share page."""
    distributor = _active()
    if isinstance(distributor, Response):
        return distributor
    body = _parse(ShareFormSchema(), request.form.to_dict())
    link = links.share_deal(distributor, body["deal_id"])
    db.session.commit()
    return redirect(url_for("shop.distributor_link", code=link.code), code=303)


def _my_link(code: str) -> ShareLink:
    """One of the signed-in distributor's links; anyone else's (or none) is a 404, as the
    API's QR route answers."""
    link = links.link_by_code(code)
    if not access.owns_link(current_user(), link):
        raise NotFound("No such link of yours.", code="link_not_found")
    return link


@bp.get("/distributor/links/<string:code>")
@page_login_required(Role.SHOPPER)
def distributor_link(code: str):
    """The share page: the link to copy, and the poster to save and post to Moments."""
    link = _my_link(code)
    deal = content.deal(link.deal_id) if link.deal_id else None
    return render_template(
        "shop/distributor/share.html",
        link=link,
        url=share_url(link),
        deal=deal,
        posters=poster.posters_available(),
    )


@bp.get("/distributor/links/<string:code>/poster.png")
@page_login_required(Role.SHOPPER)
def distributor_poster(code: str):
    """The deal's poster with the QR code of the distributor's link, as a PNG."""
    link = _my_link(code)
    if link.deal_id is None:
        raise NotFound("A home-page link has no deal poster.", code="link_not_found")
    deal = content.deal(link.deal_id)
    merchant = deal["merchant"]
    png = poster.render(
        poster.PosterContent(
            title=deal["title"],
            sale_price=deal["sale_price"],
            list_price=deal["list_price"],
            shop_name=merchant["name"],
            url=share_url(link),
            photo=poster.stored_image(deal["images"][0]) if deal["images"] else None,
            category_name=merchant.get("category_name") or "",
            tone=category_tone(merchant.get("category")),
        )
    )
    response = Response(png, mimetype="image/png")
    response.headers["Content-Disposition"] = f'inline; filename="linli-{link.code}.png"'
    # The price may change; the poster is the distributor's own, never a shared cache's.
    response.headers["Cache-Control"] = "private, max-age=300"
    return response


# -- customers and statements --------------------------------------------------------------


@bp.get("/distributor/customers")
@page_login_required(Role.SHOPPER)
def distributor_customers():
    """The shoppers bound to me (phones masked) and what each bought through me."""
    distributor = _mine()
    if distributor is None:
        return redirect(url_for("shop.distributor_join"))
    result = attribution.customers(distributor, page_number(), PAGE_SIZE)
    # [care] each customer's A/B/C segment and the counts (two statements)
    ids = [item["binding"].shopper_id for item in result["items"]]
    return render_template(
        "shop/distributor/customers.html",
        segments=care.segments_for(ids),
        segment_counts=care.segment_counts(distributor_id=distributor.id),
        customers=CustomerSchema(many=True).dump(result["items"]),
        total=result["total"],
        page=result["page"],
        pages=_pages(result),
    )


@bp.get("/distributor/statements")
@page_login_required(Role.SHOPPER)
def distributor_statements():
    """My monthly commission statements, newest first."""
    if _mine() is None:
        return redirect(url_for("shop.distributor_join"))
    result = paginate(
        settlement.my_statements(current_user(), "distributor"), page_number(), PAGE_SIZE
    )
    return render_template(
        "shop/distributor/statements.html",
        statements=result["items"],
        page=result["page"],
        pages=_pages(result),
    )


@bp.get("/distributor/statements/<int:statement_id>")
@page_login_required(Role.SHOPPER)
def distributor_statement(statement_id: int):
    """One statement with its lines (mine only: anyone else's is a 404)."""
    statement = settlement.get_statement(statement_id)
    if statement.party_type != "distributor" or not statement_access.can_read_statement(
        current_user(), statement
    ):
        raise NotFound("No such statement.", code="statement_not_found")
    return render_template("shop/distributor/statement.html", statement=statement)


# -- the daily Moments proof ---------------------------------------------------------------


class ProofFormSchema(ma.Schema):
    class Meta:
        unknown = ma.EXCLUDE

    day = Day(required=True)


def _proof_days() -> list[Any]:
    today = local_today()
    return [today - timedelta(days=n) for n in range(PROOF_DAYS_BACK + 1)]


def _moments(distributor: Distributor, status: int = 200, **context: Any) -> Response:
    result = paginate(streaks.proofs({}, distributor=distributor), page_number(), PAGE_SIZE)
    return _page(
        "shop/distributor/moments.html",
        status,
        distributor=distributor,
        run=streaks.current_streak(distributor, local_today()),
        proofs=result["items"],
        page=result["page"],
        pages=_pages(result),
        days=_proof_days(),
        chosen=request.form.get("day", ""),
        **{"problem": None, "fields": {}, "invalid": [], **context},
    )


@bp.get("/distributor/moments")
@page_login_required(Role.SHOPPER)
def distributor_moments():
    """Today's proof (a screenshot of the deal posted to Moments), my proofs and their
    review, and the run I am on."""
    distributor = _mine()
    if distributor is None:
        return redirect(url_for("shop.distributor_join"))
    return _moments(distributor)


@bp.post("/distributor/moments")
@page_login_required(Role.SHOPPER)
def distributor_moments_post():
    distributor = _mine()
    if distributor is None:
        return redirect(url_for("shop.distributor_join"), code=303)
    upload = request.files.get("screenshot")
    try:
        body = _parse(ProofFormSchema(), _filled(request.form.to_dict()))
        if upload is None or not upload.filename:
            raise InvalidInput(fields={"file": ["Choose the screenshot."]})
        streaks.submit_proof(distributor, body["day"], upload.read())
        db.session.commit()
    except DomainError as error:
        db.session.rollback()
        return _moments(distributor, error.status, **_refusal(error))
    flash(t("distributor.proof_sent"))
    return redirect(url_for("shop.distributor_moments"), code=303)

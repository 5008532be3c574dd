"""Deals in the staff console: the list (filtered by merchant, type and status) and the
editor of the three deal types, with its rules shown as the fields change, price history,
photos, pause and resume.

Roles as in ``deals.api``: BD and editors list, create, edit, upload photos and see price
history (``EDITORS``); only BD pauses and resumes. The editor's live check
(``POST .../check``, htmx) runs ``deals.service.draft_violations``, the same rule function
(``deals.rules.violations``) that ``create_deal`` and ``update_deal`` apply, so the words a
person sees while typing are the words the save would refuse with. Money is typed in yuan
and turned into fen with integer arithmetic; the forms are parsed by the API's schemas.
"""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import Response as FlaskResponse
from flask import flash, redirect, render_template, request, url_for

from marketplace.accounts.auth import current_user
from marketplace.accounts.models import Role
from marketplace.core.clock import to_local
from marketplace.core.db import db
from marketplace.core.errors import DomainError, InvalidInput
from marketplace.core.fields import ReasonSchema
from marketplace.core.pagination import paginate
from marketplace.deals import rules, service
from marketplace.deals.models import Deal, DealStatus, DealType, ExpiryPolicy
from marketplace.deals.schemas import (
    DealCreateSchema,
    DealUpdateSchema,
    ImageUploadSchema,
    ManageArgsSchema,
)
from marketplace.distribution import distributors
from marketplace.web.routing import is_number
from marketplace.web.session import page_login_required
from marketplace.web.staff import bp, menu_item
from marketplace.web.staff.bdkit import (
    fen_of,
    field_problems,
    int_arg,
    load,
    page_count,
    sentence,
    yuan_text,
)
from marketplace.web.texts import error_sentence, t, texts
from merchants import service as merchants

EDITORS = (Role.BD, Role.EDITOR)
PAGE_SIZE = 20
MONEY = (
    "list_price",
    "sale_price",
    "settlement_price",
    "subsidy",
    "commission_l1",
    "commission_l2",
)
WHOLE = ("party_size", "stock", "per_shopper_limit", "validity_days")
NULLABLE = ("party_size", "per_shopper_limit", "validity_days", "sale_starts_at",
            "sale_ends_at", "valid_from", "valid_until")  # fmt: skip
TEXT = ("title", "description", "usage_notes", "expiry_policy")  # [care] a select, sent as text
BOXES = ("reservation_required", "street_promotion")
INSTANTS = ("sale_starts_at", "sale_ends_at")
DAYS = ("valid_from", "valid_until")

menu_item("staff.deals", "staff_deals.menu", *EDITORS, order=20)
menu_item("staff.new_deal", "staff_deals.menu_new", *EDITORS, order=22)


# -- the list ------------------------------------------------------------------------------


@bp.get("/deals")
@page_login_required(*EDITORS)
def deals():
    """Every deal in any status (``deals.service.manage_query``, the API's
    ``GET /manage/deals``), newest first, filtered by merchant, type and status."""
    raw = {k: request.args[k] for k in ("merchant_id", "type", "status") if request.args.get(k)}
    page = int_arg("page")
    context: dict[str, Any] = {
        "filters": {k: request.args.get(k, "") for k in ("merchant_id", "type", "status")},
        "merchants": merchants.deal_ready_merchants(),
        "types": [k.value for k in DealType],
        "statuses": [s.value for s in DealStatus],
        "problem": None,
    }
    try:
        args = load(ManageArgsSchema(), raw)
    except InvalidInput as error:
        context["problem"] = sentence(error)
        html = render_template(
            "staff/deals/list.html", **context, deals=[], page=1, pages=1, total=0, args={}
        )
        return FlaskResponse(html, status=error.status, mimetype="text/html")
    args.pop("page", None), args.pop("page_size", None)
    result = paginate(service.manage_query(args), page, PAGE_SIZE)
    return render_template(
        "staff/deals/list.html",
        **context,
        deals=result["items"],
        total=result["total"],
        page=page,
        pages=page_count(result["total"], PAGE_SIZE),
        args=raw,
    )


# -- the editor ----------------------------------------------------------------------------


def _number(text: str) -> int | str:
    text = text.strip()
    return int(text) if is_number(text) else text


def form_body(form: Any, *, create: bool) -> dict[str, Any]:
    """The editor's form as the API's body. A number that does not read as one is passed
    on as typed, for the schema to refuse with its message."""
    body: dict[str, Any] = {}
    if create:
        body["type"] = form.get("type", "")
        if form.get("merchant_id", ""):
            body["merchant_id"] = _number(form["merchant_id"])
    for name in TEXT:
        if name in form:
            body[name] = form.get(name, "").strip()
    for name in MONEY:
        text = form.get(name, "")
        try:
            fen = fen_of(text)
        except ValueError:
            body[name] = text
            continue
        if fen is not None:
            body[name] = fen
        elif name in ("subsidy", "commission_l1", "commission_l2"):
            body[name] = 0
    for name in WHOLE:
        text = form.get(name, "").strip()
        if text:
            body[name] = _number(text)
        elif name in NULLABLE:
            body[name] = None
    for name in INSTANTS + DAYS:
        text = form.get(name, "").strip()
        body[name] = text or None
    for name in BOXES:
        body[name] = form.get(name) == "on"
    if not create:
        body["version"] = _number(form.get("version", ""))
    return body


def _figures(values: dict[str, Any]) -> dict[str, Any] | None:
    """Margin, the commission budget and what the commission commits, per unit, from the
    rules' own functions; None until the three prices are there."""
    try:
        sale, settlement = values["sale_price"], values["settlement_price"]
    except KeyError:
        return None
    if not isinstance(sale, int) or not isinstance(settlement, int):
        return None
    subsidy = values.get("subsidy") or 0
    bonus = distributors.largest_tier_bonus()
    return {
        "margin": sale - settlement,
        "budget": rules.commission_budget(sale, settlement, subsidy),
        "commission": rules.committed_commission(
            values.get("commission_l1") or 0, values.get("commission_l2") or 0, bonus
        ),
        "bonus": bonus,
    }


def _check(body: dict[str, Any], deal: Deal | None) -> dict[str, Any]:
    """What the rules say of the draft: the schema's problems first (a malformed field),
    then every rule broken (``deals.service.draft_violations``)."""
    schema = DealCreateSchema() if deal is None else DealUpdateSchema()
    try:
        values = schema.load(body, partial=True)
    except ma.ValidationError as exc:  # a malformed field: shown as the field to fix
        return {
            "malformed": [
                texts()["staff_deals"].get(f"field_{name}", name)
                for name in exc.normalized_messages()
            ],
            "violations": [],
            "figures": None,
            "incomplete": False,
        }
    values.pop("version", None)
    values.pop("merchant_id", None)
    kind = values.get("type") or (deal.type if deal is not None else None)
    merged = values if deal is None else {**_current(deal), **values}
    if kind is None or any(
        merged.get(k) is None for k in ("list_price", "sale_price", "settlement_price")
    ):
        return {"malformed": [], "violations": [], "figures": None, "incomplete": True}
    found = service.draft_violations(
        values,
        max_tier_bonus=distributors.largest_tier_bonus(),
        deal=deal,
    )
    return {
        "malformed": [],
        "violations": [
            {"code": code, "field": field, "sentence": error_sentence(code, 422), "detail": message}
            for code, field, message in found
        ],
        "figures": _figures(merged),
        "incomplete": False,
    }


def _current(deal: Deal) -> dict[str, Any]:
    return {name: getattr(deal, name) for name in service.RULE_FIELDS}


def _values_of(deal: Deal | None, form: Any) -> dict[str, Any]:
    """What the editor's inputs show: the form sent back, else the deal, else defaults."""
    if form:
        return {k: form.get(k, "") for k in form} | {b: form.get(b) == "on" for b in BOXES}
    if deal is None:
        return {
            "type": request.args.get("type", "small_set"),
            "merchant_id": request.args.get("merchant_id", ""),
            "validity_days": "30",
        }
    values: dict[str, Any] = {name: getattr(deal, name) for name in TEXT + BOXES}
    values.update({name: yuan_text(getattr(deal, name)) for name in MONEY})
    values.update(
        {name: "" if getattr(deal, name) is None else getattr(deal, name) for name in WHOLE}
    )
    values.update(
        {
            name: to_local(getattr(deal, name)).strftime("%Y-%m-%dT%H:%M")
            if getattr(deal, name)
            else ""
            for name in INSTANTS
        }
    )
    values.update({name: getattr(deal, name) or "" for name in DAYS})
    values["type"] = deal.type
    values["merchant_id"] = deal.merchant_id
    return values


def _editor_context(deal: Deal | None, **extra: Any) -> dict[str, Any]:
    form = request.form if request.method == "POST" else {}
    checked = _check(form_body(form, create=deal is None), deal) if form else None
    if checked is None and deal is not None:
        checked = _check({"version": deal.version}, deal)
    return {
        "deal": deal,
        "values": _values_of(deal, form),
        "merchants": merchants.deal_ready_merchants() if deal is None else [],
        "types": [k.value for k in DealType],
        "expiry_policies": [p.value for p in ExpiryPolicy],
        "history": service.price_history(deal) if deal is not None else [],
        "checked": checked,
        "stock_cap": _flash_cap(),
        "street_margin": rules.STREET_PROMOTION_MIN_MARGIN,
        "can_pause": current_user().has_role(Role.BD),
        "problem": None,
        "problems": {},
        **extra,
    }


def _flash_cap() -> int:
    from flask import current_app

    return current_app.config["LINLI_FLASH_STOCK_CAP"]


def _editor_again(deal: Deal | None, error: DomainError) -> FlaskResponse:
    if error.status == 404:
        raise error
    context = _editor_context(deal, problem=sentence(error), problems=field_problems(error))
    for broken in (context["checked"] or {}).get("violations", []):
        context["problems"][broken["field"]] = broken["sentence"]  # the rule's own words
    html = render_template("staff/deals/editor.html", **context)
    return FlaskResponse(html, status=error.status, mimetype="text/html")


@bp.get("/deals/new")
@page_login_required(*EDITORS)
def new_deal():
    """A new draft: choose the shop and the type, fill in the economics; the type's rules
    are checked as the fields change."""
    return render_template("staff/deals/editor.html", **_editor_context(None))


@bp.post("/deals/new")
@page_login_required(*EDITORS)
def create_deal():
    """``deals.service.create_deal`` under the type's rules (the API's ``POST /deals``)."""
    try:
        body = load(DealCreateSchema(), form_body(request.form, create=True))
        deal = service.create_deal(
            body, current_user(), max_tier_bonus=distributors.largest_tier_bonus()
        )
        db.session.commit()
    except DomainError as error:
        db.session.rollback()
        return _editor_again(None, error)
    flash(t("staff_deals.created", title=deal.title))
    return redirect(url_for("staff.deal", deal_id=deal.id), code=303)


@bp.post("/deals/check")
@page_login_required(*EDITORS)
def check_new_deal():
    """htmx: the rules' verdict on the new deal's draft, as the fields change."""
    return render_template(
        "staff/deals/_rules.html",
        checked=_check(form_body(request.form, create=True), None),
        values=_values_of(None, request.form),
        stock_cap=_flash_cap(),
        street_margin=rules.STREET_PROMOTION_MIN_MARGIN,
    )


@bp.get("/deals/<int:deal_id>")
@page_login_required(*EDITORS)
def deal(deal_id: int):
    """One deal in the editor: its fields, the rules' verdict, price history, photos,
    pause and resume (BD)."""
    return render_template("staff/deals/editor.html", **_editor_context(service.get_deal(deal_id)))


@bp.post("/deals/<int:deal_id>/check")
@page_login_required(*EDITORS)
def check_deal(deal_id: int):
    """htmx: the rules' verdict on the edited deal (the form merged onto the stored deal,
    as ``update_deal`` merges it)."""
    deal = service.get_deal(deal_id)
    return render_template(
        "staff/deals/_rules.html",
        checked=_check(form_body(request.form, create=False), deal),
        values=_values_of(deal, request.form),
        stock_cap=_flash_cap(),
        street_margin=rules.STREET_PROMOTION_MIN_MARGIN,
    )


@bp.post("/deals/<int:deal_id>")
@page_login_required(*EDITORS)
def edit_deal(deal_id: int):
    """``deals.service.update_deal`` with the version the form was rendered with; only the
    fields that changed are sent, so price history and the audit record only real changes."""
    deal = service.get_deal(deal_id)
    try:
        body = load(DealUpdateSchema(), form_body(request.form, create=False))
        version = body.pop("version")
        changes = {k: v for k, v in body.items() if getattr(deal, k) != v}
        service.update_deal(
            deal, changes, version, current_user(), max_tier_bonus=distributors.largest_tier_bonus()
        )
        db.session.commit()
    except DomainError as error:
        db.session.rollback()
        return _editor_again(service.get_deal(deal_id), error)
    flash(t("staff_deals.saved"))
    return redirect(url_for("staff.deal", deal_id=deal_id), code=303)


@bp.post("/deals/<int:deal_id>/images")
@page_login_required(*EDITORS)
def upload_image(deal_id: int):
    """``deals.service.add_image``: a JPEG, PNG or WebP (checked by content)."""
    deal = service.get_deal(deal_id)
    try:
        upload = request.files.get("file")
        body = load(ImageUploadSchema(), {"file": upload} if upload and upload.filename else {})
        service.add_image(deal, body["file"].read(), current_user())
        db.session.commit()
    except DomainError as error:
        db.session.rollback()
        return _editor_again(service.get_deal(deal_id), error)
    flash(t("staff_deals.photo_added"))
    return redirect(url_for("staff.deal", deal_id=deal_id) + "#photos", code=303)


def _pause_or_resume(deal_id: int, action: Any, text_key: str) -> FlaskResponse:
    deal = service.get_deal(deal_id)
    try:
        body = load(ReasonSchema(), {"reason": request.form.get("reason", "").strip()})
        action(deal, current_user(), reason=body["reason"])
        db.session.commit()
    except DomainError as error:
        db.session.rollback()
        return _editor_again(service.get_deal(deal_id), error)
    flash(t(text_key, title=deal.title))
    return redirect(url_for("staff.deal", deal_id=deal_id), code=303)


@bp.post("/deals/<int:deal_id>/pause")
@page_login_required(Role.BD)
def pause_deal(deal_id: int):
    """``deals.service.pause`` (BD only, as the API)."""
    return _pause_or_resume(deal_id, service.pause, "staff_deals.paused")


@bp.post("/deals/<int:deal_id>/resume")
@page_login_required(Role.BD)
def resume_deal(deal_id: int):
    """``deals.service.resume`` (BD only, as the API)."""
    return _pause_or_resume(deal_id, service.resume, "staff_deals.resumed")

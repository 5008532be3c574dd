"""Business development in the staff console: the merchant pipeline as a board, the
merchant page (profile, hours, grade, contracts, revisits, portal accounts, audit trail),
the new-lead form and the "my overdue follow-ups" panel of the landing page.

Every page needs ``Role.BD`` (admin holds it), as every route of ``merchants.api`` that
these pages stand for does; an editor, customer service, a clerk or a shopper gets the
403 page. Each form is parsed by the API's schema and calls the function its API route
calls (``merchants.service``), which also writes the audit trail; a refusal is the page
again with the API's status and the code's sentence (the contract gate names the
documents still missing).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from flask import Response as FlaskResponse
from flask import abort, flash, redirect, render_template, request, url_for
from werkzeug.datastructures import MultiDict

from marketplace.accounts.auth import current_user
from marketplace.accounts.models import Role
from marketplace.core.db import db
from marketplace.core.errors import DomainError, InvalidInput
from marketplace.core.pagination import paginate
from marketplace.web.routing import is_number
from marketplace.web.session import page_login_required, safe_next
from marketplace.web.staff import bp, menu_item
from marketplace.web.staff.bdkit import field_problems, int_arg, load, page_count, sentence
from marketplace.web.texts import t
from merchants import service
from merchants.errors import ContractsMissing
from merchants.models import ContractKind, StaffRole, Stage, VisitChannel
from merchants.schemas import (
    ContractUploadSchema,
    GradeCreateSchema,
    MerchantCreateSchema,
    MerchantListArgsSchema,
    MerchantUpdateSchema,
    StaffCreateSchema,
    StageChangeSchema,
    VisitCreateSchema,
)

BD = (Role.BD,)
BOARD_STAGES = tuple(Stage)  # lead → negotiating → contracted → live, suspended, churned
COLUMN_SIZE = 8
AUDIT_SIZE = 15
OVERDUE_SIZE = 10
FILTERS = ("owner", "category", "grade", "q")

menu_item("staff.merchants", "staff_bd.menu_board", *BD, order=10)
menu_item("staff.new_merchant", "staff_bd.menu_new", *BD, order=12)


# -- the board -----------------------------------------------------------------------------


def _board_query() -> Any:
    """The board's query string: this request's, or for a card's move the board's own
    (``board_url``), so a refusal shows the board as it was, filters and pages kept."""
    if request.method == "POST":
        return MultiDict(parse_qsl(urlsplit(request.form.get("board_url", "")).query))
    return request.args


def _filters() -> dict[str, Any]:
    """The board's filters as the API's list parses them (a bad one is its 422)."""
    args = _board_query()
    raw = {name: args[name] for name in FILTERS if args.get(name)}
    args = load(MerchantListArgsSchema(), raw)
    return {name: args[name] for name in FILTERS if name in args}


def _board_context(filters: dict[str, Any]) -> dict[str, Any]:
    user = current_user()
    columns = []
    for stage in BOARD_STAGES:
        page = int_arg(f"p_{stage.value}", source=_board_query())
        result = paginate(
            service.list_merchants(user, {**filters, "stage": stage.value, "sort": "newest"}),
            page,
            COLUMN_SIZE,
        )
        columns.append(
            {
                "stage": stage.value,
                "merchants": result["items"],
                "total": result["total"],
                "page": page,
                "pages": page_count(result["total"], COLUMN_SIZE),
                "moves": {m.id: _moves(m.stage) for m in result["items"]},
            }
        )
    return {
        "columns": columns,
        "filters": {k: _board_query().get(k, "") for k in FILTERS},
        "owners": service.bd_owners(),
        "categories": service.list_categories(),
        "stage_order": [s.value for s in BOARD_STAGES],
        "problem": None,
    }


def _moves(stage: str) -> list[str]:
    """Where the stage rule lets a merchant go from ``stage``, in pipeline order (the next
    step first, churned last), so a card's form offers the usual move by default."""
    allowed = service.TRANSITIONS[Stage(stage)]
    return [s.value for s in BOARD_STAGES if s in allowed]


def _page_args(**changes: Any) -> dict[str, Any]:
    """The board's query string with ``changes`` (a column's page), for its links."""
    args = {k: v for k, v in _board_query().items() if v}
    args.update({k: v for k, v in changes.items()})
    return args


@bp.get("/merchants")
@page_login_required(*BD)
def merchants():
    """The pipeline as a board: a column per stage, each paginated on its own, filtered by
    owner (BD), category and grade on the server."""
    try:
        filters = _filters()
    except InvalidInput as error:
        return _board_refused(error, {})
    return render_template("staff/bd/board.html", **_board_context(filters), board_args=_page_args)


def _board_refused(error: DomainError, filters: dict[str, Any]) -> FlaskResponse:
    context = _board_context(filters)
    context["problem"] = _refusal(error)
    html = render_template("staff/bd/board.html", **context, board_args=_page_args)
    return FlaskResponse(html, status=error.status, mimetype="text/html")


def _refusal(error: DomainError) -> str:
    """The sentence of a refusal; the contract gate's names the documents still missing."""
    if isinstance(error, ContractsMissing) or error.code == "contracts_missing":
        missing = (error.fields or {}).get("missing_contracts", [])
        return t("staff_bd.contracts_missing", documents=_document_names(missing))
    return sentence(error)


def _document_names(kinds: list[str]) -> str:
    return t("staff_bd.joiner").join(t(f"staff_bd.contract_{kind}") for kind in kinds)


@bp.post("/merchants/<int:merchant_id>/stage")
@page_login_required(*BD)
def move_merchant(merchant_id: int):
    """Move a card: ``merchants.service.change_stage``, the API's stage rule and its
    contract gate. Back to where the form was (the board or the merchant page)."""
    user = current_user()
    merchant = service.get_merchant(merchant_id, user)  # another's: the 404 page
    back = request.form.get("back", "board")
    try:
        body = load(
            StageChangeSchema(),
            {
                "stage": request.form.get("stage", ""),
                "reason": request.form.get("reason", "").strip(),
                **(
                    {"version": int(request.form["version"])}
                    if is_number(request.form.get("version", ""))
                    else {}
                ),
            },
        )
        service.change_stage(
            merchant,
            Stage(body["stage"]),
            user,
            reason=body["reason"],
            expected_version=body.get("version"),
        )
        db.session.commit()
    except DomainError as error:
        db.session.rollback()
        if back == "merchant":
            return _merchant_again(merchant_id, error, section="stage")
        try:
            filters = _filters()
        except InvalidInput:
            filters = {}
        return _board_refused(error, filters)
    flash(
        t(
            "staff_bd.moved",
            name=merchant.name,
            stage=t(f"staff_bd.stage_{merchant.stage}"),
        )
    )
    if back == "merchant":
        return redirect(url_for("staff.merchant", merchant_id=merchant_id), code=303)
    board = safe_next(request.form.get("board_url"), default=url_for("staff.merchants"))
    return redirect(board, code=303)


# -- a new lead ----------------------------------------------------------------------------


def _profile_body(form: Any, *, create: bool) -> dict[str, Any]:
    """The profile form as the API's body: the fields given, location from two inputs,
    hours from their lines, the headliner box (unticked means no)."""
    body: dict[str, Any] = {}
    for name in ("name", "category", "description", "address", "phone", "hours_note"):
        if name in form:
            value = form.get(name, "").strip()
            if value or not create:
                body[name] = value
    if not body.get("phone") and "phone" in body:
        body.pop("phone")  # an empty phone is "not given", the schema wants digits
    lat, lng = form.get("lat", "").strip(), form.get("lng", "").strip()
    if lat or lng:
        body["location"] = {"lat": lat, "lng": lng}
    elif not create and "lat" in form:
        body["location"] = None
    if "hours" in form:
        body["business_hours"] = parse_hours(form.get("hours", ""))
    if is_number(form.get("owner_id", "")):
        body["owner_id"] = int(form["owner_id"])
    if "headliner_shown" in form:
        body["is_headliner"] = form.get("is_headliner") == "on"
    return body


HOURS_LINE = re.compile(
    r"^\s*([1-7](?:\s*[-,，]\s*[1-7])*)\s+(\d{1,2}:\d{2})\s*[-–~]\s*(\d{1,2}:\d{2})\s*$"
)


def parse_hours(text: str) -> list[dict[str, Any]] | str:
    """Opening hours typed one line per group: "1-5 10:00-22:00", "6,7 09:00-02:00"
    (ISO weekdays, 1 = Monday). A line that does not read so is returned as text, for the
    schema to refuse."""
    hours = []
    for line in (part for part in text.splitlines() if part.strip()):
        match = HOURS_LINE.match(line)
        if match is None:
            return line
        days: list[int] = []
        for piece in re.split(r"\s*[,，]\s*", match.group(1)):
            first, _, last = piece.partition("-")
            first_day, last_day = int(first.strip()), int((last or first).strip())
            days.extend(range(first_day, last_day + 1))
        hours.append(
            {
                "days": sorted(set(days)) or [int(match.group(1)[0])],
                "open": match.group(2).zfill(5),
                "close": match.group(3).zfill(5),
            }
        )
    return hours


def hours_text(hours: list[dict[str, Any]]) -> str:
    """The stored hours as the form's lines (the reverse of ``parse_hours``)."""
    lines = []
    for group in hours or []:
        days = group["days"]
        if days and days == list(range(days[0], days[-1] + 1)) and len(days) > 1:
            day_text = f"{days[0]}-{days[-1]}"
        else:
            day_text = ",".join(str(d) for d in days)
        lines.append(f"{day_text} {group['open']}-{group['close']}")
    return "\n".join(lines)


@bp.get("/merchants/new")
@page_login_required(*BD)
def new_merchant():
    """The new-lead form."""
    return render_template("staff/bd/new.html", **_new_context())


def _new_context(**extra: Any) -> dict[str, Any]:
    return {
        "categories": service.list_categories(),
        "owners": service.bd_owners(),
        "form": request.form,
        "problem": None,
        "problems": {},
        **extra,
    }


@bp.post("/merchants/new")
@page_login_required(*BD)
def create_merchant():
    """``merchants.service.create_merchant``: a lead, owned by me unless I name another BD."""
    try:
        body = load(MerchantCreateSchema(), _profile_body(request.form, create=True))
        merchant = service.create_merchant(body, current_user())
        db.session.commit()
    except DomainError as error:
        db.session.rollback()
        html = render_template(
            "staff/bd/new.html",
            **_new_context(problem=sentence(error), problems=field_problems(error)),
        )
        return FlaskResponse(html, status=error.status, mimetype="text/html")
    flash(t("staff_bd.lead_created", name=merchant.name))
    return redirect(url_for("staff.merchant", merchant_id=merchant.id), code=303)


# -- the merchant page ---------------------------------------------------------------------


def _merchant_context(merchant_id: int, **extra: Any) -> dict[str, Any]:
    user = current_user()
    merchant = service.get_merchant(merchant_id, user)
    missing = [k.value for k in service.missing_contracts(merchant)]
    audit_page = int_arg("audit_page")
    audit = paginate(service.audit_trail(merchant), audit_page, AUDIT_SIZE)
    return {
        "merchant": merchant,
        "missing": missing,
        "missing_text": _document_names(missing),
        "moves": _moves(merchant.stage),
        "grades": service.grade_history(merchant),
        "contracts": service.list_contracts(merchant),
        "visits": service.list_visits(merchant),
        "staff": service.list_staff(merchant, user),
        "audit": audit["items"],
        "audit_page": audit_page,
        "audit_pages": page_count(audit["total"], AUDIT_SIZE),
        "categories": service.list_categories(include_retired=True),
        "owners": service.bd_owners(),
        "contract_kinds": [k.value for k in ContractKind],
        "channels": [c.value for c in VisitChannel],
        "staff_roles": [r.value for r in StaffRole],
        "hours_text": hours_text(merchant.business_hours),
        "form": request.form if request.method == "POST" else {},
        "section": None,
        "problem": None,
        "problems": {},
        "created_account": None,
        **extra,
    }


def _merchant_again(merchant_id: int, error: DomainError, *, section: str) -> FlaskResponse:
    if error.status == 404:
        raise error
    html = render_template(
        "staff/bd/merchant.html",
        **_merchant_context(
            merchant_id,
            section=section,
            problem=_refusal(error),
            problems=field_problems(error),
        ),
    )
    return FlaskResponse(html, status=error.status, mimetype="text/html")


@bp.get("/merchants/<int:merchant_id>")
@page_login_required(*BD)
def merchant(merchant_id: int):
    """One merchant: profile, location, hours, headliner, grade and its history, the three
    documents, revisits, portal accounts and the audit trail (paginated)."""
    return render_template("staff/bd/merchant.html", **_merchant_context(merchant_id))


def _done(merchant_id: int, text_key: str, anchor: str, **values: Any) -> FlaskResponse:
    flash(t(text_key, **values))
    return redirect(url_for("staff.merchant", merchant_id=merchant_id) + f"#{anchor}", code=303)


@bp.post("/merchants/<int:merchant_id>")
@page_login_required(*BD)
def edit_merchant(merchant_id: int):
    """``merchants.service.update_merchant`` with the version the form was rendered with
    (someone else's change in between is the 409 ``stale_version``)."""
    user = current_user()
    merchant = service.get_merchant(merchant_id, user)
    try:
        body = _profile_body(request.form, create=False)
        body["version"] = int(request.form.get("version", "0") or 0)
        if "owner_id" in request.form and not request.form["owner_id"]:
            body["owner_id"] = None
        changes = load(MerchantUpdateSchema(), body)
        version = changes.pop("version")
        service.update_merchant(merchant, changes, version, user)
        db.session.commit()
    except (DomainError, ValueError) as error:
        db.session.rollback()
        if isinstance(error, ValueError):
            error = InvalidInput(fields={"version": ["?"]})
        return _merchant_again(merchant_id, error, section="profile")
    return _done(merchant_id, "staff_bd.saved", "profile")


@bp.post("/merchants/<int:merchant_id>/grades")
@page_login_required(*BD)
def grade_merchant(merchant_id: int):
    """``merchants.service.grade_merchant``: 1–5 stars with a note and a reference."""
    user = current_user()
    merchant = service.get_merchant(merchant_id, user)
    try:
        grade = request.form.get("grade", "")
        body = load(
            GradeCreateSchema(),
            {
                "grade": int(grade) if is_number(grade) else grade,
                "note": request.form.get("note", "").strip(),
                "reference": request.form.get("reference", "").strip(),
            },
        )
        service.grade_merchant(
            merchant, body["grade"], body["note"], user, reference=body["reference"]
        )
        db.session.commit()
    except DomainError as error:
        db.session.rollback()
        return _merchant_again(merchant_id, error, section="grade")
    return _done(merchant_id, "staff_bd.graded", "grade", grade=body["grade"])


@bp.post("/merchants/<int:merchant_id>/contracts")
@page_login_required(*BD)
def record_contract(merchant_id: int):
    """``merchants.service.record_contract``: a signed document with its scan (checked by
    content: PDF, JPEG or PNG, at most 10 MiB)."""
    user = current_user()
    merchant = service.get_merchant(merchant_id, user)
    try:
        upload = request.files.get("file")
        body = load(
            ContractUploadSchema(),
            {
                "kind": request.form.get("kind", ""),
                "signatory": request.form.get("signatory", "").strip(),
                "signed_on": request.form.get("signed_on", ""),
                **({"file": upload} if upload is not None and upload.filename else {}),
            },
        )
        service.record_contract(
            merchant,
            ContractKind(body["kind"]),
            body["signatory"],
            body["signed_on"],
            service.Upload(filename=body["file"].filename or "", data=body["file"].read()),
            user,
        )
        db.session.commit()
    except DomainError as error:
        db.session.rollback()
        return _merchant_again(merchant_id, error, section="contracts")
    return _done(
        merchant_id,
        "staff_bd.contract_recorded",
        "contracts",
        kind=t(f"staff_bd.contract_{body['kind']}"),
    )


@bp.get("/merchants/<int:merchant_id>/contracts/<int:contract_id>")
@page_login_required(*BD)
def contract_file(merchant_id: int, contract_id: int):
    """The stored scan, as ``GET /merchants/{id}/contracts/{id}/file`` sends it."""
    user = current_user()
    contract, data = service.contract_file(
        service.get_merchant(merchant_id, user), contract_id, user
    )
    extension = contract.file_key.rsplit(".", 1)[-1]
    return FlaskResponse(
        data,
        mimetype=contract.content_type,
        headers={
            "Content-Disposition": f'attachment; filename="contract-{contract.id}.{extension}"',
            "Cache-Control": "private, no-store",
        },
    )


@bp.post("/merchants/<int:merchant_id>/visits")
@page_login_required(*BD)
def record_visit(merchant_id: int):
    """``merchants.service.record_visit``: a revisit and the follow-up it promised."""
    user = current_user()
    merchant = service.get_merchant(merchant_id, user)
    try:
        body = load(
            VisitCreateSchema(),
            {
                "visited_on": request.form.get("visited_on", ""),
                "channel": request.form.get("channel", ""),
                "notes": request.form.get("notes", "").strip(),
                "follow_up_due": request.form.get("follow_up_due") or None,
            },
        )
        service.record_visit(
            merchant,
            body["visited_on"],
            body["channel"],
            body["notes"],
            user,
            follow_up_due=body["follow_up_due"],
        )
        db.session.commit()
    except DomainError as error:
        db.session.rollback()
        return _merchant_again(merchant_id, error, section="visits")
    return _done(merchant_id, "staff_bd.visit_recorded", "visits")


@bp.post("/merchants/<int:merchant_id>/staff")
@page_login_required(*BD)
def create_portal_account(merchant_id: int):
    """``merchants.service.create_portal_account``: an owner's or clerk's login. The page
    that answers shows the initial password once; it is not kept anywhere readable."""
    user = current_user()
    merchant = service.get_merchant(merchant_id, user)
    try:
        body = load(
            StaffCreateSchema(),
            {
                "username": request.form.get("username", "").strip(),
                "role": request.form.get("role", ""),
                "display_name": request.form.get("display_name", "").strip(),
            },
        )
        link, initial = service.create_portal_account(
            merchant,
            body["username"],
            StaffRole(body["role"]),
            user,
            display_name=body["display_name"],
        )
        db.session.commit()
        created = {"username": link.user.username, "role": link.role, "password": initial}
    except DomainError as error:
        db.session.rollback()
        return _merchant_again(merchant_id, error, section="staff")
    html = render_template(
        "staff/bd/merchant.html",
        **_merchant_context(merchant_id, created_account=created, form={}),
    )
    response = FlaskResponse(html, status=201, mimetype="text/html")
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/follow-ups")
@page_login_required(*BD)
def follow_ups():
    """Overdue follow-ups, most overdue first: mine by default, anyone's with owner=all
    (``merchants.service.overdue_follow_ups``, the API's list)."""
    user = current_user()
    everyone = request.args.get("owner") == "all"
    page = int_arg("page")
    result = paginate(
        service.overdue_follow_ups(user, owner=None if everyone else "me"), page, OVERDUE_SIZE
    )
    return render_template(
        "staff/bd/follow_ups.html",
        merchants=result["items"],
        total=result["total"],
        page=page,
        pages=page_count(result["total"], OVERDUE_SIZE),
        everyone=everyone,
    )


# -- the landing page's panel --------------------------------------------------------------


@bp.app_template_global()
def staff_bd_overdue() -> dict[str, Any]:
    """My overdue follow-ups (``merchants.service.overdue_follow_ups``, owner me), for
    ``templates/staff/home/_bd.html``; the first page, most overdue first."""
    user = current_user()
    if not user.has_role(Role.BD):
        abort(403)
    result = paginate(service.overdue_follow_ups(user, owner="me"), 1, OVERDUE_SIZE)
    return {"merchants": result["items"], "total": result["total"]}

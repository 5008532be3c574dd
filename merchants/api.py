"""HTTP routes of the merchant side: BD's workbench and the merchant portal."""

from __future__ import annotations

from flask import Response

from marketplace.accounts.auth import auth_required, current_user
from marketplace.accounts.models import Role
from marketplace.core.api import Blueprint, documents_errors
from marketplace.core.db import db
from marketplace.core.pagination import PageArgsSchema, page_of, paginate
from merchants import service
from merchants.models import ContractKind, StaffRole, Stage
from merchants.schemas import (
    AuditEventSchema,
    CategoryArgsSchema,
    CategoryCreateSchema,
    CategorySchema,
    CategoryUpdateSchema,
    ContractSchema,
    ContractUploadSchema,
    GradeCreateSchema,
    GradeSchema,
    MerchantCreateSchema,
    MerchantDetailSchema,
    MerchantListArgsSchema,
    MerchantSchema,
    MerchantUpdateSchema,
    MyMerchantSchema,
    OverdueArgsSchema,
    StaffCreatedSchema,
    StaffCreateSchema,
    StaffSchema,
    StageChangeSchema,
    VisitCreateSchema,
    VisitSchema,
)

blp = Blueprint("merchants", __name__, description="Merchant onboarding and the merchant portal")


# -- categories ----------------------------------------------------------------------------


@blp.get("/categories")
@blp.arguments(CategoryArgsSchema, location="query")
@blp.response(200, CategorySchema(many=True))
def list_categories(args: dict):
    """The merchant categories, in display order (public)"""
    return service.list_categories(include_retired=args["include_retired"])


@blp.post("/categories")
@auth_required(Role.ADMIN)
@blp.arguments(CategoryCreateSchema)
@blp.response(201, CategorySchema)
@documents_errors(409)
def create_category(body: dict):
    """Add a category"""
    category = service.create_category(body, current_user())
    db.session.commit()
    return category


@blp.patch("/categories/<string:slug>")
@auth_required(Role.ADMIN)
@blp.arguments(CategoryUpdateSchema)
@blp.response(200, CategorySchema)
@documents_errors(404)
def update_category(body: dict, slug: str):
    """Rename, reorder, retire (retired: true) or restore a category"""
    category = service.update_category(service.get_category(slug), body, current_user())
    db.session.commit()
    return category


# -- merchants -----------------------------------------------------------------------------


@blp.post("/merchants")
@auth_required(Role.BD)
@blp.arguments(MerchantCreateSchema)
@blp.response(201, MerchantDetailSchema)
def create_merchant(body: dict):
    """Create a lead (stage: lead); its BD owner defaults to you"""
    merchant = service.create_merchant(body, current_user())
    db.session.commit()
    return merchant


@blp.get("/merchants")
@auth_required(Role.BD, Role.MERCHANT_STAFF)
@blp.arguments(MerchantListArgsSchema, location="query")
@blp.response(200, page_of(MerchantSchema))
def list_merchants(args: dict):
    """Merchants with filters; merchant staff see only their own shop"""
    page, page_size = args.pop("page"), args.pop("page_size")
    return paginate(service.list_merchants(current_user(), args), page, page_size)


@blp.get("/merchants/overdue-follow-ups")
@auth_required(Role.BD)
@blp.arguments(OverdueArgsSchema, location="query")
@blp.response(200, page_of(MerchantSchema))
def overdue_follow_ups(args: dict):
    """Merchants whose promised follow-up date has passed, most overdue first"""
    query = service.overdue_follow_ups(current_user(), owner=args.get("owner"))
    return paginate(query, args["page"], args["page_size"])


@blp.get("/merchants/<int:merchant_id>")
@auth_required(Role.BD, Role.MERCHANT_STAFF)
@blp.response(200, MerchantDetailSchema)
@documents_errors(404)
def get_merchant(merchant_id: int):
    """One merchant with the documents it still needs"""
    return service.get_merchant(merchant_id, current_user())


@blp.patch("/merchants/<int:merchant_id>")
@auth_required(Role.BD, Role.MERCHANT_STAFF)
@blp.arguments(MerchantUpdateSchema)
@blp.response(200, MerchantDetailSchema)
@documents_errors(404, 409)
def update_merchant(body: dict, merchant_id: int):
    """Edit the profile (send the version you read). A shop's owner may edit its
    description, phone and hours; BD everything"""
    user = current_user()
    merchant = service.get_merchant(merchant_id, user)
    version = body.pop("version")
    service.update_merchant(merchant, body, version, user)
    db.session.commit()
    return merchant


@blp.post("/merchants/<int:merchant_id>/stage")
@auth_required(Role.BD)
@blp.arguments(StageChangeSchema)
@blp.response(200, MerchantDetailSchema)
@documents_errors(404, 409)
def change_stage(body: dict, merchant_id: int):
    """Move along the pipeline: lead → negotiating → contracted → live ⇄ suspended;
    churned from any stage. contracted and live need all three documents signed.
    Error codes: illegal_stage_transition, contracts_missing, stale_version"""
    user = current_user()
    merchant = service.get_merchant(merchant_id, user)
    service.change_stage(
        merchant,
        Stage(body["stage"]),
        user,
        reason=body["reason"],
        expected_version=body.get("version"),
    )
    db.session.commit()
    return merchant


@blp.post("/merchants/<int:merchant_id>/grades")
@auth_required(Role.BD)
@blp.arguments(GradeCreateSchema)
@blp.response(201, GradeSchema)
@documents_errors(404)
def grade_merchant(body: dict, merchant_id: int):
    """Grade the shop 1–5 stars with a note; the latest grade is the current one"""
    user = current_user()
    merchant = service.get_merchant(merchant_id, user)
    grade = service.grade_merchant(
        merchant, body["grade"], body["note"], user, reference=body["reference"]
    )
    db.session.commit()
    return grade


@blp.get("/merchants/<int:merchant_id>/grades")
@auth_required(Role.BD)
@blp.response(200, GradeSchema(many=True))
@documents_errors(404)
def grade_history(merchant_id: int):
    """Grading history, newest first"""
    return service.grade_history(service.get_merchant(merchant_id, current_user()))


@blp.post("/merchants/<int:merchant_id>/contracts")
@auth_required(Role.BD)
@blp.arguments(ContractUploadSchema, location="multipart")
@blp.response(201, ContractSchema)
@documents_errors(404, 413)
def record_contract(form: dict, merchant_id: int):
    """Record a signed document with its scan (multipart: kind, signatory, signed_on, file)"""
    user = current_user()
    merchant = service.get_merchant(merchant_id, user)
    upload = form["file"]
    contract = service.record_contract(
        merchant,
        ContractKind(form["kind"]),
        form["signatory"],
        form["signed_on"],
        service.Upload(filename=upload.filename or "", data=upload.read()),
        user,
    )
    db.session.commit()
    return contract


@blp.get("/merchants/<int:merchant_id>/contracts")
@auth_required(Role.BD)
@blp.response(200, ContractSchema(many=True))
@documents_errors(404)
def list_contracts(merchant_id: int):
    """Signed documents, newest first (re-signed kinds keep their history)"""
    return service.list_contracts(service.get_merchant(merchant_id, current_user()))


@blp.get("/merchants/<int:merchant_id>/contracts/<int:contract_id>/file")
@auth_required(Role.BD, Role.MERCHANT_STAFF)
@blp.response(
    200, content_type="application/octet-stream", description="the stored scan (PDF, JPEG or PNG)"
)
@documents_errors(404)
def contract_file(merchant_id: int, contract_id: int):
    """Download a signed document (BD, or the shop's owner)"""
    user = current_user()
    contract, data = service.contract_file(
        service.get_merchant(merchant_id, user), contract_id, user
    )
    return Response(
        data,
        mimetype=contract.content_type,
        headers={
            "Content-Disposition": f'attachment; filename="contract-{contract.id}.'
            f'{contract.file_key.rsplit(".", 1)[-1]}"',
            "X-Content-Type-Options": "nosniff",
        },
    )


@blp.post("/merchants/<int:merchant_id>/visits")
@auth_required(Role.BD)
@blp.arguments(VisitCreateSchema)
@blp.response(201, VisitSchema)
@documents_errors(404)
def record_visit(body: dict, merchant_id: int):
    """Log a revisit (visit, call or WeChat), what the merchant said, and a follow-up date"""
    user = current_user()
    merchant = service.get_merchant(merchant_id, user)
    visit = service.record_visit(
        merchant,
        body["visited_on"],
        body["channel"],
        body["notes"],
        user,
        follow_up_due=body["follow_up_due"],
    )
    db.session.commit()
    return visit


@blp.get("/merchants/<int:merchant_id>/visits")
@auth_required(Role.BD)
@blp.response(200, VisitSchema(many=True))
@documents_errors(404)
def list_visits(merchant_id: int):
    """The revisit log, newest first"""
    return service.list_visits(service.get_merchant(merchant_id, current_user()))


@blp.post("/merchants/<int:merchant_id>/staff")
@auth_required(Role.BD)
@blp.arguments(StaffCreateSchema)
@blp.response(201, StaffCreatedSchema)
@documents_errors(404, 409)
def create_staff(body: dict, merchant_id: int):
    """Create a portal account (owner or clerk); the initial password is shown once and
    must be changed at first login"""
    user = current_user()
    merchant = service.get_merchant(merchant_id, user)
    link, initial = service.create_portal_account(
        merchant,
        body["username"],
        StaffRole(body["role"]),
        user,
        display_name=body["display_name"],
        password=body.get("password"),
    )
    db.session.commit()
    return {"account": link, "initial_password": initial}


@blp.get("/merchants/<int:merchant_id>/staff")
@auth_required(Role.BD, Role.MERCHANT_STAFF)
@blp.response(200, StaffSchema(many=True))
@documents_errors(404)
def list_staff(merchant_id: int):
    """Portal accounts of the shop (BD, or the shop's owner)"""
    user = current_user()
    return service.list_staff(service.get_merchant(merchant_id, user), user)


@blp.get("/merchants/<int:merchant_id>/audit")
@auth_required(Role.BD)
@blp.arguments(PageArgsSchema, location="query")
@blp.response(200, page_of(AuditEventSchema))
@documents_errors(404)
def audit_trail(args: dict, merchant_id: int):
    """Every stage change, grade, contract, visit and edit, newest first"""
    merchant = service.get_merchant(merchant_id, current_user())
    return paginate(service.audit_trail(merchant), args["page"], args["page_size"])


@blp.get("/merchant")
@auth_required(Role.MERCHANT_STAFF)
@blp.response(200, MyMerchantSchema)
@documents_errors(404)
def my_merchant():
    """The merchant portal: my shop and my role in it"""
    member = service.my_merchant(current_user())
    return {"role": member.role, "merchant": member.merchant}

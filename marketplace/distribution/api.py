"""HTTP routes of distribution: joining, links, the dashboard, Moments proofs, and the
staff's tools (applications, suspension, tiers, rebinding, settings, streak bonuses).

The dashboard and the streak bonus need order figures, which distribution (below orders)
cannot ask for: those routes pass them in from ``orders.attribution``."""

from __future__ import annotations

from flask import current_app, request

from marketplace.accounts.auth import auth_required, current_user
from marketplace.accounts.models import Role
from marketplace.core import qr
from marketplace.core.api import Blueprint, documents_errors
from marketplace.core.db import db
from marketplace.core.errors import NotFound, PermissionDenied
from marketplace.core.fields import ReasonSchema
from marketplace.core.pagination import PageArgsSchema, page_of, paginate
from marketplace.distribution import (
    access,
    binding,
    commission,
    distributors,
    links,
    settings,
    streaks,
)
from marketplace.distribution.models import Distributor
from marketplace.distribution.schemas import (
    BindingSchema,
    CommissionArgsSchema,
    CommissionSchema,
    CustomerSchema,
    DashboardSchema,
    DistributorSchema,
    DistributorUpdateSchema,
    JoinSchema,
    LinkCreateSchema,
    LinkSchema,
    MonthSchema,
    ProofArgsSchema,
    ProofReviewSchema,
    ProofSchema,
    ProofUploadSchema,
    RebindSchema,
    SettingsSchema,
    TierSchema,
)
from marketplace.orders import attribution

blp = Blueprint("distribution", __name__, description="Distributors, links, commission")


# -- shoppers and distributors -------------------------------------------------------------


@blp.post("/distributors")
@auth_required(Role.SHOPPER)
@blp.arguments(JoinSchema)
@blp.response(201, DistributorSchema)
@documents_errors(409, 422)
def join(body: dict):
    """Join the distribution programme (with a recruiter's invite code, or none)"""
    distributor = distributors.join(
        current_user(),
        invite_code=body.get("invite_code"),
        wechat_friends=body.get("wechat_friends"),
    )
    db.session.commit()
    return distributor


@blp.get("/distributors/me")
@auth_required(Role.SHOPPER)
@blp.response(200, DashboardSchema)
@documents_errors(404)
def my_dashboard():
    """My dashboard: bound customers, orders, commission by state and month, top deals"""
    distributor = distributors.my_distributor(current_user())
    return attribution.dashboard(distributor)


@blp.get("/distributors/me/commissions")
@auth_required(Role.SHOPPER)
@blp.arguments(CommissionArgsSchema, location="query")
@blp.response(200, page_of(CommissionSchema))
def my_commissions(args: dict):
    """My commission entries (filter by state or kind)"""
    page, size = args.pop("page"), args.pop("page_size")
    return paginate(
        commission.commission_entries(distributors.my_distributor(current_user()), args),
        page,
        size,
    )


@blp.get("/distributors/me/customers")
@auth_required(Role.SHOPPER)
@blp.arguments(PageArgsSchema, location="query")
@blp.response(200, page_of(CustomerSchema))
@documents_errors(404)
def my_customers(args: dict):
    """My bound customers (phones masked) and what each bought through me"""
    distributor = distributors.my_distributor(current_user())
    return attribution.customers(distributor, args["page"], args["page_size"])


@blp.post("/share-links")
@auth_required(Role.SHOPPER)
@blp.arguments(LinkCreateSchema)
@blp.response(201, LinkSchema)
@documents_errors(404, 409)
def create_link(body: dict):
    """A short link (and QR) for a deal or the home page"""
    link = links.create_link(distributors.my_distributor(current_user()), body["deal_id"])
    db.session.commit()
    return link


@blp.get("/share-links/<string:code>/qr.png")
@auth_required(Role.SHOPPER)
@blp.response(200, content_type="image/png", description="the link as a QR code")
@documents_errors(404)
def link_qr(code: str):
    """A QR PNG of my link, for posters"""
    link = links.link_by_code(code)
    if not access.owns_link(current_user(), link):
        raise NotFound("No such link of yours.", code="link_not_found")
    target = request.host_url.rstrip("/") + f"/s/{link.code}"
    return current_app.response_class(qr.png(target), mimetype="image/png")


@blp.post("/distributors/me/moments")
@auth_required(Role.SHOPPER)
@blp.arguments(ProofUploadSchema, location="multipart")
@blp.response(201, ProofSchema)
@documents_errors(409, 413)
def submit_proof(body: dict):
    """Today's WeChat Moments proof: a screenshot of the shared deal"""
    distributor = distributors.my_distributor(current_user())
    proof = streaks.submit_proof(distributor, body["day"], body["file"].read())
    db.session.commit()
    return proof


@blp.get("/distributors/me/moments")
@auth_required(Role.SHOPPER)
@blp.arguments(ProofArgsSchema, location="query")
@blp.response(200, page_of(ProofSchema))
def my_proofs(args: dict):
    """My Moments proofs and their review"""
    distributor = distributors.my_distributor(current_user())
    query = streaks.proofs(args, distributor=distributor)
    return paginate(query, args["page"], args["page_size"])


# -- staff ---------------------------------------------------------------------------------


@blp.get("/distributors")
@auth_required(Role.CS)
@blp.arguments(PageArgsSchema, location="query")
@blp.response(200, page_of(DistributorSchema))
def list_distributors(args: dict):
    """Every distributor, newest first (customer service, admin)"""
    return paginate(distributors.list_distributors(), args["page"], args["page_size"])


@blp.get("/distributors/<int:distributor_id>")
@auth_required(Role.SHOPPER, Role.CS)
@blp.response(200, DashboardSchema)
@documents_errors(403, 404)
def distributor_dashboard(distributor_id: int):
    """A distributor's dashboard: their own, or any for customer service and admin"""
    distributor = distributors.get_distributor(distributor_id)
    if not access.can_see_dashboard(current_user(), distributor):
        raise PermissionDenied("That is another distributor's dashboard.")
    return attribution.dashboard(distributor)


def _staff_action(distributor_id: int, action) -> Distributor:
    distributor = action(distributors.get_distributor(distributor_id))
    db.session.commit()
    return distributor


@blp.post("/distributors/<int:distributor_id>/approve")
@auth_required(Role.CS)
@blp.arguments(ReasonSchema)
@blp.response(200, DistributorSchema)
@documents_errors(404, 409)
def approve(body: dict, distributor_id: int):
    """Approve an application"""
    return _staff_action(
        distributor_id,
        lambda d: distributors.review_application(d, True, current_user(), reason=body["reason"]),
    )


@blp.post("/distributors/<int:distributor_id>/reject")
@auth_required(Role.CS)
@blp.arguments(ReasonSchema)
@blp.response(200, DistributorSchema)
@documents_errors(404, 409)
def reject(body: dict, distributor_id: int):
    """Reject an application"""
    return _staff_action(
        distributor_id,
        lambda d: distributors.review_application(d, False, current_user(), reason=body["reason"]),
    )


@blp.post("/distributors/<int:distributor_id>/suspend")
@auth_required(Role.CS)
@blp.arguments(ReasonSchema)
@blp.response(200, DistributorSchema)
@documents_errors(404, 409)
def suspend(body: dict, distributor_id: int):
    """Suspend: no new links or commission; customers stay bound"""
    return _staff_action(
        distributor_id,
        lambda d: distributors.set_suspended(d, True, current_user(), reason=body["reason"]),
    )


@blp.post("/distributors/<int:distributor_id>/reinstate")
@auth_required(Role.CS)
@blp.arguments(ReasonSchema)
@blp.response(200, DistributorSchema)
@documents_errors(404, 409)
def reinstate(body: dict, distributor_id: int):
    """Lift a suspension"""
    return _staff_action(
        distributor_id,
        lambda d: distributors.set_suspended(d, False, current_user(), reason=body["reason"]),
    )


@blp.patch("/distributors/<int:distributor_id>")
@auth_required(Role.CS)
@blp.arguments(DistributorUpdateSchema)
@blp.response(200, DistributorSchema)
@documents_errors(404)
def update_distributor(body: dict, distributor_id: int):
    """Set the tier, record the verified WeChat friend count"""
    return _staff_action(
        distributor_id, lambda d: distributors.update_distributor(d, body, current_user())
    )


@blp.post("/distributors/<int:distributor_id>/streak-bonus")
@auth_required(Role.ADMIN)
@blp.arguments(MonthSchema)
@blp.response(200, CommissionSchema)
@blp.alt_response(204, description="no bonus that month")
@documents_errors(404)
def streak_bonus(body: dict, distributor_id: int):
    """Compute (or recompute) a month's Moments streak bonus"""
    distributor = distributors.get_distributor(distributor_id)
    entry = streaks.compute_streak_bonus(distributor, body["month"], attribution.converted_orders)
    db.session.commit()
    if entry is None:
        return "", 204
    return entry


@blp.get("/moments")
@auth_required(Role.CS)
@blp.arguments(ProofArgsSchema, location="query")
@blp.response(200, page_of(ProofSchema))
def proofs_queue(args: dict):
    """Moments proofs to review, oldest first"""
    return paginate(streaks.proofs(args), args["page"], args["page_size"])


@blp.post("/moments/<int:proof_id>/review")
@auth_required(Role.CS)
@blp.arguments(ProofReviewSchema)
@blp.response(200, ProofSchema)
@documents_errors(404)
def review_proof(body: dict, proof_id: int):
    """Verify or reject a Moments proof"""
    proof = streaks.review_proof(proof_id, body["verified"], current_user(), note=body["note"])
    db.session.commit()
    return proof


@blp.put("/customers/<int:shopper_id>/binding")
@auth_required(Role.ADMIN)
@blp.arguments(RebindSchema)
@blp.response(200, BindingSchema)
@documents_errors(404, 409)
def rebind(body: dict, shopper_id: int):
    """Bind a customer to another distributor, with a reason (audited)"""
    rebound = binding.admin_rebind(
        shopper_id, body["distributor_id"], body["reason"], current_user()
    )
    db.session.commit()
    return rebound


@blp.get("/distributor-tiers")
@auth_required(Role.CS)
@blp.response(200, TierSchema(many=True))
def tiers():
    """Distributor tiers and their level-1 bonus"""
    return distributors.list_tiers()


@blp.put("/distributor-tiers")
@auth_required(Role.ADMIN)
@blp.arguments(TierSchema)
@blp.response(200, TierSchema)
def save_tier(body: dict):
    """Create or change a tier (by slug)"""
    tier = distributors.save_tier(body, current_user())
    db.session.commit()
    return tier


@blp.get("/distribution/settings")
@auth_required(Role.ADMIN)
@blp.response(200, SettingsSchema)
def get_settings():
    """Join policy, binding mode, rebind delay, self-purchase commission"""
    return settings.all_settings()


@blp.patch("/distribution/settings")
@auth_required(Role.ADMIN)
@blp.arguments(SettingsSchema)
@blp.response(200, SettingsSchema)
def patch_settings(body: dict):
    """Change distribution settings; past bindings and order attribution never change"""
    changed = settings.update_settings(body, current_user())
    db.session.commit()
    return changed

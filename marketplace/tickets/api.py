"""HTTP routes of tickets: shoppers and merchants open them, customer service answers."""

from __future__ import annotations

from marketplace.accounts.auth import auth_required, current_user
from marketplace.accounts.models import Role
from marketplace.core.api import Blueprint, documents_errors
from marketplace.core.db import db
from marketplace.core.pagination import page_of, paginate
from marketplace.tickets import service
from marketplace.tickets.schemas import (
    ReplySchema,
    TicketArgsSchema,
    TicketCreateSchema,
    TicketDashboardSchema,
    TicketSchema,
)

blp = Blueprint("tickets", __name__, description="Complaints and questions with SLA clocks")
ANYONE = (Role.SHOPPER, Role.MERCHANT_STAFF, Role.CS)


@blp.post("/tickets")
@auth_required(Role.SHOPPER, Role.MERCHANT_STAFF)
@blp.arguments(TicketCreateSchema)
@blp.response(201, TicketSchema)
def open_ticket(body: dict):
    """Open a complaint or question; the first response is due in 1 service minute
    (merchants: 5, urgent: 1), service hours 09:00–23:00 Asia/Shanghai"""
    ticket = service.open_ticket(current_user(), **body)
    db.session.commit()
    return ticket


@blp.get("/tickets")
@auth_required(*ANYONE)
@blp.arguments(TicketArgsSchema, location="query")
@blp.response(200, page_of(TicketSchema))
def list_tickets(args: dict):
    """My tickets; customer service sees all"""
    return paginate(
        service.list_for(current_user(), args.get("status")), args["page"], args["page_size"]
    )


@blp.get("/tickets/dashboard")
@auth_required(Role.CS)
@blp.response(200, TicketDashboardSchema)
def dashboard():
    """Open tickets by time left, and each agent's first-response times"""
    return service.dashboard()


@blp.get("/tickets/<int:ticket_id>")
@auth_required(*ANYONE)
@blp.response(200, TicketSchema)
@documents_errors(404)
def get_ticket(ticket_id: int):
    """One ticket with its conversation"""
    return service.get_ticket(ticket_id, current_user())


@blp.post("/tickets/<int:ticket_id>/replies")
@auth_required(*ANYONE)
@blp.arguments(ReplySchema)
@blp.response(201, TicketSchema)
@documents_errors(404, 409)
def reply(body: dict, ticket_id: int):
    """Add to the conversation (customer service's first reply stops the SLA clock)"""
    ticket = service.reply(ticket_id, current_user(), body["body"])
    db.session.commit()
    return ticket


@blp.post("/tickets/<int:ticket_id>/close")
@auth_required(*ANYONE)
@blp.response(200, TicketSchema)
@documents_errors(404)
def close(ticket_id: int):
    """Close the ticket"""
    ticket = service.close(ticket_id, current_user())
    db.session.commit()
    return ticket

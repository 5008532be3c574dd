"""Tickets and their SLA: a shopper's first response within 1 service minute, a merchant's
within 5 (urgent: 1), counted only during service hours 09:00–23:00 Asia/Shanghai."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import lazyload

from marketplace.accounts.models import Role, User
from marketplace.core import audit
from marketplace.core.clock import local_zone, now
from marketplace.core.db import db
from marketplace.core.errors import Conflict, InvalidInput, NotFound
from marketplace.orders.models import Order
from marketplace.providers.notifier import tell_customer_service
from marketplace.tickets import access
from marketplace.tickets.models import Ticket, TicketMessage, TicketStatus
from marketplace.tickets.sla import add_service_time, service_time_between
from merchants.service import my_merchant

SHOPPER_TARGET = timedelta(minutes=1)
MERCHANT_TARGET = timedelta(minutes=5)
URGENT_TARGET = timedelta(minutes=1)


class TicketNotFound(NotFound):
    code = "ticket_not_found"
    message = "No such ticket."


def target_for(user: User, urgent: bool) -> timedelta:
    if user.has_role(Role.MERCHANT_STAFF):
        return URGENT_TARGET if urgent else MERCHANT_TARGET
    return SHOPPER_TARGET


def open_ticket(
    user: User,
    *,
    kind: str,
    subject: str,
    body: str,
    urgent: bool = False,
    order_id: int | None = None,
) -> Ticket:
    merchant_id = None
    if user.has_role(Role.MERCHANT_STAFF):
        merchant_id = my_merchant(user).merchant_id
    elif urgent:
        raise InvalidInput(fields={"urgent": ["Only merchants mark tickets urgent."]})
    if order_id is not None:
        order = db.session.get(Order, order_id)
        if order is None or not access.can_open_ticket_about(user, order, merchant_id):
            raise InvalidInput(fields={"order_id": ["Not one of your orders."]})
    opened = now()
    ticket = Ticket(
        opener=user,
        merchant_id=merchant_id,
        order_id=order_id,
        kind=kind,
        urgent=urgent,
        subject=subject.strip(),
        created_at=opened,
        first_response_due_at=add_service_time(opened, target_for(user, urgent), local_zone()),
        messages=[TicketMessage(author_id=user.id, body=body.strip(), created_at=opened)],
    )
    db.session.add(ticket)
    db.session.flush()
    audit.record(
        "ticket",
        ticket.id,
        "ticket.opened",
        actor_id=user.id,
        data={"kind": kind, "urgent": urgent},
    )
    return ticket


def get_ticket(ticket_id: int, viewer: User) -> Ticket:
    ticket = db.session.get(Ticket, ticket_id)
    if ticket is None or not access.can_see_ticket(viewer, ticket):
        raise TicketNotFound()
    return ticket


def reply(ticket_id: int, author: User, body: str) -> Ticket:
    ticket = get_ticket(ticket_id, author)
    if ticket.status == TicketStatus.CLOSED.value:
        raise Conflict("The ticket is closed.", code="ticket_closed")
    staff = access.answers_as_staff(author, ticket)
    moment = now()
    ticket.messages.append(
        TicketMessage(author_id=author.id, from_staff=staff, body=body.strip(), created_at=moment)
    )
    if staff:
        if ticket.first_responded_at is None:
            ticket.first_responded_at, ticket.first_responder_id = moment, author.id
            ticket.first_response_seconds = int(
                service_time_between(ticket.created_at, moment, local_zone()).total_seconds()
            )
        ticket.status = TicketStatus.ANSWERED.value
    else:
        ticket.status = TicketStatus.OPEN.value
    audit.record(
        "ticket", ticket.id, "ticket.replied", actor_id=author.id, data={"from_staff": staff}
    )
    return ticket


def close(ticket_id: int, actor: User) -> Ticket:
    ticket = get_ticket(ticket_id, actor)
    ticket.status, ticket.closed_at = TicketStatus.CLOSED.value, now()
    audit.record("ticket", ticket.id, "ticket.closed", actor_id=actor.id)
    return ticket


def list_for(viewer: User, status: str | None, *, kind: str | None = None) -> sa.Select:
    query = sa.select(Ticket)
    if not access.sees_all_tickets(viewer):
        query = query.where(Ticket.opener_id == viewer.id)
    if status:
        query = query.where(Ticket.status == status)
    if kind:
        query = query.where(Ticket.kind == kind)
    return query.order_by(Ticket.id.desc())


def flag_breaches() -> int:
    """Job: mark tickets whose first response is overdue and tell the CS channel once."""
    moment = now()
    overdue = db.session.scalars(
        sa.select(Ticket)
        .where(
            Ticket.first_responded_at.is_(None),
            Ticket.status != TicketStatus.CLOSED.value,
            Ticket.breached_at.is_(None),
            Ticket.first_response_due_at < moment,
        )
        .with_for_update(skip_locked=True, of=Ticket)
    ).all()
    for ticket in overdue:
        ticket.breached_at = moment
        audit.record("ticket", ticket.id, "ticket.sla_breached", actor_id=None)
        text = (
            f"**SLA breached** ticket #{ticket.id} ({ticket.kind}"
            f"{', urgent' if ticket.urgent else ''}): {ticket.subject}"
        )
        tell_customer_service(text)
    return len(overdue)


def awaiting_first_response(*, kind: str | None = None, late: bool | None = None) -> sa.Select:
    """Tickets still waiting for customer service's first reply, the one due first on top
    (the dashboard's list, filtered by kind and by whether the deadline has passed; the
    caller paginates)."""
    query = (
        sa.select(Ticket)
        .where(Ticket.first_responded_at.is_(None), Ticket.status != TicketStatus.CLOSED.value)
        .options(lazyload(Ticket.messages))
    )
    if kind:
        query = query.where(Ticket.kind == kind)
    if late is not None:
        overdue = Ticket.first_response_due_at < now()
        query = query.where(overdue if late else sa.not_(overdue))
    return query.order_by(Ticket.first_response_due_at, Ticket.id)


def seconds_left(ticket: Ticket, moment: datetime | None = None) -> int:
    """Service seconds to the ticket's first-response deadline (negative: late by)."""
    moment = moment or now()
    return int(
        service_time_between(moment, ticket.first_response_due_at, local_zone()).total_seconds()
    )


def sla_summary() -> dict[str, int]:
    """Customer service's landing panel: tickets waiting for a first reply, how many of
    them are late, and open conversations (the customer wrote again)."""
    waiting_first = sa.and_(
        Ticket.first_responded_at.is_(None), Ticket.status != TicketStatus.CLOSED.value
    )
    waiting, late, open_total = db.session.execute(
        sa.select(
            sa.func.count(Ticket.id).filter(waiting_first),
            sa.func.count(Ticket.id).filter(waiting_first, Ticket.first_response_due_at < now()),
            sa.func.count(Ticket.id).filter(Ticket.status == TicketStatus.OPEN.value),
        )
    ).one()
    return {"waiting": int(waiting), "late": int(late), "open": int(open_total)}


def dashboard() -> dict[str, Any]:
    """Open tickets by service time left (most urgent first) and agents' response times."""
    zone, moment = local_zone(), now()
    waiting = db.session.scalars(
        sa.select(Ticket)
        .where(Ticket.first_responded_at.is_(None), Ticket.status != TicketStatus.CLOSED.value)
        .options(lazyload(Ticket.messages))  # the dashboard shows no conversation
        .order_by(Ticket.first_response_due_at)
    ).all()
    open_tickets = [
        {
            "ticket": t,
            "seconds_left": int(
                service_time_between(moment, t.first_response_due_at, zone).total_seconds()
            ),
        }
        for t in waiting
    ]
    agents = [
        {
            "agent_id": agent,
            "display_name": name,
            "tickets": count,
            "average_first_response_seconds": int(avg or 0),
            "worst_first_response_seconds": worst,
        }
        for agent, name, count, avg, worst in db.session.execute(
            sa.select(
                Ticket.first_responder_id,
                User.display_name,
                sa.func.count(Ticket.id),
                sa.func.avg(Ticket.first_response_seconds),
                sa.func.max(Ticket.first_response_seconds),
            )
            .join(User, User.id == Ticket.first_responder_id)
            .group_by(Ticket.first_responder_id, User.display_name)
            .order_by(User.display_name)
        ).all()
    ]
    return {"open_tickets": open_tickets, "agents": agents}

"""Shapes of tickets and the CS dashboard."""

from __future__ import annotations

import marshmallow as ma
from marshmallow import validate

from marketplace.core.fields import Id, LocalDateTime
from marketplace.core.pagination import PageArgsSchema
from marketplace.tickets.models import TicketKind, TicketStatus


class TicketCreateSchema(ma.Schema):
    kind = ma.fields.String(required=True, validate=validate.OneOf([k.value for k in TicketKind]))
    subject = ma.fields.String(required=True, validate=validate.Length(min=1, max=120))
    body = ma.fields.String(required=True, validate=validate.Length(min=1, max=2000))
    urgent = ma.fields.Boolean(load_default=False, metadata={"description": "merchants only"})
    order_id = Id()


class ReplySchema(ma.Schema):
    body = ma.fields.String(required=True, validate=validate.Length(min=1, max=2000))


class MessageSchema(ma.Schema):
    author_id = ma.fields.Integer()
    from_staff = ma.fields.Boolean()
    body = ma.fields.String()
    created_at = LocalDateTime()


class TicketSummarySchema(ma.Schema):
    id = ma.fields.Integer()
    kind = ma.fields.String()
    urgent = ma.fields.Boolean()
    subject = ma.fields.String()
    status = ma.fields.String()
    merchant_id = ma.fields.Integer(allow_none=True)
    order_id = ma.fields.Integer(allow_none=True)
    first_response_due_at = LocalDateTime()
    first_responded_at = LocalDateTime(allow_none=True)
    breached_at = LocalDateTime(allow_none=True)
    created_at = LocalDateTime()
    closed_at = LocalDateTime(allow_none=True)


class TicketSchema(TicketSummarySchema):
    messages = ma.fields.List(ma.fields.Nested(MessageSchema))


class TicketArgsSchema(PageArgsSchema):
    status = ma.fields.String(validate=validate.OneOf([s.value for s in TicketStatus]))


class OpenTicketSchema(ma.Schema):
    ticket = ma.fields.Nested(TicketSummarySchema)
    seconds_left = ma.fields.Integer(
        metadata={"description": "service seconds to the first-response deadline (<0: late)"}
    )


class AgentSchema(ma.Schema):
    agent_id = ma.fields.Integer()
    display_name = ma.fields.String()
    tickets = ma.fields.Integer()
    average_first_response_seconds = ma.fields.Integer()
    worst_first_response_seconds = ma.fields.Integer()


class TicketDashboardSchema(ma.Schema):
    open_tickets = ma.fields.List(ma.fields.Nested(OpenTicketSchema))
    agents = ma.fields.List(ma.fields.Nested(AgentSchema))

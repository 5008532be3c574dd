"""Who may see a ticket and speak on it: its opener, and customer service (admin included).
``can_…(user, obj)`` never raises, so a page can show or hide with it."""

from __future__ import annotations

from marketplace.accounts.models import Role, User
from marketplace.orders.models import Order
from marketplace.tickets.models import Ticket


def sees_all_tickets(user: User) -> bool:
    """Customer service (and admin) see every ticket; anyone else only their own."""
    return user.has_role(Role.CS)


def can_see_ticket(user: User, ticket: Ticket) -> bool:
    return sees_all_tickets(user) or ticket.opener_id == user.id


def answers_as_staff(user: User, ticket: Ticket) -> bool:
    """A reply from customer service to someone else's ticket (it stops the SLA clock);
    an agent's reply on their own ticket is the opener's."""
    return sees_all_tickets(user) and ticket.opener_id != user.id


def can_open_ticket_about(user: User, order: Order, merchant_id: int | None) -> bool:
    """A ticket may name the user's own order, or (merchant staff) an order of their shop."""
    return order.shopper_id == user.id or order.merchant_id == merchant_id

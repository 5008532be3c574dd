"""Who may see a ticket and who answers as staff, as plain functions on built objects."""

from __future__ import annotations

import pytest

from marketplace.accounts.models import Role
from marketplace.orders.models import Order
from marketplace.tickets import access
from marketplace.tickets.models import Ticket
from tests.factories import built_user

pytestmark = pytest.mark.usefixtures("app")  # the mapped classes, configured


SHOPPER, OTHER = built_user(Role.SHOPPER, user_id=1), built_user(Role.SHOPPER, user_id=2)
AGENT, ADMIN = built_user(Role.CS, user_id=3), built_user(Role.ADMIN, user_id=4)
TICKET = Ticket(id=10, opener_id=1, subject="where is my voucher")


def test_the_opener_and_customer_service_see_a_ticket_no_one_else():
    assert access.can_see_ticket(SHOPPER, TICKET)
    assert access.can_see_ticket(AGENT, TICKET)
    assert access.can_see_ticket(ADMIN, TICKET)
    assert not access.can_see_ticket(OTHER, TICKET)
    assert access.sees_all_tickets(AGENT) and not access.sees_all_tickets(SHOPPER)


def test_an_agent_answers_as_staff_except_on_their_own_ticket():
    own = Ticket(id=11, opener_id=AGENT.id, subject="my own question")

    assert access.answers_as_staff(AGENT, TICKET)
    assert not access.answers_as_staff(AGENT, own)
    assert not access.answers_as_staff(SHOPPER, TICKET)


def test_a_ticket_names_the_openers_order_or_an_order_of_their_shop():
    order = Order(id=5, shopper_id=SHOPPER.id, merchant_id=9)

    assert access.can_open_ticket_about(SHOPPER, order, None)
    assert not access.can_open_ticket_about(OTHER, order, None)
    assert access.can_open_ticket_about(built_user(Role.MERCHANT_STAFF, user_id=5), order, 9)
    assert not access.can_open_ticket_about(built_user(Role.MERCHANT_STAFF, user_id=6), order, 8)

"""``flask orders ...`` and ``flask flash ...``: the housekeeping of checkout by hand (the
same functions the RQ jobs run)."""

from __future__ import annotations

import click

from marketplace.core.cli import CliGroup
from marketplace.core.db import db
from marketplace.orders import stock
from marketplace.orders.models import Order
from marketplace.payments import sync
from marketplace.providers.stripe import stripe

orders_cli = CliGroup("orders", help="Checkout housekeeping.")
flash_cli = CliGroup("flash", help="The Redis gate of flash deals.")


@orders_cli.command("expire")
def expire() -> None:
    """Expire unpaid orders past their deadline (asking the provider first)."""
    click.echo(sync.expire_unpaid())


@orders_cli.command("reconcile")
def reconcile() -> None:
    """Ask the provider about orders pending for more than two minutes."""
    click.echo(sync.reconcile_pending())


@orders_cli.command("pay")
@click.argument("order_id", type=int)
def pay(order_id: int) -> None:
    """Demo only: pay a pending order with the test card on the local payment server."""
    order = db.session.get(Order, order_id)
    if order is None or not order.payment_intent_id:
        raise click.ClickException("no such order with a payment intent")
    intent = stripe().pay_with_test_card(order.payment_intent_id)
    click.echo(f"payment intent {intent['id']}: {intent['status']} (the webhook marks it paid)")


@flash_cli.command("rebuild")
def rebuild() -> None:
    """Reload every live flash deal's Redis counters from the database."""
    count = stock.rebuild_gates()
    db.session.commit()
    click.echo(f"rebuilt {count} flash gates")

"""``flask seed``: load the demo data."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext

from marketplace.core.cli import fails_readably
from marketplace.core.db import db
from seed import care, deals, distribution, giveaway, merchants, portal, staff, support


@click.command("seed")
@with_appcontext
@click.option("--force", is_flag=True, help="Allow seeding a production database.")
@fails_readably
def seed_command(force: bool) -> None:
    """Load the demo city (idempotent): staff accounts with dev passwords, and more."""
    if current_app.config["LINLI_ENV"] == "production" and not force:
        raise click.ClickException(
            "refusing to seed a production database with known dev passwords (use --force)"
        )
    created_staff = staff.load()
    created_merchants = merchants.load()
    created_deals = deals.load()
    created_distributors = distribution.load()
    db.session.commit()
    paid_orders = distribution.load_orders()
    entries = giveaway.load()  # the free-meal giveaway: its entrants are the demo customers
    db.session.commit()
    click.echo(f"seeded staff accounts: {', '.join(created_staff) or 'none new'}")
    click.echo(f"seeded merchants: {len(created_merchants) or 'none new'}")
    click.echo(f"seeded deals: {len(created_deals) or 'none new'}")
    click.echo(f"seeded distributors: {', '.join(created_distributors) or 'none new'}")
    click.echo(f"seeded giveaway entries: {entries or 'none new'}")
    if paid_orders is None:
        base = current_app.config["LINLI_STRIPE_API_BASE"]
        click.echo(
            f"seeded demo orders: none; no payment server answers at {base} "
            "(make run starts one; seed again then)"
        )
    else:
        click.echo(f"seeded demo orders: {paid_orders or 'none new'}")
        support_cases = support.load()
        db.session.commit()
        click.echo(f"seeded refund requests and tickets: {support_cases or 'none new'}")
        care_cases = care.load()  # [care] reviews, care contacts, an auto-refund deal
        db.session.commit()
        click.echo(f"seeded reviews and care contacts: {care_cases or 'none new'}")
    # the merchant portal's demo: vouchers for laozhaotong-clerk to redeem
    if paid_orders is not None and portal.load_orders() is not None:
        codes = " ".join(f"{c[:4]}-{c[4:8]}-{c[8:]}" for c in portal.codes_to_redeem())
        click.echo(f"vouchers to redeem at {portal.SHOP}: {codes or 'none left'}")

"""``flask users ...``: staff accounts from the command line."""

from __future__ import annotations

import click
import sqlalchemy as sa

from marketplace.accounts import service
from marketplace.accounts.models import Role, User
from marketplace.core.cli import CliGroup
from marketplace.core.db import db
from marketplace.core.errors import DomainError

users_cli = CliGroup("users", help="Manage staff and merchant-staff accounts.")
ROLE_CHOICES = click.Choice([r.value for r in Role if r is not Role.SHOPPER])


@users_cli.command("create")
@click.argument("username")
@click.option(
    "--role",
    "roles",
    multiple=True,
    required=True,
    type=ROLE_CHOICES,
    help="Repeat for several roles.",
)
@click.option("--display-name", default="")
@click.password_option(help="Prompted for when not given.")
def create_user(username: str, roles: tuple[str, ...], display_name: str, password: str) -> None:
    """Create a staff account that logs in with USERNAME and a password."""
    try:
        user = service.create_user_with_password(
            username, password, [Role(r) for r in roles], display_name=display_name
        )
    except DomainError as exc:
        raise click.ClickException(f"{exc.message} {exc.fields or ''}".strip()) from exc
    db.session.commit()
    click.echo(f"created user {user.id} {user.username} roles={','.join(sorted(roles))}")


@users_cli.command("set-password")
@click.argument("username")
@click.password_option()
def set_password(username: str, password: str) -> None:
    """Reset USERNAME's password and log out all their sessions."""
    user = db.session.scalars(sa.select(User).where(User.username == username.lower())).first()
    if user is None:
        raise click.ClickException(f"no user {username!r}")
    try:
        service.set_password(user, password, actor_id=None)
    except DomainError as exc:
        raise click.ClickException(f"{exc.message} {exc.fields or ''}".strip()) from exc
    service.revoke_all_tokens(user, actor_id=None, reason="password reset from the CLI")
    db.session.commit()
    click.echo(f"password of {user.username} changed; their sessions were revoked")


def _account(username: str) -> User:
    user = db.session.scalars(sa.select(User).where(User.username == username.lower())).first()
    if user is None:
        raise click.ClickException(f"no user {username!r}")
    return user


@users_cli.command("disable")
@click.argument("username")
@click.option("--reason", required=True, help="Kept in the audit trail.")
def disable(username: str, reason: str) -> None:
    """Suspend USERNAME: every token of theirs is refused from the next request on."""
    user = _account(username)
    changed = service.set_active(user, False, actor_id=None, reason=reason)
    db.session.commit()
    click.echo(f"{user.username} {'suspended' if changed else 'was already suspended'}")


@users_cli.command("enable")
@click.argument("username")
@click.option("--reason", required=True, help="Kept in the audit trail.")
def enable(username: str, reason: str) -> None:
    """Restore a suspended USERNAME."""
    user = _account(username)
    changed = service.set_active(user, True, actor_id=None, reason=reason)
    db.session.commit()
    click.echo(f"{user.username} {'restored' if changed else 'was already active'}")


@users_cli.command("roles")
@click.argument("username")
@click.option(
    "--role", "roles", multiple=True, required=True, type=ROLE_CHOICES, help="The full set."
)
def set_roles(username: str, roles: tuple[str, ...]) -> None:
    """Give USERNAME exactly these roles; a role taken away stops working at once."""
    user = _account(username)
    service.set_roles(user, [Role(r) for r in roles], actor_id=None)
    db.session.commit()
    click.echo(f"{user.username} roles={','.join(sorted(r.value for r in user.roles))}")

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

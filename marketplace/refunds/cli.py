"""``flask refunds retry``: carry out approved refunds not yet paid (what the job runs)."""

import click

from marketplace.core.cli import CliGroup
from marketplace.refunds import service

refunds_cli = CliGroup("refunds", help="Refund housekeeping.")


@refunds_cli.command("retry")
def retry() -> None:
    """Pay every approved refund still waiting (provider was down, a crash)."""
    click.echo(service.retry_approved())

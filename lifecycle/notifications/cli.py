"""`lifecycle mail …`: the operator's doors to the same services the admin page and the jobs use."""
from __future__ import annotations

import click
from flask.cli import AppGroup

from ..actors import CLI
from ..errors import DomainError
from . import services

mail = AppGroup("mail", help="お知らせメール (notification mail).")


@mail.command("test")
@click.argument("to")
def test_command(to):
    """Sends a test mail to TO now through the configured server; the SMTP error in Japanese if not."""
    try:
        services.send_test_mail(CLI, to)
    except DomainError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(f"sent to {to}")


@mail.command("send")
def send_command():
    """Queues what is due (digests, urgent mails) and sends what waits, as the two jobs would."""
    queued = services.queue_notifications()
    sent = services.send_pending()
    click.echo(f"queued {queued}, sent {sent}")

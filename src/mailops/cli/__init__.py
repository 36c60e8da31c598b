"""The `mailops` command: one typer app, one sub-module per command group.

Each sub-module owns its commands; this file only wires them together so that
adding a command never means editing another group's code.
"""

from __future__ import annotations

import typer

from . import bounces, check, dkim, dns, lab, messages, passwords
from . import dashboard as dashboard_cli

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="Operate a mailops mail host: lab, DNS records, DKIM keys, bounces.",
)
app.add_typer(lab.app, name="lab")
app.add_typer(dns.app, name="dns")
app.add_typer(dkim.app, name="dkim")
app.command("rotate-dkim")(dkim.rotate_dkim)
app.add_typer(bounces.app, name="bounces")
app.add_typer(bounces.suppression_app, name="suppression")
app.command("hash-password")(passwords.hash_password)
app.command("check")(check.check)
app.command("messages")(messages.messages)
app.command("trace")(messages.trace)
app.command("send-test")(messages.send_test)
app.command("dashboard")(dashboard_cli.dashboard)


def main() -> None:
    app()

"""`mailops lab` commands."""

import typer

app = typer.Typer(no_args_is_help=True, help="The local lab: real Debian 12 hosts under systemd-nspawn.")

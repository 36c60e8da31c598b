"""`mailops hash-password`: make a Dovecot-compatible password hash."""

from __future__ import annotations

import typer


def hash_password(
    stdin: bool = typer.Option(False, "--stdin", help="Read the password from standard input."),
) -> None:
    """Print an {ARGON2ID} hash for the inventory's `password_hash` (password never echoed)."""
    import sys

    from ..passwords import hash_password as make_hash

    if stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    if not password:
        typer.echo("error: empty password; nothing printed", err=True)
        raise typer.Exit(2)
    typer.echo(make_hash(password))

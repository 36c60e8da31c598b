"""`mailops dkim` commands."""

import typer

app = typer.Typer(no_args_is_help=True, help="dkim commands.")


def rotate_dkim() -> None:
    """Rotate DKIM keys (not implemented yet)."""
    raise typer.Exit(1)

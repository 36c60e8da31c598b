"""`mailops dashboard [-i INV] [--port 0]`: the local web dashboard (mailops.dashboard).

It prints its URL (with the run's token) once and serves until Ctrl-C; it opens no
browser by itself. It binds 127.0.0.1 only and needs nothing from the internet: the
pages, their stylesheet and charts are all served by it.
"""

from __future__ import annotations

import os
from pathlib import Path

import typer


def dashboard(
    inventory: Path = typer.Option(
        None, "-i", "--inventory",
        help="pyinfra inventory file [default: $MAILOPS_INVENTORY, else inventories/lab.py]"),
    port: int = typer.Option(0, "--port", min=0, max=65535,
                             help="port on 127.0.0.1 (0: any free port)"),
    relay_to: str = typer.Option(
        "", "--relay-probe-to",
        help="outside address for the overview's open-relay probe, as `mailops check`'s"),
) -> None:
    """Serve the dashboard on 127.0.0.1: posture, DKIM keys, pending DNS changes, the
    delivery log with charts, bounces and suppression, the queue, a send-test form."""
    from ..dashboard.server import Dashboard
    from ..dashboard.sources import Sources
    from ..inventory import SettingsError, load_inventory

    path = inventory or Path(os.environ.get("MAILOPS_INVENTORY") or "inventories/lab.py")
    try:
        hosts = load_inventory(path)
    except SettingsError as e:
        typer.echo(str(e), err=True)
        raise typer.Exit(2) from None
    sources = Sources(path, hosts, relay_rcpt=relay_to)
    try:
        server = Dashboard(sources, port)
    except OSError as e:
        typer.echo(f"--port {port}: cannot listen on 127.0.0.1:{port} ({e.strerror}); "
                   "expected a free port, or 0 for any", err=True)
        raise typer.Exit(2) from None
    # Printed once: whoever has this URL has the operator's access to the hosts.
    typer.echo(f"mailops dashboard for {path}: open {server.url}")
    typer.echo("(Ctrl-C stops it)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        sources.close()

"""`mailops lab`: the local lab — real Debian 12 or 13 hosts under systemd-nspawn."""

from __future__ import annotations

import json
import os

import typer

app = typer.Typer(
    no_args_is_help=True,
    help="The local lab: mx1 (the mail host), remote (a stock Postfix), a real BIND. Needs root.",
)


def _fail(e: Exception) -> None:
    typer.secho(f"error: {e}", fg=typer.colors.RED, err=True)
    raise typer.Exit(1)


@app.command()
def up(
    release: str = typer.Option(
        None, "--release",
        help="Debian release of the lab hosts: 13 (trixie, the default) or 12 (bookworm). "
             "Default: $MAILOPS_LAB_RELEASE, else 13."),
) -> None:
    """Bring the lab up from scratch (clears leftovers of an interrupted run first)."""
    from ..lab.proc import LabError
    from ..lab.world import up as lab_up
    from .progress import Progress

    # Each message of world.up starts a step (bridge, BIND, image build, package
    # installs, booting); its duration shows when the next one starts.
    try:
        with Progress("lab") as progress:
            lab_up(log=lambda msg: (progress.note(msg) if msg.startswith("lab up in")
                                    else progress.step(msg)), release=release)
    except (LabError, ValueError) as e:
        _fail(e)


@app.command()
def down() -> None:
    """Stop every lab process and remove its mounts, bridge and state."""
    from ..lab.world import down as lab_down

    lab_down(log=lambda msg: typer.echo(f"lab: {msg}"))
    typer.echo("lab: down")


@app.command()
def status(as_json: bool = typer.Option(False, "--json", help="Machine-readable output.")) -> None:
    """Show what of the lab is running. Exit 0 when everything is up and reachable."""
    from ..lab.world import status as lab_status

    s = lab_status()
    healthy = s["up"] and s["bridge"] and s["bind"] and all(
        m["ssh"] for m in s["machines"].values()
    )
    if as_json:
        typer.echo(json.dumps(s, indent=2))
    else:
        release = f", Debian {s['release']}" if s.get("release") else ""
        typer.echo(f"lab state: {s['state_dir']} ({'up' if s['up'] else 'not up'}{release})")
        typer.echo(f"  bridge: {'yes' if s['bridge'] else 'no'}   bind: "
                   f"{'running' if s['bind'] else 'stopped'}   apt cache: "
                   f"{'running' if s['apt-cacher-ng'] else 'stopped'}   pebble: "
                   f"{'running' if s.get('pebble') else 'stopped'}")
        for name, m in s["machines"].items():
            typer.echo(f"  {name:<7} {m['fqdn']:<18} {m['address']:<12} "
                       f"{'running' if m['running'] else 'stopped'}"
                       f"{', ssh ok' if m['ssh'] else ''}")
    raise typer.Exit(0 if healthy else 1)


@app.command()
def ssh(
    machine: str = typer.Argument("mx1", help="mx1 or remote"),
    command: list[str] = typer.Argument(None, help="Command to run instead of a shell."),
) -> None:
    """Open a root shell on a lab machine (or run a command there)."""
    from ..lab.config import LabNotUp, LabState
    from ..lab.world import ssh_command

    try:
        state = LabState.load()
        argv = ssh_command(state, machine)
    except (LabNotUp, KeyError) as e:
        _fail(e)
    if command:
        argv.append(" ".join(command))
    else:
        argv.insert(1, "-t")
    os.execvp(argv[0], argv)

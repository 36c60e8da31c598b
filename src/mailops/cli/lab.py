"""`mailops lab`: the local lab — real Debian 12 or 13 hosts under systemd-nspawn
(or, with `--backend vagrant`, mx1 and remote as Vagrant VMs)."""

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
    backend: str = typer.Option(
        None, "--backend",
        help="Where mx1 and remote run: nspawn (containers, the default) or vagrant "
             "(libvirt VMs; box: $MAILOPS_LAB_VAGRANT_BOX, else Debian's). "
             "Default: $MAILOPS_LAB_BACKEND, else nspawn."),
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
                                    else progress.step(msg)), release=release, backend=backend)
    except (LabError, ValueError) as e:
        _fail(e)


@app.command("vagrant-box")
def vagrant_box(
    release: str = typer.Option(
        None, "--release", help="Debian release of the box: 13 (default) or 12."),
) -> None:
    """Build a Vagrant box (libvirt) from the lab's cached Debian tree and add it as
    mailops-lab/<suite>64, for machines without Vagrant Cloud; use it with
    MAILOPS_LAB_VAGRANT_BOX=mailops-lab/<suite>64."""
    from ..lab import config, vagrantbox
    from ..lab.proc import LabError
    from .progress import Progress

    try:
        release = config.check_release(release) if release else config.release()
        with Progress("vagrant box") as progress:
            name = vagrantbox.add(release, log=progress.step)
    except (LabError, ValueError) as e:
        _fail(e)
    typer.echo(f"added box {name}; use it: MAILOPS_LAB_VAGRANT_BOX={name} "
               "mailops lab up --backend vagrant")


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
        release = (f", Debian {s['release']}, {s['backend']}" if s.get("release") else "")
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

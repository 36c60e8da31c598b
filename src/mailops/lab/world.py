"""`mailops lab up | down | status`: the whole lab, brought up and taken away.

`up` first clears whatever an earlier, interrupted run left, so it can always
be re-run; `down` removes every process, mount, link and address the lab made.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

from . import aptcache, bind, config, image, nspawn, pebble, pki, relay, vagrant
from .proc import LabError, alive, pids_mentioning, run, stop, stop_container, wait_until


def up(log=print, release: str | None = None, backend: str | None = None) -> config.LabState:
    """Bring the lab up with hosts of `release` ("12", "13"; default: config.release())
    from `backend` ("nspawn", "vagrant"; default: config.backend())."""
    release = config.check_release(release) if release else config.release()
    backend = config.backend(backend)
    if os.geteuid() != 0:
        raise LabError("the lab needs root (network namespaces, mounts, nspawn); run it as root")
    started = time.monotonic()
    down(log=lambda *_: None)
    base, remote_layer = image.ensure_trees(release, log)
    root = config.state_dir()
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o700)

    ssh = root / "ssh"
    ssh.mkdir(mode=0o700, exist_ok=True)
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "mailops-lab", "-f",
         str(ssh / "id_ed25519")])
    pubkey = (ssh / "id_ed25519.pub").read_text()
    pki.make_ca_and_cert(root / "tls", [config.machine("mx1").fqdn]
                         + [f"mta-sts.{z}" for z in config.ZONES if z != "remote.test"],
                         [config.machine("mx1").address])

    log(f"bridge {config.BRIDGE} {config.GATEWAY}/24")
    run(["ip", "link", "add", config.BRIDGE, "type", "bridge"])
    run(["ip", "addr", "add", f"{config.GATEWAY}/24", "dev", config.BRIDGE])
    run(["ip", "link", "set", config.BRIDGE, "up"])
    log("BIND (authoritative for " + ", ".join(config.ZONES) + ")")
    bind.start(root)
    log("apt-cacher-ng")
    aptcache.start(root)
    log("Pebble (ACME test CA, DNS-01 through the lab BIND)")
    pebble.start(root)

    names = tuple(m.name for m in config.MACHINES)
    if backend == "vagrant":
        names = tuple(n for n in names if n not in vagrant.VM_MACHINES)
    known_hosts = nspawn.start(root, release, base, remote_layer, pubkey, names, log)
    (ssh / "known_hosts").write_text("\n".join(known_hosts) + "\n")
    if backend == "vagrant":
        vagrant.start(root, release, pubkey, log)

    state = config.LabState(root)
    for m in config.MACHINES:
        wait_until(lambda m=m: _system_running(state, m.name), 90,
                   f"systemd on {m.name} to finish booting")
    info = {
        "release": release,
        "backend": backend,
        "suite": config.suite(release),
        "bridge": config.BRIDGE,
        "gateway": config.GATEWAY,
        "dns": {"server": config.GATEWAY, "port": 53, "zones": list(config.ZONES)},
        "machines": {m.name: {"fqdn": m.fqdn, "address": m.address} for m in config.MACHINES},
        "ssh_key": str(state.ssh_key),
        "known_hosts": str(state.known_hosts),
        "ca_cert": str(state.ca_cert),
        "relay": relay.info(root),
        "acme": {"directory": pebble.directory_url(), "ca_bundle": str(pebble.ca_bundle(root)),
                 "root": str(pebble.issuing_root(root))},
        "up_seconds": round(time.monotonic() - started, 1),
    }
    path = root / "lab.json"
    path.touch(mode=0o600)
    path.write_text(json.dumps(info, indent=2) + "\n")
    log(f"lab up (Debian {release}, {backend}) in {info['up_seconds']}s; "
        "next: pyinfra -y inventories/lab.py deploy.py")
    return state


def _system_running(state: config.LabState, name: str) -> bool:
    result = ssh_run(state, name, "systemctl is-system-running", check=False)
    return result.stdout.strip() in ("running", "degraded")


def ssh_command(state: config.LabState, name: str) -> list[str]:
    return [
        "ssh",
        "-i", str(state.ssh_key),
        "-o", f"UserKnownHostsFile={state.known_hosts}",
        "-o", "StrictHostKeyChecking=yes",
        "-o", "BatchMode=yes",
        "-o", "ConnectTimeout=5",
        "-o", "LogLevel=ERROR",
        f"root@{state.address(name)}",
    ]


def ssh_run(state: config.LabState, name: str, command: str, check: bool = True, **kw):
    return run([*ssh_command(state, name), command], check=check, **kw)


def down(log=print) -> None:
    """Stop and remove everything the lab made, including leftovers of killed runs."""
    root = config.state_dir()
    for mount in reversed(_mounts_under(root)):  # sshfs views of VMs first: they hang
        if _fs_type(mount) == "fuse.sshfs":    # once their VM is gone
            run(["umount", "-l", mount], check=False)
    vagrant.stop(root, log)
    for pidfile in sorted(root.glob("machines/*/nspawn.pid")):
        try:
            stop_container(int(pidfile.read_text()))
        except ValueError:
            pass
    for pidfile in [
        root / "named" / "daemon.pid",
        root / "apt-cacher-ng" / "daemon.pid",
        root / "pebble" / "daemon.pid",
    ]:
        if pidfile.exists():
            try:
                stop(int(pidfile.read_text()))
            except ValueError:
                pass
    # Leftovers whose pid files were lost: anything still naming the lab's paths.
    for pid in pids_mentioning(str(root) + "/"):
        log(f"stopping leftover process {pid}")
        stop(pid, timeout=5)
    for mount in reversed(_mounts_under(root)):
        run(["umount", mount], check=False)
        if os.path.ismount(mount):
            run(["umount", "-l", mount], check=False)
    if Path(f"/sys/class/net/{config.BRIDGE}").exists():
        log(f"removing bridge {config.BRIDGE}")
        run(["ip", "link", "del", config.BRIDGE], check=False)
    if root.exists():
        shutil.rmtree(root, ignore_errors=True)


def _mounts_under(root: Path) -> list[str]:
    prefix = str(root) + "/"
    with open("/proc/self/mounts") as f:
        points = [line.split()[1].replace("\\040", " ") for line in f]
    return [p for p in points if p.startswith(prefix)]


def _fs_type(mount: str) -> str:
    with open("/proc/self/mounts") as f:
        types = {line.split()[1].replace("\\040", " "): line.split()[2] for line in f}
    return types.get(mount, "")


def status() -> dict:
    root = config.state_dir()
    out: dict = {"up": (root / "lab.json").is_file(), "state_dir": str(root)}
    vms: tuple[str, ...] = ()
    if out["up"]:
        out["release"] = config.LabState(root).info.get("release")
        out["backend"] = config.LabState(root).backend
        vms = vagrant.VM_MACHINES if out["backend"] == "vagrant" else ()
    out["bridge"] = Path(f"/sys/class/net/{config.BRIDGE}").exists()
    for name, pidfile in (("bind", root / "named/daemon.pid"),
                          ("apt-cacher-ng", root / "apt-cacher-ng/daemon.pid"),
                          ("pebble", root / "pebble/daemon.pid")):
        out[name] = pidfile.exists() and alive(int(pidfile.read_text() or 0))
    out["machines"] = {}
    for m in config.MACHINES:
        running = vagrant.running(m.name) if m.name in vms else nspawn.running(root, m.name)
        reachable = False
        if running and out["up"]:
            reachable = _system_running(config.LabState(root), m.name)
        out["machines"][m.name] = {"fqdn": m.fqdn, "address": m.address, "running": running,
                                   "ssh": reachable}
    return out

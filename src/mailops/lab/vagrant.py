"""The Vagrant backend: the lab's mx1 and remote as Vagrant VMs (libvirt).

The world around them is the nspawn lab's: the same bridge, with BIND, Pebble
and the apt cache on its address, and `relay` (a smarthost, part of "the rest of
the internet") still a container. Each VM gets a second interface on that
bridge with the machine's lab address, so the lab inventory, DNS and tests reach
it exactly as they reach a container.

After `vagrant up`, the lab takes over as root with its own key (installed
through the `vagrant` user's sudo), mounts the VM's / with sshfs where the
nspawn backend has its overlay (`LabState.rootfs`), and configures the machine
by the same code as a container (lab/machines.py, lab/remote.py), over SSH
instead of chroot.

QEMU is started by libvirtd, not by us, so the VMs' processes are given this
process's scheduling priority (`nice -n 19 mailops lab up` makes the VMs nice too).
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import time
from pathlib import Path

from . import config, machines, remote
from .proc import LabError, run, wait_until
from .templates import render

VM_MACHINES = ("mx1", "remote")
LIBVIRT_URI = "qemu:///system"
DRIVER_ENV = "MAILOPS_LAB_VAGRANT_DRIVER"  # "kvm" (default) or "qemu" (TCG, no KVM)
BOOT_TIMEOUT = 900  # seconds; a TCG boot takes minutes on a busy machine


def project_dir(root: Path) -> Path:
    return root / "vagrant"


def prefix() -> str:
    """libvirt names of this lab's domains and management network (per lab index)."""
    return f"mailops-lab{config.INDEX}-"


def _mac(name: str) -> str:
    # Locally administered (RFC 7042 §2.1), unique per lab index and machine.
    last = config.machine(name).address.rsplit(".", 1)[1]
    return f"52:54:00:e7:{config.INDEX:02x}:{int(last):02x}"


def vagrantfile(release: str) -> str:
    driver = os.environ.get(DRIVER_ENV, "kvm")
    if driver not in ("kvm", "qemu"):
        raise ValueError(f"{DRIVER_ENV}: found {driver!r}; expected kvm (hardware "
                         "virtualisation) or qemu (software emulation, TCG)")
    vms = [{"name": n, "address": config.machine(n).address, "mac": _mac(n)}
           for n in VM_MACHINES]
    return render(
        "Vagrantfile.j2", machines=vms, box=config.vagrant_box(release), bridge=config.BRIDGE,
        gateway=config.GATEWAY, boot_timeout=BOOT_TIMEOUT, driver=driver,
        memory=1024, cpus=1 if driver == "qemu" else 2, prefix=prefix(),
        management_network=f"10.232.{config.INDEX}.0/24")


def _env(root: Path) -> dict[str, str]:
    return {**os.environ, "VAGRANT_CWD": str(project_dir(root)),
            "VAGRANT_DEFAULT_PROVIDER": "libvirt", "VAGRANT_NO_COLOR": "1"}


def _vagrant(root: Path, *args: str, **kw):
    return run(["vagrant", *args], env=_env(root), **kw)


def _vagrant_up(root: Path) -> None:
    """`vagrant up`, its output in <state>/vagrant/up.log (minutes long under TCG)."""
    log = project_dir(root) / "up.log"
    with open(log, "w") as f:
        proc = subprocess.Popen(["vagrant", "up", "--provider=libvirt", "--no-provision",
                                 *VM_MACHINES], env=_env(root), stdin=subprocess.DEVNULL,
                                stdout=f, stderr=subprocess.STDOUT)
        while proc.poll() is None:
            _renice_vms()  # as soon as libvirtd has started them, not after their boot
            time.sleep(5)
    if proc.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
        raise LabError(f"`vagrant up` failed with exit code {proc.returncode} "
                       f"(whole output: {log}):\n{tail}")


def start(root: Path, release: str, pubkey: str, log=print) -> list[str]:
    """Bring mx1 and remote up as VMs and configure them; return their known_hosts lines."""
    if not shutil.which("vagrant"):
        raise LabError("the vagrant backend needs Vagrant and vagrant-libvirt: "
                       "`apt-get install vagrant vagrant-libvirt libvirt-daemon-system`")
    d = project_dir(root)
    d.mkdir(parents=True, exist_ok=True)
    (d / "Vagrantfile").write_text(vagrantfile(release))
    log(f"vagrant up {' '.join(VM_MACHINES)} (box {config.vagrant_box(release)})")
    _vagrant_up(root)
    known_hosts = []
    for name in VM_MACHINES:
        m = config.machine(name)
        # As `vagrant` (sudo): root logs in with the lab's key from now on.
        script = (f"install -d -m 700 /root/.ssh && printf '%s' {shlex.quote(pubkey)} "
                  "> /root/.ssh/authorized_keys && chmod 600 /root/.ssh/authorized_keys && "
                  "cat /etc/ssh/ssh_host_ed25519_key.pub")
        out = _vagrant(root, "ssh", name, "-c", f"sudo sh -c {shlex.quote(script)}")
        hostkey = " ".join(out.stdout.strip().splitlines()[-1].split()[:2])
        known_hosts.append(f"{m.address},{m.fqdn} {hostkey}")
    with open(root / "ssh" / "known_hosts", "a") as f:
        f.write("\n".join(known_hosts) + "\n")
    state = config.LabState(root)
    for name in VM_MACHINES:
        m = config.machine(name)
        fs = mount_root(state, name)
        log(f"configuring {name} ({m.fqdn}, {m.address})")
        machines.configure(root, m, fs, pubkey)
        if name == "remote":
            _install_remote(state, name, log)
            remote.configure(root, m, fs,
                             lambda argv, n=name: _ssh(state, n, shlex.join(argv)))
            _ssh(state, name, "systemctl restart opendkim postfix-mta-sts-resolver postfix")
    return known_hosts


def _install_remote(state: config.LabState, name: str, log) -> None:
    log(f"installing {', '.join(config.REMOTE_PACKAGES)} on {name} (through the apt cache)")
    _ssh(state, name,
         "echo 'postfix postfix/main_mailer_type select No configuration' | "
         "debconf-set-selections && apt-get update -q && DEBIAN_FRONTEND=noninteractive "
         "apt-get install -y -q --no-install-recommends "
         + " ".join(config.REMOTE_PACKAGES), timeout=1800)


def _ssh(state: config.LabState, name: str, command: str, **kw):
    from .world import ssh_run

    return ssh_run(state, name, command, **kw)


def mount_root(state: config.LabState, name: str) -> Path:
    """The VM's / at `state.rootfs(name)`, through sshfs as root.

    No caching (`dir_cache=no`, zero FUSE timeouts): tests poll Maildirs there and
    must see a new file as soon as the VM has it. `follow_symlinks`: the VM resolves
    symbolic links (sshfs 3.7 cannot read them from OpenSSH 10's sftp-server: EPERM),
    so `/etc/os-release` reads as a file, as it does through an nspawn overlay.
    """
    fs = state.rootfs(name)
    fs.mkdir(parents=True, exist_ok=True)
    ssh_opts = ",".join([
        f"IdentityFile={state.ssh_key}", f"UserKnownHostsFile={state.known_hosts}",
        "StrictHostKeyChecking=yes", "BatchMode=yes"])
    run(["sshfs", "-o", ssh_opts + ",follow_symlinks,dir_cache=no,entry_timeout=0,attr_timeout=0,"
         "negative_timeout=0,reconnect,ServerAliveInterval=15",
         f"root@{state.address(name)}:/", str(fs)])
    wait_until(lambda: (fs / "etc/os-release").exists(), 30, f"sshfs mount of {name}'s /")
    return fs


def _renice_vms() -> None:
    """Give the VMs' QEMU processes this process's nice value (libvirtd started them)."""
    niceness = os.nice(0)
    for pidfile in Path("/run/libvirt/qemu").glob(f"{prefix()}*.pid"):
        try:
            pid = int(pidfile.read_text())
            for task in Path(f"/proc/{pid}/task").iterdir():
                os.setpriority(os.PRIO_PROCESS, int(task.name), niceness)
        except (OSError, ValueError):
            pass


def running(name: str) -> bool:
    if not shutil.which("virsh"):
        return False
    state = run(["virsh", "-c", LIBVIRT_URI, "domstate", prefix() + name], check=False)
    return state.stdout.strip() == "running"


def stop(root: Path, log=print) -> None:
    """Destroy this lab's VMs (through Vagrant while its state exists, then whatever
    libvirt still has under the lab's prefix: leftovers of an interrupted run)."""
    if (project_dir(root) / "Vagrantfile").exists() and shutil.which("vagrant"):
        log("vagrant destroy")
        _vagrant(root, "destroy", "--force", check=False)
    if not shutil.which("virsh"):
        return
    virsh = ["virsh", "-c", LIBVIRT_URI]
    names = run([*virsh, "list", "--all", "--name"], check=False).stdout.split()
    for domain in (n for n in names if n.startswith(prefix())):
        log(f"removing leftover VM {domain}")
        run([*virsh, "destroy", domain], check=False)
        run([*virsh, "undefine", domain, "--remove-all-storage"], check=False)
    nets = run([*virsh, "net-list", "--all", "--name"], check=False).stdout.split()
    if prefix() + "mgmt" in nets:
        run([*virsh, "net-destroy", prefix() + "mgmt"], check=False)
        run([*virsh, "net-undefine", prefix() + "mgmt"], check=False)

"""A Vagrant box (libvirt provider) made from the lab's cached Debian tree.

For machines that cannot reach Vagrant Cloud: `mailops lab vagrant-box` turns
the same debootstrap tree the nspawn lab boots into a box that `vagrant box add`
takes, so the Vagrant backend runs anywhere libvirt and QEMU do.

The box follows Vagrant's base-box conventions (Vagrant documentation, "Creating
a Base Box"): a `vagrant` user logging in with Vagrant's well-known insecure key,
password-less sudo, SSH, and DHCP on the first network interface (vagrant-libvirt
finds the machine through its management network's DHCP leases). The libvirt box
format (vagrant-libvirt documentation, "Box Format") is a tar of `box.img`
(qcow2), `metadata.json` and a `Vagrantfile`.

The disk is one ext4 file system without a partition table, made without any
mount by `mke2fs -d`; there is no boot loader, so the box's own Vagrantfile
boots its kernel and initramfs directly (vagrant-libvirt `kernel`, `initrd`,
`cmd_line`), both shipped inside the box.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tarfile
from pathlib import Path

from . import config, image
from .proc import LabError, run

# Vagrant's well-known insecure public key (Vagrant documentation, "Creating a Base
# Box", section "vagrant" User): Vagrant logs in with it once and replaces it.
INSECURE_PUBLIC_KEY = (
    "ssh-rsa AAAAB3NzaC1yc2EAAAABIwAAAQEA6NF8iallvQVp22WDkTkyrtvp9eWW6A8YVr+kz4TjGYe7gHzIw+"
    "niNltGEFHzD8+v1I2YJ6oXevct1YeS0o9HZyN1Q9qgCgzUFtdOKLv6IedplqoPkcmF0aYet2PkEDo3MlTBckFXP"
    "ITAMzF8dJSIFo9D8HfdOV0IAdx4O7PtixWKn5y2hMNG0zQPyUecp4pzC6kivAIhyfHilFR61RGL+GPXQ2MWZWFY"
    "bAGjyiYJnAmCP3NOTd0jMZEnDkbUvxhMmBYSdETk1rRgm+R4LOzFUGaHqHDLKLX+FIPKcF96hrucXzcWyLbIbEgE"
    "98OHlnVYCzRdK8jlqm8tehUc9c9WhQ== vagrant insecure public key\n"
)
BOX_PACKAGES = ("linux-image-amd64", "initramfs-tools")
RECIPE_VERSION = 2  # bump when the build steps below change
DISK_GIB = 8
# eth0 is the management interface (DHCP); Vagrant configures the others.
KERNEL_CMDLINE = "root=LABEL=mailops-root rw console=ttyS0 net.ifnames=0"

BOX_VAGRANTFILE = """\
# Direct kernel boot: the disk has no boot loader (see mailops.lab.vagrantbox).
# QEMU runs as an unprivileged user (libvirt-qemu on Debian) that cannot read files
# under a private ~/.vagrant.d, so the kernel and initramfs are copied to libvirt's
# directory for boot images when this user may write there.
require "fileutils"

boot_files = ["vmlinuz", "initrd.img"].map do |name|
  src = File.join(__dir__, name)
  dst = "/var/lib/libvirt/boot/{prefix}-#{name}"
  begin
    FileUtils.cp(src, dst) unless File.exist?(dst) && FileUtils.compare_file(src, dst)
    File.chmod(0o644, dst)
    dst
  rescue SystemCallError
    src
  end
end

Vagrant.configure("2") do |config|
  config.vm.provider :libvirt do |lv|
    lv.kernel = boot_files[0]
    lv.initrd = boot_files[1]
    lv.cmd_line = "{cmdline}"
  end
end
"""


def box_name(release: str) -> str:
    """The local name the box is added under, e.g. `mailops-lab/trixie64`."""
    return f"mailops-lab/{config.suite(release)}64"


def box_file(release: str) -> Path:
    return config.cache_dir() / f"{config.suite(release)}-vagrant-libvirt.box"


def build(release: str, log=print) -> Path:
    """Build (or reuse) the .box of `release` in the lab cache; return its path."""
    base = image.base_tree(release, log)
    out = box_file(release)
    stamp = out.with_suffix(".source")
    # What the box is made of: the cached tree (its name is its key) and this recipe.
    source = json.dumps({"tree": str(base), "recipe": RECIPE_VERSION, "packages": BOX_PACKAGES,
                         "cmdline": KERNEL_CMDLINE, "vagrantfile": BOX_VAGRANTFILE})
    if out.exists() and stamp.exists() and stamp.read_text() == source:
        return out
    work = out.with_suffix(".partial")
    _clear(work)
    work.mkdir(parents=True)
    try:
        rootfs = work / "rootfs"
        log(f"copying the cached Debian {release} tree")
        run(["cp", "-a", str(base), str(rootfs)])
        log(f"installing {', '.join(BOX_PACKAGES)} into it")
        _install_kernel(rootfs)
        _prepare(rootfs)
        box = work / "box"
        box.mkdir()
        shutil.copy(_one(rootfs / "boot", "vmlinuz-*"), box / "vmlinuz")
        shutil.copy(_one(rootfs / "boot", "initrd.img-*"), box / "initrd.img")
        log(f"making the {DISK_GIB} GiB disk image")
        raw = work / "disk.raw"
        run(["mke2fs", "-q", "-t", "ext4", "-L", "mailops-root", "-d", str(rootfs),
             str(raw), f"{DISK_GIB}G"])
        run(["qemu-img", "convert", "-O", "qcow2", str(raw), str(box / "box.img")])
        raw.unlink()
        (box / "metadata.json").write_text(json.dumps(
            {"provider": "libvirt", "format": "qcow2", "virtual_size": DISK_GIB}) + "\n")
        (box / "Vagrantfile").write_text(BOX_VAGRANTFILE.replace("{cmdline}", KERNEL_CMDLINE)
                                         .replace("{prefix}", box_name(release).replace("/", "-")))
        tmp_box = work / "out.box"
        with tarfile.open(tmp_box, "w:gz", compresslevel=1) as tar:
            for name in ("metadata.json", "Vagrantfile", "vmlinuz", "initrd.img", "box.img"):
                tar.add(box / name, arcname=name)
        tmp_box.rename(out)
        stamp.write_text(source)
    finally:
        _clear(work)
    return out


def add(release: str, log=print) -> str:
    """Build the box and `vagrant box add` it under box_name(release)."""
    if not shutil.which("vagrant"):
        raise LabError("vagrant is not installed; run `apt-get install vagrant vagrant-libvirt`")
    path = build(release, log)
    name = box_name(release)
    log(f"vagrant box add {name} ({path})")
    run(["vagrant", "box", "add", "--force", "--name", name, str(path)])
    return name


def _install_kernel(rootfs: Path) -> None:
    mounts = []
    try:
        for fs, kind in (("proc", "proc"), ("sys", "sysfs"), ("dev", "devtmpfs")):
            run(["mount", "-t", kind, kind, str(rootfs / fs)])
            mounts.append(rootfs / fs)
        resolv = rootfs / "etc/resolv.conf"
        if resolv.is_symlink() or resolv.exists():
            resolv.unlink()
        shutil.copy("/etc/resolv.conf", resolv)
        run(["chroot", str(rootfs), "apt-get", "update", "-q"])
        run(["chroot", str(rootfs), "env", "DEBIAN_FRONTEND=noninteractive", "apt-get",
             "install", "-y", "-q", "--no-install-recommends", *BOX_PACKAGES])
        run(["chroot", str(rootfs), "apt-get", "clean"])
        resolv.unlink()
    finally:
        for m in reversed(mounts):
            run(["umount", "-l", str(m)], check=False)


def _prepare(rootfs: Path) -> None:
    """What makes the tree a Vagrant base box booting as a VM."""
    (rootfs / "etc/fstab").write_text("LABEL=mailops-root / ext4 errors=remount-ro 0 1\n")
    (rootfs / "etc/hostname").write_text("debian\n")
    # Empty: every VM makes its own at first boot (machine-id(5)); a shared one would
    # give every VM the same DHCP client identifier and so the same address. systemd
    # copies D-Bus's old copy when there is one, so that goes too.
    (rootfs / "etc/machine-id").write_text("")
    (rootfs / "var/lib/dbus/machine-id").unlink(missing_ok=True)
    net = rootfs / "etc/systemd/network"
    net.mkdir(parents=True, exist_ok=True)
    (net / "90-vagrant-mgmt.network").write_text(
        # The lease follows the interface's MAC, which libvirt makes unique per VM.
        "[Match]\nName=eth0\n\n[Network]\nDHCP=ipv4\n\n[DHCPv4]\nClientIdentifier=mac\n")
    (rootfs / "etc/resolv.conf").write_text("")
    # The cached tree holds no SSH host keys (each lab host gets its own); a VM makes
    # its own before sshd starts.
    unit = rootfs / "etc/systemd/system/mailops-ssh-hostkeys.service"
    unit.write_text(
        "[Unit]\nDescription=Generate missing SSH host keys\nBefore=ssh.service\n\n"
        "[Service]\nType=oneshot\nExecStart=/usr/bin/ssh-keygen -A\n\n"
        "[Install]\nWantedBy=multi-user.target\n")
    wants = rootfs / "etc/systemd/system/multi-user.target.wants"
    wants.mkdir(parents=True, exist_ok=True)
    (wants / unit.name).symlink_to(f"/etc/systemd/system/{unit.name}")
    run(["chroot", str(rootfs), "useradd", "--create-home", "--shell", "/bin/bash",
         "--groups", "sudo", "vagrant"])
    ssh = rootfs / "home/vagrant/.ssh"
    ssh.mkdir(mode=0o700)
    (ssh / "authorized_keys").write_text(INSECURE_PUBLIC_KEY)
    (ssh / "authorized_keys").chmod(0o600)
    run(["chroot", str(rootfs), "chown", "-R", "vagrant:vagrant", "/home/vagrant/.ssh"])
    sudoers = rootfs / "etc/sudoers.d/vagrant"
    sudoers.write_text("vagrant ALL=(ALL) NOPASSWD: ALL\n")
    sudoers.chmod(0o440)


def _one(d: Path, pattern: str) -> Path:
    found = sorted(d.glob(pattern))
    if len(found) != 1:
        raise LabError(f"expected one {pattern} in {d}, found {[p.name for p in found]}")
    return found[0]


def _clear(work: Path) -> None:
    if work.exists():
        for sub in ("proc", "sys", "dev"):
            p = work / "rootfs" / sub
            if p.is_mount():
                subprocess.run(["umount", "-l", str(p)], check=False)
        shutil.rmtree(work)

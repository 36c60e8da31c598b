"""`remote`'s configuration: a stock Debian Postfix playing "the rest of the internet".

Written into the machine's file system as this machine sees it (`fs`: the nspawn
overlay before boot, or the VM's / over sshfs); `run_in` runs a command inside
the machine (chroot, or SSH).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from . import config
from .templates import TEMPLATES, render


def configure(root: Path, m: config.Machine, fs: Path,
              run_in: Callable[[list[str]], object]) -> None:
    (fs / "etc/postfix/main.cf").write_text(
        render("remote-main.cf.j2", fqdn=m.fqdn, gateway=config.GATEWAY))
    with open(fs / "etc/postfix/master.cf", "a") as f:
        f.write((TEMPLATES / "remote-master.cf.append").read_text())
    (fs / "etc/opendkim.conf").write_text(
        render("remote-opendkim.conf.j2", fqdn=m.fqdn, gateway=config.GATEWAY))
    (fs / "etc/opendkim-unbound.conf").write_text(
        render("remote-unbound.conf.j2", gateway=config.GATEWAY))
    # Debian's unit reads the socket from /etc/default/opendkim, overriding the conf.
    (fs / "etc/default/opendkim").write_text("RUNDIR=/run/opendkim\nUSER=opendkim\n"
                                             "GROUP=opendkim\nPIDFILE=$RUNDIR/$NAME.pid\n")
    for table in ("refuse", "transport"):
        (fs / "etc/postfix" / table).write_text("")
    shutil.copy(root / "tls" / "ca.pem", fs / "etc/ssl/certs/mailops-lab-ca.pem")
    # MTA-STS (RFC 8461 §4.2): the policy fetch is HTTPS verified against the system
    # trust store, so the lab CA and Pebble's root (both in tls/ca.pem) go there too.
    shutil.copy(root / "tls" / "ca.pem", fs / "usr/local/share/ca-certificates/mailops-lab.crt")
    run_in(["update-ca-certificates"])
    (fs / "etc/mta-sts-daemon.yml").write_text(
        (TEMPLATES / "remote-mta-sts-daemon.yml").read_text())
    run_in(["useradd", "--create-home", "--shell", "/usr/sbin/nologin", "sink"])

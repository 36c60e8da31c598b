"""The host's own validating resolver (unbound on the loopback), and /etc/resolv.conf
pointing at it.

install -> configure -> activate:
1. Debian's unbound (it brings dns-root-data, the root trust anchor);
2. /etc/unbound/unbound.conf rendered whole (services/resolver.py), checked by
   `unbound-checkconf` on a staged copy before it goes live (tasks._staged);
3. a restart when the file changed, the service enabled;
4. only then /etc/resolv.conf names 127.0.0.1: the host never points at a resolver
   that is not answering.

The files and the service's state are read in the deploy's one-pass read
(tasks._snapshot): a converged host costs this task no round trip.
"""

from __future__ import annotations

import shlex

from pyinfra.api import deploy
from pyinfra.operations import server, systemd
from pyinfra.operations.util import any_changed

from mailops.inventory import MailSettings
from mailops.services import resolver as svc
from mailops.services.paths import POSTFIX_SPOOL

from . import _snapshot as snapshot
from ._common import enabled_and_running, ensure_packages
from ._staged import rendered, staged_files

CHROOT_ETC = f"{POSTFIX_SPOOL}/etc"


def _resolv_conf_is_a_link() -> bool:
    found = snapshot.current(stat=[svc.RESOLV_CONF])["files"].get(svc.RESOLV_CONF)
    return bool(found) and found[0] == "symbolic link"


@deploy("Resolver (unbound)")
def configure(settings: MailSettings) -> None:
    ctx = svc.unbound_context(settings)
    ensure_packages("Install unbound (validating resolver)", ["unbound", "dns-root-data"])
    conf = staged_files(
        name=f"Render {svc.UNBOUND_CONF} (checked by unbound-checkconf first)",
        set_name="unbound",
        files=[rendered("unbound/unbound.conf.j2", svc.UNBOUND_CONF, ctx)],
        check=f"unbound-checkconf {{stage}}{svc.UNBOUND_CONF}")
    systemd.service(name="Restart unbound (unbound.conf changed)", service="unbound",
                    running=None, restarted=True, _if=any_changed(conf))
    enabled_and_running("unbound enabled and running", "unbound")
    # Wait until it answers before the host depends on it (a restart takes a moment to
    # bind its port); a failing resolver stops the deploy here, resolv.conf untouched.
    server.shell(name="unbound answers on 127.0.0.1",
                 commands=["for i in $(seq 1 50); do unbound-control -c "
                           f"{svc.UNBOUND_CONF} status >/dev/null 2>&1 && exit 0; "
                           "sleep 0.2; done; unbound-control status"],
                 _if=any_changed(conf))
    # A symlink (systemd-resolved's stub, resolvconf) is replaced by a plain file. `stat`
    # without -L: the one-pass read sees the link itself.
    snapshot.register(stat=[svc.RESOLV_CONF])
    server.shell(name=f"{svc.RESOLV_CONF}: a file of ours, not a link",
                 commands=[f"rm -f {shlex.quote(svc.RESOLV_CONF)}"],
                 _if=_resolv_conf_is_a_link)
    resolv = staged_files(
        name=f"Render {svc.RESOLV_CONF} (the host asks its own resolver)",
        set_name="resolv-conf", files=[rendered("unbound/resolv.conf.j2", svc.RESOLV_CONF,
                                                ctx)])
    # Chrooted Postfix daemons read the copy in the spool (Debian copies it when Postfix
    # starts, not on reload).
    server.shell(name="Postfix's chroot copy of resolv.conf",
                 commands=[f"test ! -d {CHROOT_ETC} || cp {svc.RESOLV_CONF} {CHROOT_ETC}/"],
                 _if=any_changed(resolv))

"""The host's own validating resolver (unbound on the loopback), and /etc/resolv.conf
pointing at it.

install -> configure -> activate:
1. Debian's unbound (it brings dns-root-data, the root trust anchor);
2. /etc/unbound/unbound.conf rendered whole (services/resolver.py);
3. `unbound-checkconf` as a gate, a restart when the file changed, the service enabled;
4. only then /etc/resolv.conf names 127.0.0.1: the host never points at a resolver
   that is not answering.
"""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.facts.files import Link
from pyinfra.operations import files, server, systemd
from pyinfra.operations.util import any_changed

from mailops.inventory import MailSettings
from mailops.services import resolver as svc
from mailops.services.paths import POSTFIX_SPOOL

from ._common import ensure_packages, template

CHROOT_ETC = f"{POSTFIX_SPOOL}/etc"


@deploy("Resolver (unbound)")
def configure(settings: MailSettings) -> None:
    ctx = svc.unbound_context(settings)
    ensure_packages("Install unbound (validating resolver)", ["unbound", "dns-root-data"])
    conf = template(f"Render {svc.UNBOUND_CONF}", "unbound/unbound.conf.j2", svc.UNBOUND_CONF,
                    ctx, user="root", group="root", mode="644")
    server.shell(name="Check the unbound configuration (unbound-checkconf)",
                 commands=[f"unbound-checkconf {svc.UNBOUND_CONF}"], _if=any_changed(conf))
    systemd.service(name="Restart unbound (unbound.conf changed)", service="unbound",
                    running=None, restarted=True, _if=any_changed(conf))
    systemd.service(name="unbound enabled and running", service="unbound",
                    running=True, enabled=True)
    # Wait until it answers before the host depends on it (a restart takes a moment to
    # bind its port); a failing resolver stops the deploy here, resolv.conf untouched.
    server.shell(name="unbound answers on 127.0.0.1",
                 commands=["for i in $(seq 1 50); do unbound-control -c "
                           f"{svc.UNBOUND_CONF} status >/dev/null 2>&1 && exit 0; "
                           "sleep 0.2; done; unbound-control status"],
                 _if=any_changed(conf))
    # A symlink (systemd-resolved's stub, resolvconf) is replaced by a plain file.
    if host.get_fact(Link, path=svc.RESOLV_CONF):
        files.link(name=f"{svc.RESOLV_CONF}: a file of ours, not a link",
                   path=svc.RESOLV_CONF, present=False)
    resolv = template(f"Render {svc.RESOLV_CONF} (the host asks its own resolver)",
                      "unbound/resolv.conf.j2", svc.RESOLV_CONF, ctx, mode="644")
    # Chrooted Postfix daemons read the copy in the spool (Debian copies it when Postfix
    # starts, not on reload).
    server.shell(name="Postfix's chroot copy of resolv.conf",
                 commands=[f"test ! -d {CHROOT_ETC} || cp {svc.RESOLV_CONF} {CHROOT_ETC}/"],
                 _if=any_changed(resolv))

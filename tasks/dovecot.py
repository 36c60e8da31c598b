"""Dovecot: IMAP (993 implicit TLS, 143 STARTTLS-before-login), LMTP and SASL for Postfix.

Dovecot 2.3 on Debian 12, 2.4 on Debian 13: each has its own whole templates
(services.dovecot.templates), picked by the host's release.

install -> configure -> activate:
1. the mail packages (tasks._common.install_mail_packages: Dovecot's sockets live in
   Postfix's spool and belong to the postfix user, so Postfix is installed too);
2. the vmail user/group (fixed uid/gid 5000) owning /var/vmail;
3. ONE whole /etc/dovecot/dovecot.conf (Debian's conf.d/ is not included) and the
   passwd-file /etc/dovecot/users (root:dovecot 0640, hashes only, never diffed);
4. `doveconf -n` as a gate, then a restart only when dovecot.conf changed, a reload
   only when just the TLS pair changed. The passwd-file needs neither: Dovecot re-reads
   it when its mtime changes.
"""

from __future__ import annotations

from pyinfra.api import deploy
from pyinfra.operations import files, server, systemd
from pyinfra.operations.util import any_changed

from mailops.inventory import MailSettings
from mailops.services import dovecot as svc
from mailops.services import release
from mailops.services.paths import POSTFIX_SPOOL
from mailops.services.render import render

from . import tls
from ._common import install_mail_packages, local_secret, template
from ._secret import secret_file


@deploy("Dovecot")
def configure(settings: MailSettings) -> None:
    ctx = svc.dovecot_context(settings)
    # Dovecot 2.4 (Debian 13) reads neither 2.3's dovecot.conf nor its userdb quota field.
    conf_template, users_template = svc.templates(release.of_host())

    install_mail_packages()

    server.group(name=f"Group {svc.VMAIL_GROUP} (gid {svc.VMAIL_GID})", group=svc.VMAIL_GROUP,
                 gid=svc.VMAIL_GID, system=True)
    server.user(
        name=f"User {svc.VMAIL_USER} (uid {svc.VMAIL_UID}) owns the mail store",
        user=svc.VMAIL_USER, uid=svc.VMAIL_UID, group=svc.VMAIL_GROUP, home=svc.VMAIL_HOME,
        shell="/usr/sbin/nologin", system=True, ensure_home=False,
    )
    # Only vmail (all Dovecot mail processes run as it) may enter the mail store.
    files.directory(name=f"Mail store {svc.VMAIL_HOME}", path=svc.VMAIL_HOME,
                    user=svc.VMAIL_USER, group=svc.VMAIL_GROUP, mode="700")

    # Postfix's postinst with "No configuration" leaves the queue directory empty on
    # Debian 13; Dovecot's sockets live in its private/ (postfix-files(5): 0700 postfix).
    files.directory(name="Postfix private/ for Dovecot's sockets",
                    path=f"{POSTFIX_SPOOL}/private", user="postfix", group="root", mode="700")
    conf = template("Render /etc/dovecot/dovecot.conf", conf_template,
                    svc.DOVECOT_CONF, ctx, user="root", group="root", mode="644")
    secret_file(
        name=f"Render {svc.DOVECOT_USERS} (password hashes: content never shown)",
        src=local_secret(render(users_template, **ctx),
                         "dovecot-users"),
        dest=svc.DOVECOT_USERS, user="root", group="dovecot", mode="640",
    )

    tls_ops = tls.changes()
    changed = any_changed(conf, *tls_ops)
    # A broken config must stop the deploy here, with the running Dovecot untouched.
    server.shell(name="Check dovecot.conf (doveconf -n)", commands=["doveconf -n >/dev/null"],
                 _if=changed)
    # New dovecot.conf: restart (listeners, sockets and services may differ). Only the
    # certificate changed: reload, which keeps IMAP sessions.
    systemd.service(name="Restart Dovecot (dovecot.conf changed)", service="dovecot",
                    running=None, restarted=True, _if=any_changed(conf))
    systemd.service(name="Reload Dovecot (TLS certificate changed)", service="dovecot",
                    running=None, reloaded=True,
                    _if=lambda: conf.did_not_change() and any_changed(*tls_ops)())
    systemd.service(name="Dovecot enabled and running", service="dovecot",
                    running=True, enabled=True)

"""Dovecot 2.3: IMAP (993 implicit TLS, 143 STARTTLS-before-login), LMTP and SASL for Postfix.

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

from mailops import mailhost as mh
from mailops.services import release
from mailops.settings import MailSettings

from . import tls
from ._common import TEMPLATES, install_mail_packages, local_secret, template
from ._secret import secret_file


@deploy("Dovecot")
def configure(settings: MailSettings) -> None:
    ctx = mh.dovecot_context(settings)  # raises MailhostError before anything is touched
    # Dovecot 2.4 (Debian 13) reads neither 2.3's dovecot.conf nor its userdb quota field.
    v24 = release.of_host().dovecot == "2.4"

    install_mail_packages()

    server.group(name=f"Group {mh.VMAIL_GROUP} (gid {mh.VMAIL_GID})", group=mh.VMAIL_GROUP,
                 gid=mh.VMAIL_GID, system=True)
    server.user(
        name=f"User {mh.VMAIL_USER} (uid {mh.VMAIL_UID}) owns the mail store",
        user=mh.VMAIL_USER, uid=mh.VMAIL_UID, group=mh.VMAIL_GROUP, home=mh.VMAIL_HOME,
        shell="/usr/sbin/nologin", system=True, ensure_home=False,
    )
    # Only vmail (all Dovecot mail processes run as it) may enter the mail store.
    files.directory(name=f"Mail store {mh.VMAIL_HOME}", path=mh.VMAIL_HOME,
                    user=mh.VMAIL_USER, group=mh.VMAIL_GROUP, mode="700")

    # Postfix's postinst with "No configuration" leaves the queue directory empty on
    # Debian 13; Dovecot's sockets live in its private/ (postfix-files(5): 0700 postfix).
    files.directory(name="Postfix private/ for Dovecot's sockets",
                    path=f"{mh.POSTFIX_SPOOL}/private", user="postfix", group="root",
                    mode="700")
    conf = template("Render /etc/dovecot/dovecot.conf",
                    "dovecot/dovecot-2.4.conf.j2" if v24 else "dovecot/dovecot.conf.j2",
                    mh.DOVECOT_CONF, ctx, user="root", group="root", mode="644")
    secret_file(
        name=f"Render {mh.DOVECOT_USERS} (password hashes: content never shown)",
        src=local_secret(mh.render_file(TEMPLATES / ("dovecot/users-2.4.j2" if v24 else
                                                     "dovecot/users.j2"), **ctx),
                         "dovecot-users"),
        dest=mh.DOVECOT_USERS, user="root", group="dovecot", mode="640",
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

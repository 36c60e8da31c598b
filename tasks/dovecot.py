"""Dovecot: IMAP (993 implicit TLS, 143 STARTTLS-before-login), LMTP and SASL for Postfix.

Dovecot 2.3 on Debian 12, 2.4 on Debian 13: each has its own whole templates
(services.dovecot.templates), picked by the host's release.

install -> configure -> activate:
1. the mail packages (tasks._common.install_mail_packages: Dovecot's sockets live in
   Postfix's spool and belong to the postfix user, so Postfix is installed too);
2. the vmail user/group (fixed uid/gid 5000) owning /var/vmail;
3. ONE whole /etc/dovecot/dovecot.conf (Debian's conf.d/ is not included) and the
   passwd-file /etc/dovecot/users (root:dovecot 0640, hashes only, never diffed);
   Each is one staged operation (tasks._staged): dovecot.conf goes live only after
   `doveconf -c <staged copy>` accepted it;
4. a restart only when dovecot.conf changed, a reload
   only when just the TLS pair changed. The passwd-file needs neither: Dovecot re-reads
   it when its mtime changes.
"""

from __future__ import annotations

from pyinfra.api import deploy
from pyinfra.operations import server, systemd
from pyinfra.operations.util import any_changed

from mailops.inventory import MailSettings
from mailops.services import dovecot as svc
from mailops.services import paths as mh
from mailops.services import release
from mailops.services.paths import POSTFIX_SPOOL

from . import tls
from ._accounts import differs
from ._common import enabled_and_running, install_mail_packages
from ._staged import Dir, rendered, staged_files


@deploy("Dovecot")
def configure(settings: MailSettings) -> None:
    ctx = svc.dovecot_context(settings)
    # Dovecot 2.4 (Debian 13) reads neither 2.3's dovecot.conf nor its userdb quota field.
    conf_template, users_template = svc.templates(release.of_host())

    install_mail_packages()

    # Checked in the deploy's one pass (tasks._accounts): the operations run only when
    # the account differs.
    vmail = differs(svc.VMAIL_USER, svc.VMAIL_GROUP, home=svc.VMAIL_HOME,
                    shell="/usr/sbin/nologin", uid=svc.VMAIL_UID, gid=svc.VMAIL_GID)
    server.group(name=f"Group {svc.VMAIL_GROUP} (gid {svc.VMAIL_GID})", group=svc.VMAIL_GROUP,
                 gid=svc.VMAIL_GID, system=True, _if=vmail)
    server.user(
        name=f"User {svc.VMAIL_USER} (uid {svc.VMAIL_UID}) owns the mail store",
        user=svc.VMAIL_USER, uid=svc.VMAIL_UID, group=svc.VMAIL_GROUP, home=svc.VMAIL_HOME,
        shell="/usr/sbin/nologin", system=True, ensure_home=False, _if=vmail,
    )
    # The END-OF-MESSAGE quota policy (Postfix spawn(8)) runs as this user, which alone
    # may use Dovecot's second quota-status listener (dovecot.conf).
    server.user(name=f"User {mh.QUOTA_EOD_USER} (the quota policy service)",
                user=mh.QUOTA_EOD_USER, home="/nonexistent", shell="/usr/sbin/nologin",
                system=True, create_home=False, ensure_home=False,
                _if=differs(mh.QUOTA_EOD_USER, None, home="/nonexistent",
                            shell="/usr/sbin/nologin"))

    # A broken dovecot.conf stops the deploy here, with the live file and the running
    # Dovecot untouched (checked on the staged copy). Postfix's postinst with "No
    # configuration" leaves the queue directory empty on Debian 13; Dovecot's sockets
    # live in its private/ (postfix-files(5): 0700 postfix).
    conf = staged_files(
        name=f"Render {svc.DOVECOT_CONF} (checked with doveconf before going live)",
        set_name="dovecot", check=svc.CHECK,
        files=[rendered(conf_template, svc.DOVECOT_CONF, ctx)],
        dirs=[Dir(f"{POSTFIX_SPOOL}/private", "postfix", "root", "700")])
    # Its own operation: a new mailbox must not restart Dovecot. Only vmail (all
    # Dovecot mail processes run as it) may enter the mail store.
    staged_files(
        name=f"Render {svc.DOVECOT_USERS} (password hashes: content never shown)",
        set_name="dovecot-users",
        files=[rendered(users_template, svc.DOVECOT_USERS, ctx, group="dovecot",
                        mode="640")],
        dirs=[Dir(svc.VMAIL_HOME, svc.VMAIL_USER, svc.VMAIL_GROUP, "700")])

    tls_ops = tls.changes()
    # New dovecot.conf: restart (listeners, sockets and services may differ). Only the
    # certificate changed: reload, which keeps IMAP sessions.
    systemd.service(name="Restart Dovecot (dovecot.conf changed)", service="dovecot",
                    running=None, restarted=True, _if=any_changed(conf))
    systemd.service(name="Reload Dovecot (TLS certificate changed)", service="dovecot",
                    running=None, reloaded=True,
                    _if=lambda: conf.did_not_change() and any_changed(*tls_ops)())
    enabled_and_running("Dovecot enabled and running", "dovecot")

"""OpenDKIM: sign mail of every hosted domain with the key its signing plan names; verify
inbound mail.

install -> configure -> activate:
1. the mail packages (tasks._common.install_mail_packages);
2. the signing plan (``mailops.dkim.plan.signing_plan``), computed once by deploy.py and
   handed in as data: per hosted domain the key it signs with — its ACTIVE key, or during
   `mailops dkim rotate` the published pending key named by the pyinfra data
   ``mailops_dkim_sign_with`` — uploaded to /etc/opendkim/keys/<domain>/<selector>.private,
   opendkim 0600, through tasks._secret.secret_file: compared by SHA-256, never diffed,
   never printed. This task never creates a key: a domain with no active key is left
   unsigned and the deploy says which command starts signing it;
3. /etc/opendkim.conf, KeyTable, SigningTable (refile: ``*@domain``) and TrustedHosts,
   rendered whole; the socket directory /var/spool/postfix/opendkim (opendkim:postfix,
   setgid, so the socket is group postfix);
4. `opendkim -n` as a gate; restart when opendkim.conf or the socket directory
   changed, reload (SIGUSR1: re-reads configuration, tables and keys) when only tables
   or keys changed.
"""

from __future__ import annotations

import re

from pyinfra import host, logger
from pyinfra.api import deploy
from pyinfra.api.exceptions import DeployError
from pyinfra.facts.files import FindInFile
from pyinfra.operations import files, server, systemd
from pyinfra.operations.util import any_changed

from mailops.dkim.plan import SigningPlan
from mailops.inventory import MailSettings
from mailops.services import opendkim as mh

from ._common import install_mail_packages, template
from ._secret import secret_file


def _refuse_a_foreign_keystore(settings: MailSettings, plan: SigningPlan) -> None:
    """Stop when the host signs a domain this keystore has no key for.

    Deploying from a second machine (another laptop, a CI runner) with an empty
    keystore would otherwise switch off signing for domains whose keys are in DNS:
    every message would fail DKIM alignment until someone noticed.
    """
    for name in plan.keyless:
        signed = host.get_fact(FindInFile, path=f"{mh.OPENDKIM_DIR}/KeyTable",
                               pattern=f"\\s{re.escape(name)}:")
        if signed:
            raise DeployError(
                f"OpenDKIM on {host.name} already signs {name} ({signed[0].split()[0]}), "
                f"but the keystore {settings.keystore} has no key for it; expected the "
                "keystore that made that key — point the inventory's `keystore` or "
                "$MAILOPS_KEYSTORE at it (deploying from this one would stop signing it)")


@deploy("OpenDKIM")
def configure(settings: MailSettings, plan: SigningPlan) -> None:
    _refuse_a_foreign_keystore(settings, plan)
    for notice in plan.notices():
        logger.warning(notice)
    ctx = mh.opendkim_context(settings, plan.selectors, plan.signature_algorithm)

    install_mail_packages()

    dirs = [
        files.directory(name=f"Create {mh.OPENDKIM_DIR}", path=mh.OPENDKIM_DIR,
                        user="root", group="opendkim", mode="750"),
        files.directory(name=f"Create {mh.OPENDKIM_KEYS_DIR}", path=mh.OPENDKIM_KEYS_DIR,
                        user="opendkim", group="opendkim", mode="700"),
    ]
    key_ops = []
    for dk in ctx["keys"]:
        key = plan.keys[dk.domain]  # settings.Domain.name is lower-case already
        dirs.append(files.directory(
            name=f"Create {mh.OPENDKIM_KEYS_DIR}/{dk.domain}",
            path=f"{mh.OPENDKIM_KEYS_DIR}/{dk.domain}",
            user="opendkim", group="opendkim", mode="700",
        ))
        key_ops.append(secret_file(
            name=f"DKIM key {dk.domain} selector {dk.selector} (content never shown)",
            src=str(key.private_key_path), dest=dk.host_path,
            user="opendkim", group="opendkim", mode="600",
        ))

    # Socket directory inside the Postfix spool: group postfix + setgid, so the socket
    # OpenDKIM creates there is opendkim:postfix (0770 with UMask 007).
    sock_dir = files.directory(
        name="OpenDKIM socket directory in the Postfix spool",
        path=f"{mh.POSTFIX_SPOOL}/{mh.OPENDKIM_SOCKET_DIR}",
        user="opendkim", group="postfix", mode="2750",
    )

    conf = template("Render /etc/opendkim.conf", "opendkim/opendkim.conf.j2", mh.OPENDKIM_CONF,
                    ctx, user="root", group="root", mode="644")
    tables = [
        template(f"Render {mh.OPENDKIM_DIR}/{t}", f"opendkim/{t}.j2", f"{mh.OPENDKIM_DIR}/{t}",
                 ctx, user="root", group="opendkim", mode="640")
        for t in ("KeyTable", "SigningTable", "TrustedHosts")
    ]
    unbound = template(f"Render {mh.OPENDKIM_UNBOUND_CONF}", "opendkim/unbound.conf.j2",
                       mh.OPENDKIM_UNBOUND_CONF, ctx, user="root", group="opendkim", mode="640")

    all_ops = [conf, unbound, sock_dir, *dirs, *tables, *key_ops]
    server.shell(name="Check the OpenDKIM configuration (opendkim -n)",
                 commands=[f"opendkim -n -x {mh.OPENDKIM_CONF}"], _if=any_changed(*all_ops))
    systemd.service(name="Restart OpenDKIM (opendkim.conf or socket changed)",
                    service="opendkim", running=None, restarted=True,
                    _if=any_changed(conf, unbound, sock_dir))
    systemd.service(name="Reload OpenDKIM (tables or keys changed)",
                    service="opendkim", running=None, reloaded=True,
                    _if=lambda: (conf.did_not_change() and unbound.did_not_change()
                                 and sock_dir.did_not_change()
                                 and any_changed(*dirs, *tables, *key_ops)()))
    systemd.service(name="OpenDKIM enabled and running", service="opendkim",
                    running=True, enabled=True)

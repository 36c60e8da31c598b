"""OpenDKIM: sign mail of every hosted domain with the key its signing plan names; verify
inbound mail.

install -> configure -> activate:
1. the mail packages (tasks._common.install_mail_packages);
2. the signing plan (``mailops.dkim.plan.signing_plan``), computed once by deploy.py and
   handed in as data: per hosted domain the key it signs with — its ACTIVE key, or during
   `mailops dkim rotate` the published pending key named by the pyinfra data
   ``mailops_dkim_sign_with`` — uploaded to /etc/opendkim/keys/<domain>/<selector>.private,
   opendkim 0600, all keys in ONE tasks._staged operation: compared by SHA-256, never
   diffed, never printed. This task never creates a key: a domain with no active key is left
   unsigned and the deploy says which command starts signing it;
3. /etc/opendkim.conf, KeyTable, SigningTable (refile: ``*@domain``) and TrustedHosts,
   rendered whole; the socket directory /var/spool/postfix/opendkim (opendkim:postfix,
   setgid, so the socket is group postfix);
   one tasks._staged operation, checked with `opendkim -n` on its staged copy before
   any file goes live;
4. restart when opendkim.conf or the socket directory
   changed, reload (SIGUSR1: re-reads configuration, tables and keys) when only tables
   or keys changed.
"""

from __future__ import annotations

import re
import shlex

from pyinfra import host, logger
from pyinfra.api import deploy
from pyinfra.api.exceptions import DeployError
from pyinfra.facts.server import Command
from pyinfra.operations import server, systemd
from pyinfra.operations.util import any_changed

from mailops.dkim.plan import SigningPlan
from mailops.inventory import MailSettings
from mailops.services import opendkim as mh

from . import _snapshot as snapshot
from ._common import enabled_and_running, install_mail_packages
from ._staged import Dir, changed_paths, local, rendered, staged_files


def _refuse_a_foreign_keystore(settings: MailSettings, plan: SigningPlan) -> None:
    """Stop when the host signs a domain this keystore has no key for.

    Deploying from a second machine (another laptop, a CI runner) with an empty
    keystore would otherwise switch off signing for domains whose keys are in DNS:
    every message would fail DKIM alignment until someone noticed.
    """
    if not plan.keyless:
        return
    # One read for every keyless domain, however many (KeyTable lines:
    # "<selector>._domainkey.<domain> <domain>:<selector>:<key file>").
    keytable = f"{mh.OPENDKIM_DIR}/KeyTable"
    pattern = r"\s(" + "|".join(re.escape(name) for name in sorted(plan.keyless)) + "):"
    found = host.get_fact(Command, command=f"grep -E {shlex.quote(pattern)} {keytable} "
                                           "2>/dev/null; true") or ""
    for fields in (line.split() for line in found.splitlines()):
        signer, name = fields[0], fields[-1].split(":")[0]
        if len(fields) > 1 and name in plan.keyless:
            raise DeployError(
                f"OpenDKIM on {host.name} already signs {name} ({signer}), but the "
                f"keystore {settings.keystore} has no key for it; expected the keystore "
                "that made that key — point the inventory's `keystore` or "
                "$MAILOPS_KEYSTORE at it (deploying from this one would stop signing it)")


@deploy("OpenDKIM")
def configure(settings: MailSettings, plan: SigningPlan) -> None:
    _refuse_a_foreign_keystore(settings, plan)
    for notice in plan.notices():
        logger.warning(notice)
    ctx = mh.opendkim_context(settings, plan.selectors, plan.signature_algorithm)

    install_mail_packages()

    key_dirs = [Dir(mh.OPENDKIM_DIR, "root", "opendkim", "750"),
                Dir(mh.OPENDKIM_KEYS_DIR, "opendkim", "opendkim", "700")]
    key_files = []
    for dk in ctx["keys"]:
        key = plan.keys[dk.domain]  # settings.Domain.name is lower-case already
        key_dirs.append(Dir(f"{mh.OPENDKIM_KEYS_DIR}/{dk.domain}", "opendkim", "opendkim",
                            "700"))
        key_files.append(local(key.private_key_path, dk.host_path, user="opendkim",
                               group="opendkim", mode="600"))
    # Every domain's key in ONE operation (one digest fact for all of them).
    key_op = staged_files(name="DKIM private keys (content never shown)",
                          set_name="opendkim-keys", files=key_files, dirs=key_dirs)

    # Socket directory inside the Postfix spool: group postfix + setgid, so the socket
    # OpenDKIM creates there is opendkim:postfix (0770 with UMask 007).
    sock_dir = f"{mh.POSTFIX_SPOOL}/{mh.OPENDKIM_SOCKET_DIR}"
    restart_on = {mh.OPENDKIM_CONF, sock_dir}
    config = staged_files(
        name="OpenDKIM configuration and tables (checked with opendkim -n before going live)",
        set_name="opendkim", check=mh.CHECK,
        files=[rendered("opendkim/opendkim.conf.j2", mh.OPENDKIM_CONF, ctx),
               *[rendered(f"opendkim/{t}.j2", f"{mh.OPENDKIM_DIR}/{t}", ctx,
                          group="opendkim", mode="640")
                 for t in ("KeyTable", "SigningTable", "TrustedHosts", "sender-policy.lua")]],
        dirs=[Dir(sock_dir, "opendkim", "postfix", "2750")])

    # Earlier versions wrote an unbound.conf for ResolverConfiguration (see opendkim.conf).
    snapshot.register(stat=[mh.OPENDKIM_UNBOUND_CONF])
    unbound = server.shell(name=f"Remove {mh.OPENDKIM_UNBOUND_CONF} (no longer used)",
                           commands=[f"rm -f {mh.OPENDKIM_UNBOUND_CONF}"],
                           _if=lambda: snapshot.exists(mh.OPENDKIM_UNBOUND_CONF))

    def restart() -> bool:
        return bool(changed_paths("opendkim") & restart_on) or unbound.did_change()

    systemd.service(name="Restart OpenDKIM (opendkim.conf or socket changed)",
                    service="opendkim", running=None, restarted=True, _if=restart)
    systemd.service(name="Reload OpenDKIM (tables or keys changed)",
                    service="opendkim", running=None, reloaded=True,
                    _if=lambda: not restart() and any_changed(config, key_op)())
    enabled_and_running("OpenDKIM enabled and running", "opendkim")

"""OpenDKIM: sign mail of every hosted domain with its active key; verify inbound mail.

install -> configure -> activate:
1. the mail packages (tasks._common.install_mail_packages);
2. per hosted domain, the key it signs with (``mailops.hosts.opendkim.signing_keys``):
   the ACTIVE key from the local keystore (``ensure_key`` creates one only if the domain
   has none; never overwrites), or — during `mailops rotate-dkim` — the published
   pending key named by ``MAILOPS_DKIM_SIGN_WITH=domain=selector``; uploaded to
   /etc/opendkim/keys/<domain>/<selector>.private, opendkim 0600, all keys in ONE
   tasks._staged operation: compared by SHA-256, never diffed, never printed;
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

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.api.exceptions import DeployError
from pyinfra.facts.files import FindInFile
from pyinfra.operations import systemd
from pyinfra.operations.util import any_changed

from mailops.dkim.keystore import Keystore
from mailops.hosts.opendkim import signature_algorithm, signing_keys
from mailops.inventory import MailSettings
from mailops.services import opendkim as mh

from ._common import enabled_and_running, install_mail_packages
from ._staged import Dir, changed_paths, local, rendered, staged_files


def _refuse_a_foreign_keystore(settings: MailSettings, keystore: Keystore) -> None:
    """Stop when the host signs a domain this keystore has never seen.

    Deploying from a second machine (another laptop, a CI runner) with an empty
    keystore would otherwise mint new keys and switch the host to selectors that
    are in no DNS: every message would fail DKIM until someone noticed.
    """
    for d in settings.domains:
        if keystore.keys(d.name):
            continue
        signed = host.get_fact(FindInFile, path=f"{mh.OPENDKIM_DIR}/KeyTable",
                               pattern=f"\\s{re.escape(d.name)}:")
        if signed:
            raise DeployError(
                f"OpenDKIM on {host.name} already signs {d.name} ({signed[0].split()[0]}), "
                f"but the keystore {keystore.path} has no key for it; expected the keystore "
                "that made that key — point the inventory's `keystore` or $MAILOPS_KEYSTORE "
                "at it (a new key here would sign with a selector that is in no DNS)")


@deploy("OpenDKIM")
def configure(settings: MailSettings) -> None:
    keystore = Keystore(settings.keystore)
    _refuse_a_foreign_keystore(settings, keystore)
    keys = signing_keys(settings, keystore)
    ctx = mh.opendkim_context(settings, {name: k.selector for name, k in keys.items()})
    # The keys decide the algorithm, not the inventory's wish: mid-rotation they differ.
    ctx["signature_algorithm"] = signature_algorithm(settings, keys)

    install_mail_packages()

    key_dirs = [Dir(mh.OPENDKIM_DIR, "root", "opendkim", "750"),
                Dir(mh.OPENDKIM_KEYS_DIR, "opendkim", "opendkim", "700")]
    key_files = []
    for dk in ctx["keys"]:
        key = keys[dk.domain]  # settings.Domain.name is lower-case already
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
    restart_on = {mh.OPENDKIM_CONF, mh.OPENDKIM_UNBOUND_CONF, sock_dir}
    config = staged_files(
        name="OpenDKIM configuration and tables (checked with opendkim -n before going live)",
        set_name="opendkim", check=mh.CHECK,
        files=[rendered("opendkim/opendkim.conf.j2", mh.OPENDKIM_CONF, ctx),
               rendered("opendkim/unbound.conf.j2", mh.OPENDKIM_UNBOUND_CONF, ctx,
                        group="opendkim", mode="640"),
               *[rendered(f"opendkim/{t}.j2", f"{mh.OPENDKIM_DIR}/{t}", ctx,
                          group="opendkim", mode="640")
                 for t in ("KeyTable", "SigningTable", "TrustedHosts")]],
        dirs=[Dir(sock_dir, "opendkim", "postfix", "2750")])

    def restart() -> bool:
        return bool(changed_paths("opendkim") & restart_on)

    systemd.service(name="Restart OpenDKIM (opendkim.conf or socket changed)",
                    service="opendkim", running=None, restarted=True, _if=restart)
    systemd.service(name="Reload OpenDKIM (tables or keys changed)",
                    service="opendkim", running=None, reloaded=True,
                    _if=lambda: not restart() and any_changed(config, key_op)())
    enabled_and_running("OpenDKIM enabled and running", "opendkim")

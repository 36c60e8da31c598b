"""The bounce pipeline on the host: hook, user, database, VERP secret.

install -> configure; the Postfix side (transport_maps, the pipe service, the
suppression map, the bounce recipients and senders) is rendered by tasks/postfix.py
from the same settings (mailops.services.bounce.bounce_context), so one
`postfix reload` covers it.

Runs BEFORE tasks/postfix.py: the Postfix configuration names the hook's user, its
code and its database. Reloaded first, Postfix could run the pipe service before the
user exists, or proxymap(8) could open (and so create) the database as `postfix`
before this task made it — with an owner the hook cannot write.

1. A system user ``mailops-bounce`` (pipe(8) refuses root and the postfix user).
2. The host package ``mailops_host`` (the hook, its bounce modules, the queries
   ``mailops bounces|suppression`` run; mailops.services.onhost), installed whole
   when its VERSION differs from the host's (tasks.host_package): byte-compiled there
   (the hook runs as a user that cannot write __pycache__; compiling on every bounce
   cost ~8 ms of ~50 ms per message on the lab host) and switched in by one rename.
3. /var/lib/mailops, ``mailops-bounce:postfix`` 2770 with default POSIX ACLs. SQLite in
   WAL mode: every connection, readers included, needs WRITE access to the ``-wal``
   and ``-shm`` files, which the first connection creates and the last one deletes.
   The hook (uid mailops-bounce, no supplementary groups: pipe(8) sets one gid, never
   postfix's) and proxymap (uid postfix, gid postfix only) can each be the one that
   creates them; the setgid bit gives every file group postfix, and the default ACL
   gives user mailops-bounce rw on files postfix creates. (Root-created files are
   chowned to the database's owner by SQLite itself.)
4. The database created once, as mailops-bounce, by the host package (schema, WAL).
5. The VERP secret /etc/mailops/bounce-secret, generated ON the host once, behind a
   fact check: it never crosses the network, never appears in a command line, a diff
   or a log, and is never replaced (that would invalidate every token in flight).

Every question about the host (the account, the installed VERSION, the directories,
the ACL, whether the database and the secret exist) is answered by the deploy's
one-pass read (tasks._snapshot): a converged host costs this task no round trip.
"""

from __future__ import annotations

import shlex

from pyinfra.api import deploy
from pyinfra.api.operation import OperationMeta
from pyinfra.operations import server

from mailops.inventory import MailSettings
from mailops.services import bounce as svc
from mailops.services import onhost

from . import _snapshot as snapshot
from . import host_package
from ._accounts import differs
from ._common import ensure_packages, install_mail_packages
from ._staged import Dir, Owned, owner_and_mode, staged_files

ACL_ENTRIES = (f"default:user:{svc.BOUNCE_USER}:rw-", "default:group:postfix:rw-")
ACL_COMMAND = f"getfacl -cp {svc.BOUNCE_STATE_DIR}"


def _acl_missing() -> bool:
    lines = set(snapshot.output(ACL_COMMAND).split())
    return not all(entry in lines for entry in ACL_ENTRIES)


@deploy("Bounce pipeline")
def configure(settings: MailSettings) -> OperationMeta:
    install_mail_packages()  # the postfix group must exist; no-op when installed
    ensure_packages("Install acl (setfacl, for the bounce database directory)", ["acl"],
                    no_recommends=False)

    account = differs(svc.BOUNCE_USER, svc.BOUNCE_USER, home=svc.BOUNCE_STATE_DIR,
                      shell="/usr/sbin/nologin")
    server.group(name=f"Group {svc.BOUNCE_USER}", group=svc.BOUNCE_USER, system=True,
                 _if=account)
    server.user(name=f"User {svc.BOUNCE_USER} (runs the bounce hook)", user=svc.BOUNCE_USER,
                group=svc.BOUNCE_USER, system=True, home=svc.BOUNCE_STATE_DIR,
                shell="/usr/sbin/nologin", ensure_home=False, create_home=False,
                comment="mailops bounce hook", _if=account)

    # ---- the code's folder and the state: database directory (shared with proxymap)
    # and quarantine. 2700: the setgid bit is inherited from the parent (GNU chmod
    # keeps it on directories), so ask for it rather than "change" it on every deploy.
    staged_files(
        name=f"Create {onhost.HOST_LIB}, {svc.BOUNCE_STATE_DIR} ({svc.BOUNCE_USER}:postfix "
             "2770) and its quarantine (unparseable messages, owner only)",
        set_name="bounce", files=[],
        dirs=[Dir(onhost.HOST_LIB),
              Dir(svc.BOUNCE_STATE_DIR, svc.BOUNCE_USER, "postfix", "2770"),
              Dir(svc.BOUNCE_QUARANTINE, svc.BOUNCE_USER, svc.BOUNCE_USER, "2700")])

    # ---- the host package (hook, queries): nothing when the host has its VERSION
    code = host_package.install()

    snapshot.register(commands=[ACL_COMMAND], stat=[svc.BOUNCE_DB, svc.BOUNCE_SECRET])
    acl = ",".join(e.replace("default:", "d:", 1).replace("user:", "u:", 1)
                   .replace("group:", "g:", 1) for e in ACL_ENTRIES)
    server.shell(
        name=f"Default ACL on {svc.BOUNCE_STATE_DIR}: SQLite's -wal/-shm files writable "
             f"by {svc.BOUNCE_USER} and postfix, whoever creates them",
        commands=[f"setfacl -m {acl} {svc.BOUNCE_STATE_DIR}"], _if=_acl_missing)
    server.shell(
        name=f"Create the bounce database {svc.BOUNCE_DB} (schema, WAL mode)",
        commands=[shlex.join(["runuser", "-u", svc.BOUNCE_USER, "--",
                              *onhost.module_argv("init-db", svc.BOUNCE_DB)])],
        _if=lambda: not snapshot.exists(svc.BOUNCE_DB))

    # ---- the VERP secret: made here, once; only its owner and mode are managed after.
    # Created 0600 by the host package itself (O_EXCL: never replaced), the value
    # straight from the CSPRNG into the file: not in argv, on stdout or in a log.
    server.shell(
        name=f"Generate the VERP secret {svc.BOUNCE_SECRET} on the host (never shown)",
        commands=[shlex.join(onhost.module_argv("new-secret", svc.BOUNCE_SECRET))],
        _if=lambda: not snapshot.exists(svc.BOUNCE_SECRET))
    owner_and_mode(
        name=f"{svc.BOUNCE_DB}: {svc.BOUNCE_USER}:postfix 0660; {svc.BOUNCE_SECRET}: "
             f"root:{svc.BOUNCE_USER} 0640 (content never read)",
        files=[Owned(svc.BOUNCE_DB, svc.BOUNCE_USER, "postfix", "660"),
               Owned(svc.BOUNCE_SECRET, "root", svc.BOUNCE_USER, "640")])
    return code

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
   when its VERSION differs from the host's: byte-compiled there (the hook runs as
   a user that cannot write __pycache__; compiling on every bounce cost ~8 ms of
   ~50 ms per message on the lab host) and switched in by one rename.
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
"""

from __future__ import annotations

import io
import shlex

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.api.operation import OperationMeta
from pyinfra.facts.files import File
from pyinfra.facts.server import Command
from pyinfra.operations import files, server

from mailops.inventory import MailSettings
from mailops.services import bounce as svc
from mailops.services import onhost

from ._common import ensure_packages, install_mail_packages

ACL_ENTRIES = (f"default:user:{svc.BOUNCE_USER}:rw-", "default:group:postfix:rw-")


def _acl_missing() -> bool:
    out = host.get_fact(Command, command=f"getfacl -cp {svc.BOUNCE_STATE_DIR} 2>/dev/null || true")
    lines = set((out or "").split())
    return not all(entry in lines for entry in ACL_ENTRIES)


@deploy("Bounce pipeline")
def configure(settings: MailSettings) -> list[OperationMeta]:
    install_mail_packages()  # the postfix group must exist; no-op when installed
    ensure_packages("Install acl (setfacl, for the bounce database directory)", ["acl"],
                    no_recommends=False)

    server.group(name=f"Group {svc.BOUNCE_USER}", group=svc.BOUNCE_USER, system=True)
    server.user(name=f"User {svc.BOUNCE_USER} (runs the bounce hook)", user=svc.BOUNCE_USER,
                group=svc.BOUNCE_USER, system=True, home=svc.BOUNCE_STATE_DIR,
                shell="/usr/sbin/nologin", ensure_home=False, create_home=False,
                comment="mailops bounce hook")

    # ---- the host package (hook, queries): one fact when unchanged, one upload when not
    code = _install_host_package()

    # ---- state: database directory (shared with proxymap), quarantine, database
    files.directory(name=f"Create {svc.BOUNCE_STATE_DIR} ({svc.BOUNCE_USER}:postfix 2770)",
                    path=svc.BOUNCE_STATE_DIR, user=svc.BOUNCE_USER, group="postfix",
                    mode="2770")
    if _acl_missing():
        acl = ",".join(e.replace("default:", "d:", 1).replace("user:", "u:", 1)
                       .replace("group:", "g:", 1) for e in ACL_ENTRIES)
        server.shell(
            name=f"Default ACL on {svc.BOUNCE_STATE_DIR}: SQLite's -wal/-shm files writable "
                 f"by {svc.BOUNCE_USER} and postfix, whoever creates them",
            commands=[f"setfacl -m {acl} {svc.BOUNCE_STATE_DIR}"],
        )
    # 2700: the setgid bit is inherited from the parent (GNU chmod keeps it on
    # directories), so ask for it rather than "change" the mode on every deploy.
    files.directory(name=f"Create {svc.BOUNCE_QUARANTINE} (unparseable messages, owner only)",
                    path=svc.BOUNCE_QUARANTINE, user=svc.BOUNCE_USER, group=svc.BOUNCE_USER,
                    mode="2700")
    if not host.get_fact(File, path=svc.BOUNCE_DB):
        server.shell(
            name=f"Create the bounce database {svc.BOUNCE_DB} (schema, WAL mode)",
            commands=[shlex.join(["runuser", "-u", svc.BOUNCE_USER, "--",
                                  *onhost.module_argv("init-db", svc.BOUNCE_DB)])],
        )
    files.file(name=f"{svc.BOUNCE_DB}: {svc.BOUNCE_USER}:postfix 0660", path=svc.BOUNCE_DB,
               user=svc.BOUNCE_USER, group="postfix", mode="660")

    # ---- the VERP secret: made here, once; only its owner and mode are managed after
    if not host.get_fact(File, path=svc.BOUNCE_SECRET):
        # Created 0600 by the host package itself (O_EXCL: never replaced), the value
        # straight from the CSPRNG into the file: not in argv, on stdout or in a log.
        server.shell(
            name=f"Generate the VERP secret {svc.BOUNCE_SECRET} on the host (never shown)",
            commands=[shlex.join(onhost.module_argv("new-secret", svc.BOUNCE_SECRET))],
        )
    files.file(name=f"{svc.BOUNCE_SECRET}: root:{svc.BOUNCE_USER} 0640 (content never read)",
               path=svc.BOUNCE_SECRET, user="root", group=svc.BOUNCE_USER, mode="640")
    return code


# Where the hook's modules lay as loose files before the host package existed.
LEGACY_LIB = f"{onhost.HOST_LIB}/bounce"
_UNUSED = "legacy-unused"


def _install_host_package() -> list[OperationMeta]:
    """Install mailops_host when the host has another VERSION (or none); else nothing.

    One fact answers both questions: the installed VERSION, and whether the old loose
    hook folder is left over and no longer named by master.cf (Postfix reloads after
    this task, so it goes one deploy after the switch, never under a running pipe).
    """
    version = onhost.package_version()
    answer = host.get_fact(Command, command=(
        f"cat {onhost.PACKAGE_DIR}/VERSION 2>/dev/null; [ -d {LEGACY_LIB} ] && "
        f"! grep -qs {LEGACY_LIB}/ /etc/postfix/master.cf && echo {_UNUSED}; true"))
    lines = (answer or "").split()
    installed = next((x for x in lines if x != _UNUSED), "")
    files.directory(name=f"Create {onhost.HOST_LIB}", path=onhost.HOST_LIB,
                    user="root", group="root", mode="755")
    if _UNUSED in lines:
        files.directory(name=f"Remove {LEGACY_LIB} (the hook's old loose files, unused)",
                        path=LEGACY_LIB, present=False)
    if installed == version:
        return []
    tarball = f"{onhost.HOST_LIB}/.{onhost.PACKAGE}-{version}.tar"
    upload = files.put(name=f"Upload the host package {onhost.PACKAGE} {version}",
                       src=io.BytesIO(onhost.package_tarball()), dest=tarball,
                       user="root", group="root", mode="600")
    switch = server.shell(
        name=f"Install {onhost.PACKAGE} {version} (was {installed or 'not installed'}), "
             "byte-compiled, switched in atomically",
        commands=[onhost.install_script(tarball)])
    return [upload, switch]

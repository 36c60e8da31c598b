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
2. The hook and the stdlib-only modules it imports, as loose files under
   /usr/local/lib/mailops/bounce (run as ``python3 -S hook.py``: no site-packages),
   byte-compiled when they change (the hook runs as a user that cannot write
   __pycache__; compiling them on every bounce cost ~8 ms of ~50 ms per message on
   the lab host).
3. /var/lib/mailops, ``mailops-bounce:postfix`` 2770 with default POSIX ACLs. SQLite in
   WAL mode: every connection, readers included, needs WRITE access to the ``-wal``
   and ``-shm`` files, which the first connection creates and the last one deletes.
   The hook (uid mailops-bounce, no supplementary groups: pipe(8) sets one gid, never
   postfix's) and proxymap (uid postfix, gid postfix only) can each be the one that
   creates them; the setgid bit gives every file group postfix, and the default ACL
   gives user mailops-bounce rw on files postfix creates. (Root-created files are
   chowned to the database's owner by SQLite itself.)
4. The database created once, as mailops-bounce, with the schema and WAL mode.
5. The VERP secret /etc/mailops/bounce-secret, generated ON the host once, behind a
   fact check: it never crosses the network, never appears in a command line, a diff
   or a log, and is never replaced (that would invalidate every token in flight).
"""

from __future__ import annotations

import shlex
from pathlib import Path

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.api.operation import OperationMeta
from pyinfra.facts.files import File
from pyinfra.facts.server import Command
from pyinfra.operations import files, server
from pyinfra.operations.util import any_changed

from mailops.inventory import MailSettings
from mailops.services import bounce as svc

from ._common import ensure_packages, install_mail_packages

BOUNCE_SRC = Path(__file__).resolve().parent.parent / "src" / "mailops" / "bounce"
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

    # ---- the hook's code: stdlib only, loose files, compiled once per change
    files.directory(name="Create /usr/local/lib/mailops", path=str(Path(svc.BOUNCE_LIB).parent),
                    user="root", group="root", mode="755")
    files.directory(name=f"Create {svc.BOUNCE_LIB}", path=svc.BOUNCE_LIB,
                    user="root", group="root", mode="755")
    code = [files.put(name=f"Install the bounce hook module {m}.py",
                      src=str(BOUNCE_SRC / f"{m}.py"), dest=f"{svc.BOUNCE_LIB}/{m}.py",
                      user="root", group="root", mode="644")
            for m in svc.BOUNCE_HOOK_MODULES]
    server.shell(name="Byte-compile the bounce hook (its user cannot write __pycache__)",
                 commands=[f"python3 -m compileall -q {shlex.quote(svc.BOUNCE_LIB)}"],
                 _if=any_changed(*code))

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
        init = (f"import os, sys; os.umask(0o007); sys.path.insert(0, {svc.BOUNCE_LIB!r}); "
                f"import store; store.connect({svc.BOUNCE_DB!r}).close()")
        server.shell(
            name=f"Create the bounce database {svc.BOUNCE_DB} (schema, WAL mode)",
            commands=[f"runuser -u {svc.BOUNCE_USER} -- /usr/bin/python3 -S -c "
                      f"{shlex.quote(init)}"],
        )
    files.file(name=f"{svc.BOUNCE_DB}: {svc.BOUNCE_USER}:postfix 0660", path=svc.BOUNCE_DB,
               user=svc.BOUNCE_USER, group="postfix", mode="660")

    # ---- the VERP secret: made here, once; only its owner and mode are managed after
    secret = shlex.quote(svc.BOUNCE_SECRET)
    if not host.get_fact(File, path=svc.BOUNCE_SECRET):
        # umask 077 before the file exists: never readable by others, not for a moment.
        # The value goes from Python straight into the file: not in argv, not on stdout.
        server.shell(
            name=f"Generate the VERP secret {svc.BOUNCE_SECRET} on the host (never shown)",
            commands=[
                f"[ -e {secret} ] || ( umask 077 && python3 -S -c 'import secrets; "
                f"print(secrets.token_hex(32))' > {secret}.new && chgrp {svc.BOUNCE_USER} "
                f"{secret}.new && chmod 640 {secret}.new && mv {secret}.new {secret} )"
            ],
        )
    files.file(name=f"{svc.BOUNCE_SECRET}: root:{svc.BOUNCE_USER} 0640 (content never read)",
               path=svc.BOUNCE_SECRET, user="root", group=svc.BOUNCE_USER, mode="640")
    return code

"""Dovecot Sieve: the global scripts (spam into Junk; learning on moves into and out of
Junk) and the two programs they may pipe to.

install -> configure -> activate:
1. dovecot-sieve (Pigeonhole);
2. the scripts under /etc/dovecot/sieve and the pipe programs under
   /etc/dovecot/sieve-pipe rendered whole (services/sieve.py);
3. `sievec` compiles each changed script (vmail cannot write /etc, so a global script
   must be compiled here, Pigeonhole "sieve_before"). dovecot.conf names them
   (tasks/dovecot.py renders it).
"""

from __future__ import annotations

from pyinfra.api import deploy
from pyinfra.operations import files, server

from mailops.services import sieve as svc

from ._common import ensure_packages, template


@deploy("Dovecot Sieve")
def configure() -> None:
    ctx = svc.sieve_context()
    ensure_packages("Install Dovecot Sieve (Pigeonhole)", ["dovecot-sieve"])
    for d in (svc.SIEVE_DIR, svc.PIPE_DIR):
        files.directory(name=f"Create {d}", path=d, user="root", group="root", mode="755")
    for kind in svc.LEARN_KINDS:
        template(f"Render {svc.PIPE_DIR}/rspamd-learn-{kind}", "dovecot/sieve/rspamd-learn.j2",
                 f"{svc.PIPE_DIR}/rspamd-learn-{kind}", {**ctx, "kind": kind}, mode="755")
    for name in svc.SCRIPTS:
        script = template(f"Render {svc.SIEVE_DIR}/{name}", f"dovecot/sieve/{name}.j2",
                          f"{svc.SIEVE_DIR}/{name}", ctx, mode="644")
        # Also when the compiled form is missing (a deploy that stopped in between).
        binary = f"{svc.SIEVE_DIR}/{name.removesuffix('.sieve')}.svbin"
        server.shell(name=f"Compile {name} (sievec)",
                     commands=[f"sievec {svc.SIEVE_DIR}/{name}"],
                     _if=lambda script=script, binary=binary: script.did_change()
                     or not _exists(binary))


def _exists(path: str) -> bool:
    from pyinfra import host
    from pyinfra.facts.files import File

    return bool(host.get_fact(File, path=path))

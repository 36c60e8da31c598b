"""Dovecot Sieve: the global scripts (spam into Junk; learning on moves into and out of
Junk) and the two programs they may pipe to.

install -> configure -> activate:
1. dovecot-sieve (Pigeonhole);
2. the scripts under /etc/dovecot/sieve and the pipe programs under
   /etc/dovecot/sieve-pipe rendered whole (services/sieve.py), as one staged set
   (tasks._staged);
3. `sievec` compiles each changed script (vmail cannot write /etc, so a global script
   must be compiled here, Pigeonhole "sieve_before"). dovecot.conf names them
   (tasks/dovecot.py renders it).

The files and the compiled scripts are read in the deploy's one-pass read
(tasks._snapshot): a converged host costs this task no round trip.
"""

from __future__ import annotations

from pyinfra.api import deploy
from pyinfra.operations import server

from mailops.services import sieve as svc

from . import _snapshot as snapshot
from ._common import ensure_packages
from ._staged import Dir, changed_paths, rendered, staged_files

SET = "sieve"


@deploy("Dovecot Sieve")
def configure() -> None:
    ctx = svc.sieve_context()
    ensure_packages("Install Dovecot Sieve (Pigeonhole)", ["dovecot-sieve"])
    scripts = {name: f"{svc.SIEVE_DIR}/{name}" for name in svc.SCRIPTS}
    staged_files(
        name=f"Sieve scripts in {svc.SIEVE_DIR}, pipe programs in {svc.PIPE_DIR}",
        set_name=SET,
        files=[*[rendered("dovecot/sieve/rspamd-learn.j2", f"{svc.PIPE_DIR}/rspamd-learn-{kind}",
                          {**ctx, "kind": kind}, mode="755") for kind in svc.LEARN_KINDS],
               *[rendered(f"dovecot/sieve/{name}.j2", path, ctx, mode="644")
                 for name, path in scripts.items()]],
        dirs=[Dir(svc.SIEVE_DIR), Dir(svc.PIPE_DIR)])
    for name, path in scripts.items():
        # Also when the compiled form is missing (a deploy that stopped in between).
        binary = f"{svc.SIEVE_DIR}/{name.removesuffix('.sieve')}.svbin"
        snapshot.register(stat=[binary])
        server.shell(name=f"Compile {name} (sievec)", commands=[f"sievec {path}"],
                     _if=lambda path=path, binary=binary: path in changed_paths(SET)
                     or not snapshot.exists(binary))

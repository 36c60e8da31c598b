"""System accounts checked in the deploy's one pass: a user and its group as getent(1)
prints them, read with everything else (tasks._snapshot).

pyinfra's ``server.user`` and ``server.group`` read three facts each (every user, every
group, the OS) per call, also when nothing differs: a round trip apiece. Gated on
:func:`differs`, they run only when the account is missing or not as wanted.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable

from . import _snapshot as snapshot


def differs(user: str, group: str | None, *, home: str, shell: str, uid: int | None = None,
            gid: int | None = None) -> Callable[[], bool]:
    """A check (for ``_if=``) that is true when ``user`` — with ``group`` as its primary
    group, this home and shell, and the fixed uid/gid if given — is not on the host."""
    command = "; ".join(([f"getent group {shlex.quote(group)}"] if group else [])
                        + [f"getent passwd {shlex.quote(user)}"])
    snapshot.register(commands=[command])

    def check() -> bool:
        # getent lines: group  name:x:gid:members  (3 colons)
        #               passwd name:x:uid:gid:gecos:home:shell  (6 colons)
        lines = [line.split(":") for line in snapshot.output(command).splitlines()]
        found_group = next((f for f in lines if len(f) == 4 and f[0] == group), None)
        found_user = next((f for f in lines if len(f) == 7 and f[0] == user), None)
        if found_user is None or (group and found_group is None):
            return True
        if uid is not None and found_user[2] != str(uid):
            return True
        if found_group and (found_user[3] != found_group[2]
                            or (gid is not None and found_group[2] != str(gid))):
            return True
        return found_user[5:] != [home, shell]

    return check

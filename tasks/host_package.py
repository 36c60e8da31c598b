"""The host package ``mailops_host`` on the host: one operation, one read when current.

What is in the package and its VERSION (the mailops version plus a digest of every file
of the package tree, subpackages included) is mailops.services.onhost. The installed
VERSION is read in the deploy's one pass (tasks._snapshot); only when it differs does
the whole package travel, as ONE archive, to be unpacked beside the running version,
byte-compiled there (the bounce hook runs as a user that cannot write __pycache__) and
switched in by one rename(2) (onhost.install_script). So a converged host pays nothing
for however many modules the package holds, and any change of any file is an upgrade.
"""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import StringCommand, operation
from pyinfra.api.operation import OperationMeta

from mailops.services import onhost

from . import _snapshot as snapshot
from ._common import scratch_file
from ._staged import upload_command

# Where the hook's modules lay as loose files before the host package existed. It goes
# once master.cf no longer names it: Postfix reloads after the bounce task, so this is
# one deploy after the switch, never under a running pipe(8).
LEGACY_LIB = f"{onhost.HOST_LIB}/bounce"
_UNUSED = "legacy-unused"
# The installed VERSION, and whether the old loose folder is left over and unused.
INSTALLED = (f"cat {onhost.PACKAGE_DIR}/VERSION 2>/dev/null; [ -d {LEGACY_LIB} ] && "
             f"! grep -qs {LEGACY_LIB}/ /etc/postfix/master.cf && echo {_UNUSED}; true")


def install() -> OperationMeta:
    """The package installed whole when the host has another VERSION (or none).
    ``onhost.HOST_LIB`` must exist (an earlier operation makes it)."""
    snapshot.register(commands=[INSTALLED])
    version = onhost.package_version()
    return _host_package(name=f"Host package {onhost.PACKAGE} {version} (installed whole "
                              "when the host has another version)", version=version)


@operation()
def _host_package(version: str):
    lines = snapshot.output(INSTALLED).split()
    installed = next((x for x in lines if x != _UNUSED), "")
    if _UNUSED in lines:
        yield StringCommand(f"rm -rf {LEGACY_LIB}")
    if installed == version:
        if _UNUSED not in lines:
            host.noop(f"{onhost.PACKAGE} {version} is installed")
        return
    host.log(f"{onhost.PACKAGE}: {installed or 'not installed'} -> {version}")
    tarball = f"{onhost.HOST_LIB}/.{onhost.PACKAGE}-{version}.tar"
    yield upload_command(scratch_file(onhost.package_tarball(), f"{onhost.PACKAGE}.tar"),
                         tarball)
    yield StringCommand(onhost.install_script(tarball))

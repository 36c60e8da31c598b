"""Validate before live: a service's rendered files go up as ONE operation, are checked
in a staging copy, and only then replace the live files.

:func:`staged_files` is the one mechanism every service task uses for its config files
and keys:

1. Owner, mode and SHA-256 of every managed file and directory come from the deploy's
   one-pass host snapshot (tasks._snapshot): a converged host costs one round trip
   for all sets together, however many domains (files) they hold.
2. Nothing differs: nothing runs (``host.noop``). Only owner/mode differ: chown/chmod.
3. Content differs: the changed files travel as ONE tar archive into a private
   staging directory (``/etc/mailops/staging/<set>``, root 0700) that mirrors the live
   paths, next to copies of the set's unchanged live files, so the checker sees the
   complete new configuration. The ``check`` command (e.g. ``postfix -c
   {stage}/etc/postfix check``) runs against that copy. It fails: the staging copy is
   removed, the operation fails with the checker's own message, and the live files —
   and the running service, whose reload is gated on this operation — stay as they
   were. It passes: each changed file is renamed over its live path (rename(2) on the
   same file system as /etc: a reader sees the old or the new file, never half of one).

Content is never shown: uploads are compared by digest, the archive is a private local
file, and ``--diff`` logs only the paths that will be replaced (DKIM keys and password
hashes go through here too).
"""

from __future__ import annotations

import io
import shlex
import tarfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from pyinfra import host, logger, state
from pyinfra.api import FileUploadCommand, OperationError, StringCommand, operation
from pyinfra.api.operation import OperationMeta
from pyinfra.api.util import get_file_sha256

from . import _snapshot as snapshot
from ._common import TEMPLATES, scratch_file

STAGING_ROOT = "/etc/mailops/staging"

# (host, set name) -> the paths the set's operation changes, recorded when it runs, so
# a task can pick restart or reload by WHICH files changed.
_CHANGED: dict[tuple[str, str], set[str]] = {}


def changed_paths(set_name: str) -> set[str]:
    """Files and directories of ``set_name`` that its operation changed on this host."""
    return _CHANGED.get((host.name, set_name), set())


@dataclass(frozen=True)
class Managed:
    """One file of a set: where it goes, its local source (a private scratch file or
    the operator's file), and the owner and mode it must have."""

    dest: str
    src: str
    user: str = "root"
    group: str = "root"
    mode: str = "644"


@dataclass(frozen=True)
class Dir:
    path: str
    user: str = "root"
    group: str = "root"
    mode: str = "755"


def rendered(template: str, dest: str, context: dict, **owner: str) -> Managed:
    """A file rendered from templates/<template> with the Jinja options of services.render."""
    from mailops.services.render import render

    assert (TEMPLATES / template).is_file(), template
    return text(render(template, **context), dest, **owner)


def text(content: str, dest: str, **owner: str) -> Managed:
    """A file with this content (kept in a private local scratch file, never an argument)."""
    return Managed(dest, scratch_file(content.encode(), Path(dest).name), **owner)


def local(path: str | Path, dest: str, **owner: str) -> Managed:
    return Managed(dest, str(path), **owner)


def _same_meta(found: tuple, user: str, group: str, mode: str) -> bool:
    return found[1] == int(mode, 8) and found[2] == user and found[3] == group


def _chown_chmod(path: str, user: str, group: str, mode: str) -> str:
    return (f"chown {shlex.quote(user)}:{shlex.quote(group)} {shlex.quote(path)} && "
            f"chmod {mode} {shlex.quote(path)}")


def _bundle(files: list[Managed]) -> str:
    """The changed files as one tar archive (paths relative to /, owner and mode set),
    written to a private local scratch file named after its content."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for f in files:
            data = Path(f.src).read_bytes()
            info = tarfile.TarInfo(f.dest.lstrip("/"))
            info.size, info.mode = len(data), int(f.mode, 8)
            info.uname, info.gname = f.user, f.group
            tar.addfile(info, io.BytesIO(data))
    return scratch_file(buf.getvalue(), "bundle.tar")


def upload_command(src: str, dest: str) -> FileUploadCommand:
    """Upload the local file ``src`` to ``dest``, inside an operation (as files.put does)."""
    temp_dir = (host.current_op_global_arguments or {}).get("_temp_dir")
    return FileUploadCommand(src, dest, remote_temp_filename=host.get_temp_filename(
        dest, temp_directory=temp_dir))


def _q(paths: Iterable[str]) -> str:
    return " ".join(shlex.quote(p) for p in paths)


def staged_files(*, name: str, set_name: str, files: list[Managed],
                 dirs: list[Dir] | None = None, check: str | None = None) -> OperationMeta:
    """The operation below, its paths announced to the one-pass host snapshot first."""
    snapshot.register(files=[f.dest for f in files], dirs=[d.path for d in dirs or []])
    return _staged_files(name=name, set_name=set_name, files=files, dirs=dirs, check=check)


@operation()
def _staged_files(set_name: str, files: list[Managed], dirs: list[Dir] | None = None,
                  check: str | None = None):
    """Make ``dirs`` and ``files`` exactly as given; new content goes live only after
    ``check`` (``{stage}`` = the staging root that mirrors /) passed on a staged copy.

    + set_name: short name of the set, names its staging directory
    + files: the set's files (:class:`Managed`)
    + dirs: directories to create or fix first (parents before children)
    + check: shell command that exits non-zero on a bad configuration
    """
    dirs = dirs or []
    for f in files:
        if not Path(f.src).is_file():
            raise OperationError(f"{set_name}: found no local file {f.src}; expected the "
                                 f"source of {f.dest}")
    found = snapshot.current(files=[f.dest for f in files],
                             dirs=[d.path for d in dirs])["files"]
    for f in files:
        if f.dest in found and found[f.dest][0] != "regular file" \
                and found[f.dest][0] != "regular empty file":
            raise OperationError(
                f"{set_name}: found {f.dest} on the host but it is a {found[f.dest][0]}; "
                "expected a regular file — move it away and run the deploy again")

    fix_dirs = [d for d in dirs
                if found.get(d.path, ("",))[0] != "directory"
                or not _same_meta(found[d.path], d.user, d.group, d.mode)]
    if fix_dirs:
        yield StringCommand(" && ".join(
            f"install -d -m {d.mode} -o {shlex.quote(d.user)} -g {shlex.quote(d.group)} "
            f"{shlex.quote(d.path)}" for d in fix_dirs))

    new = [f for f in files if f.dest not in found or found[f.dest][4] != get_file_sha256(f.src)]
    meta = [f for f in files if f not in new and not _same_meta(found[f.dest], f.user,
                                                                  f.group, f.mode)]
    if meta:
        yield StringCommand(" && ".join(_chown_chmod(f.dest, f.user, f.group, f.mode)
                                        for f in meta))

    _CHANGED[(host.name, set_name)] = {x.path for x in fix_dirs} | {
        f.dest for f in [*meta, *new]}
    if new:
        yield from _stage_check_install(set_name, files, new, found, check)
    if not (fix_dirs or meta or new):
        host.noop(f"{set_name}: {len(files)} files up to date")


def _stage_check_install(set_name: str, files: list[Managed], new: list[Managed],
                         found: dict, check: str | None):
    stage = f"{STAGING_ROOT}/{set_name}"
    if state.config.DIFF:
        for f in new:
            host.log(f"Will replace {f.dest} (checked in {stage} first)", logger.info)
    # The checker must see the whole new configuration: the set's unchanged live files
    # beside the new ones.
    keep = [f.dest for f in files if f not in new and f.dest in found] if check else []
    prepare = [f"rm -rf {shlex.quote(stage)}", f"install -d -m 700 {shlex.quote(stage)}"]
    if keep:
        # Relative names from /: coreutils 9.1 `cp -p --parents` fails on absolute ones.
        prepare.append(f"( cd / && cp -p --parents -- {_q(k.lstrip('/') for k in keep)} "
                       f"{shlex.quote(stage)}/ )")
    yield StringCommand(" && ".join(prepare))

    archive = f"{stage}/.bundle.tar"
    yield upload_command(_bundle(new), archive)
    # --same-owner/--same-permissions: owner and mode from the archive (by name);
    # --touch: a new mtime, which is how Dovecot notices a changed passwd-file.
    unpack = (f"tar -x --same-owner --same-permissions --touch -f {shlex.quote(archive)} "
              f"-C {shlex.quote(stage)} && rm -f {shlex.quote(archive)}")
    if check:
        command = check.replace("{stage}", shlex.quote(stage))
        unpack += (f" && {{ ( {command} ) >&2 || {{ rc=$?; rm -rf {shlex.quote(stage)}; "
                   f"echo 'mailops: {set_name}: the check failed on the staged copy; the "
                   f"live files and the running service are unchanged' >&2; exit $rc; }}; }}")
    yield StringCommand(unpack)
    parents = sorted({str(Path(f.dest).parent) for f in new})
    yield StringCommand(" && ".join(
        [f"mkdir -p {_q(parents)}"]
        + [f"mv -f {shlex.quote(stage + f.dest)} {shlex.quote(f.dest)}" for f in new]
        + [f"rm -rf {shlex.quote(stage)}"]))


@dataclass(frozen=True)
class Owned:
    """A file the host itself writes (a database, a generated secret): its content is
    not ours to compare or show, only its owner and mode."""

    path: str
    user: str
    group: str
    mode: str


def owner_and_mode(*, name: str, files: list[Owned]) -> OperationMeta:
    """chown/chmod those of ``files`` that exist and differ, decided from the one-pass
    host snapshot (stat only: never hashed, never read)."""
    snapshot.register(stat=[f.path for f in files])
    return _owner_and_mode(name=name, files=files)


@operation()
def _owner_and_mode(files: list[Owned]):
    found = snapshot.current(stat=[f.path for f in files])["files"]
    # One not there yet is made by an earlier operation of the deploy (a dry run, where
    # that did not run, has nothing to fix).
    fix = [f for f in files if f.path in found and not _same_meta(found[f.path], f.user,
                                                                    f.group, f.mode)]
    if fix:
        yield StringCommand(" && ".join(_chown_chmod(f.path, f.user, f.group, f.mode)
                                        for f in fix))
    else:
        host.noop(f"{len(files)} files: owner and mode as wanted")

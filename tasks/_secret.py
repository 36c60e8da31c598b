"""A pyinfra operation for secrets: upload a local file without ever showing its content.

pyinfra 3.10's ``files.put`` (and ``files.template``, which calls it) prints a full
content diff under ``--diff``: for a new file every line ("Will create ..."), for a
changed one it even reads the CURRENT remote file back (the ``FileContents`` fact) and
prints old and new lines. For a DKIM or TLS private key, or the Dovecot passwd-file,
that would put key material or password hashes into terminals and CI logs.

:func:`secret_file` decides "changed or not" from SHA-256 digests only (the
``Sha256File`` fact, compared with the digest of the local file), never reads the
remote content, and under ``--diff`` logs only that the file will be replaced. Name
every call (``name=...``) so that pyinfra never auto-names the operation from its
arguments.

The upload cannot briefly expose the content: when the destination does not exist yet
it is first created empty with its final owner and mode, and the upload then writes
into that file (sftp and ``cp`` keep the existing mode and owner of the target).
Residual risk, by pyinfra's design: with ``_sudo``/``_su_user`` the connector first
stages the content in a temporary file of the SSH user (``_temp_dir``, default /tmp)
for the duration of the copy; deploy as root, or pass ``_temp_dir`` pointing at a
directory only the SSH user can read.
"""

from __future__ import annotations

from pathlib import Path

from pyinfra import host, logger, state
from pyinfra.api import FileUploadCommand, OperationError, QuoteString, StringCommand, operation
from pyinfra.api.util import get_file_sha256
from pyinfra.facts.files import File, Sha256File


@operation()
def secret_file(src: str, dest: str, user: str, group: str, mode: str = "600"):
    """Upload the local file ``src`` to ``dest`` (owner/mode enforced), content never shown.

    + src: absolute path of the local file (never its content: operation arguments may
      be logged)
    + dest: absolute remote path
    + user, group, mode: wanted owner and permissions, e.g. ``"600"``
    """
    local = Path(src)
    if not local.is_file():
        raise OperationError(
            f"secret_file: found no local file {src}; expected the file to upload to {dest}"
        )
    want_mode = int(mode)
    remote = host.get_fact(File, path=dest)
    if remote is False:
        raise OperationError(
            f"secret_file: found {dest} on the host but it is not a regular file; expected a "
            "file or nothing — move it away and run the deploy again."
        )

    changed = False
    if not remote:
        # Create it empty with its final owner and mode first: the content never sits in
        # a file readable by anyone else, not even for the moment of the upload.
        yield StringCommand(
            "install", "-m", mode, "-o", QuoteString(user), "-g", QuoteString(group),
            "/dev/null", QuoteString(dest),
        )
        changed = True
    elif remote["mode"] != want_mode or remote["user"] != user or remote["group"] != group:
        # Fix permissions BEFORE anything else, and before the content may change.
        yield StringCommand("chown", QuoteString(f"{user}:{group}"), QuoteString(dest))
        yield StringCommand("chmod", mode, QuoteString(dest))
        changed = True

    remote_sum = host.get_fact(Sha256File, path=dest) if remote else None
    if remote_sum != get_file_sha256(str(local)):
        if state.config.DIFF:
            host.log(f"Will replace {dest} (secret: content not shown)", logger.info)
        temp_dir = None
        if host.current_op_global_arguments:
            temp_dir = host.current_op_global_arguments.get("_temp_dir")
        yield FileUploadCommand(
            str(local), dest,
            remote_temp_filename=host.get_temp_filename(dest, temp_directory=temp_dir),
        )
        # Owner/mode again: a sudo upload `cp`s onto the existing file (keeps them), but
        # be explicit rather than rely on the connector.
        yield StringCommand("chown", QuoteString(f"{user}:{group}"), QuoteString(dest))
        yield StringCommand("chmod", mode, QuoteString(dest))
        changed = True

    if not changed:
        host.noop(f"secret {dest} is up to date")

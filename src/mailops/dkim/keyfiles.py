"""The keystore on disk: private directories and files, crash-safe writes, the lock.

Layout (all outside git; directories 0700, files 0600)::

    <keystore>/                         0700
      <domain>/                         0700
        history.jsonl                   0600  append-only event log: THE state
        <selector>.private              0600  PEM private key, written once (O_EXCL)
        .lock                           0600  flock(2) held by a running rotation

An event is committed by one line appended with O_APPEND and fsync'd; a line cut
short by a crash was never committed, and the next append removes it first.

Key files are written to a temporary name (O_EXCL, 0600), fsync'd, then
hard-linked to ``<selector>.private`` — link(2) fails if the name exists, so a
key file is never overwritten and never seen half-written.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

from ..inventory import is_domain
from . import keys as keymod
from .keyrecord import KeystoreBusy, KeystoreError

HISTORY = "history.jsonl"
LOCK = ".lock"
KEY_SUFFIX = ".private"


def check_domain(domain: str) -> str:
    # The domain becomes a directory name: only a validated DNS name may.
    if not is_domain(domain):
        raise KeystoreError(
            f"keystore: found domain {domain!r}; expected a lower-case domain name such as "
            "'example.com'"
        )
    return domain


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def mkdir_private(path: Path) -> None:
    created = False
    try:
        path.mkdir(mode=0o700)
        created = True
    except FileExistsError:
        pass
    # mkdir honours the umask and an existing directory may be wider: enforce.
    if (path.stat().st_mode & 0o777) != 0o700:
        os.chmod(path, 0o700)
    if created:
        fsync_dir(path.parent)


def append_line(d: Path, line: bytes) -> None:
    """Commit one history line: appended, fsync'd, a torn last line dropped first."""
    path = d / HISTORY
    created = not path.exists()
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.fchmod(fd, 0o600)
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            # A torn, never-committed line from a crashed writer: drop it.
            data = os.pread(fd, size, 0)
            os.ftruncate(fd, data.rfind(b"\n") + 1)
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)
    if created:
        fsync_dir(d)


def write_key_file(final: Path, selector: str, private: keymod.PrivateKeyPem) -> Path:
    """Write a new key file; never overwrite one (link(2) fails on an existing name)."""
    tmp = final.with_name(f".{selector}.tmp.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, private.to_bytes())
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, final)
    finally:
        tmp.unlink()
    fsync_dir(final.parent)
    return final


def clean_tmp(d: Path) -> None:
    """Remove temporary key files a crashed writer left behind."""
    for f in d.glob(".s*.tmp.*"):
        with contextlib.suppress(FileNotFoundError):
            f.unlink()


@contextlib.contextmanager
def hold_lock(d: Path, domain: str) -> Iterator[None]:
    """Hold the domain's rotation lock (non-blocking: a second run fails fast)."""
    mkdir_private(d)
    fd = os.open(d / LOCK, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            if e.errno in (errno.EAGAIN, errno.EACCES):
                raise KeystoreBusy(
                    f"{domain}: another mailops process is changing this domain's DKIM keys "
                    f"(lock {d / LOCK} is held); wait for it to finish and run again"
                ) from None
            raise
        yield
    finally:
        os.close(fd)

"""The local DKIM keystore: private keys plus an append-only, auditable history.

On-disk layout (all outside git; directories 0700, files 0600)::

    <keystore>/                         0700
      <domain>/                         0700
        history.jsonl                   0600  append-only event log: THE state
        <selector>.private              0600  PEM private key, written once (O_EXCL)
        .lock                           0600  flock(2) held by a running rotation

Why an event log and not a state file: every transition is one JSON line,
appended with O_APPEND and fsync'd before the step that depends on it runs.
The current state of every key is the replay of the log, so there is no second
file that could disagree with it after a crash, and the log *is* the audit
trail (who became active when, which record was withdrawn when). A line cut
short by a crash was never committed: readers ignore an unterminated last line
and the next append removes it first.

Key files are written to a temporary name (O_EXCL, 0600), fsync'd, then
hard-linked to ``<selector>.private`` — link(2) fails if the name exists, so a
key file is never overwritten and never seen half-written. A key file without
a history line (the process died between the two) is an *orphan*: never
published anywhere, so it is adopted by the next key generation of the same
algorithm, and its selector is never handed out for another key.

Lifecycle of a key (see rotation.py for the orchestration)::

    pending ──activated──► active ──(next key activated)──► retiring ──► retired
      (publish, wait until visible,     signs              record kept     record withdrawn,
       deploy, probe)                                       until           private key destroyed
                                                            retire_after

Private key bytes never appear in ``repr``/``str`` of anything here, in the
history, or in any message; :class:`Key` holds only the file's path.

One active key per domain, of one algorithm: Debian 12's OpenDKIM 2.11 signs
Ed25519 keys in the PKCS#8 PEM form written here, but cannot dual-sign RSA +
Ed25519 in one message (one SignatureAlgorithm per instance; checked in the
lab, see keys.py and tests/lab/test_lab_dkim_rotation.py).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import secrets
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from ..inventory import is_domain
from . import keys as keymod

# The key record and its states live in keyrecord.py; re-exported here, where most
# callers have always found them.
from .keyrecord import (  # noqa: E402,F401
    ACTIVE,
    FORMAT_VERSION,
    PENDING,
    PUBLISHED_STATES,
    RETIRED,
    RETIRING,
    STATES,
    Clock,
    Key,
    KeystoreBusy,
    KeystoreError,
    fmt_time,
    parse_time,
    utc_now,
)
from .selectors import is_selector, next_selector

HISTORY = "history.jsonl"
LOCK = ".lock"
KEY_SUFFIX = ".private"


def _check_domain(domain: str) -> str:
    # The domain becomes a directory name: only a validated DNS name may.
    if not is_domain(domain):
        raise KeystoreError(
            f"keystore: found domain {domain!r}; expected a lower-case domain name such as "
            "'example.com'"
        )
    return domain


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _mkdir_private(path: Path) -> None:
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
        _fsync_dir(path.parent)


class Keystore:
    """DKIM keys of every hosted domain, with their lifecycle state.

    ``clock`` (a callable returning an aware datetime) stamps every recorded
    transition; tests inject one.
    """

    def __init__(self, path: str | Path, clock: Clock | None = None, *, create: bool = True):
        self.path = Path(path).expanduser()
        self.clock: Clock = clock or utc_now
        # create=False: a reader (the deploy, `dns plan`, `check`) that must leave no
        # trace; a keystore that does not exist then simply has no keys.
        if create:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            _mkdir_private(self.path)

    def __repr__(self) -> str:
        return f"Keystore({str(self.path)!r})"

    # ------------------------------------------------------------------ reading

    def domain_dir(self, domain: str) -> Path:
        return self.path / _check_domain(domain)

    def history_path(self, domain: str) -> Path:
        return self.domain_dir(domain) / HISTORY

    def key_path(self, domain: str, selector: str) -> Path:
        if not is_selector(selector):
            raise KeystoreError(f"keystore: found selector {selector!r}; expected like 's202611a'")
        return self.domain_dir(domain) / (selector + KEY_SUFFIX)

    def domains(self) -> list[str]:
        """Domains with at least one recorded key."""
        out = []
        if not self.path.is_dir():
            return out
        for child in sorted(self.path.iterdir()):
            if child.is_dir() and is_domain(child.name) and (child / HISTORY).is_file():
                out.append(child.name)
        return out

    def history(self, domain: str) -> list[dict]:
        """Every committed event of the domain, oldest first."""
        path = self.history_path(domain)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return []
        lines = data.split(b"\n")
        # The piece after the last newline is an uncommitted (torn) write.
        committed = lines[:-1]
        events = []
        for number, line in enumerate(committed, 1):
            try:
                event = json.loads(line)
                if not isinstance(event, dict) or "event" not in event:
                    raise ValueError("not an event object")
            except ValueError as e:
                raise KeystoreError(
                    f"{path}: line {number} is not a keystore event ({e}); the history is the "
                    "record of which keys are published and active, so nothing was changed. "
                    "Restore the file from a backup or fix the line by hand."
                ) from None
            events.append(event)
        return events

    def keys(self, domain: str) -> list[Key]:
        """All keys of the domain, retired ones included, oldest first."""
        return list(self._replay(domain).values())

    def key(self, domain: str, selector: str) -> Key:
        found = self._replay(domain).get(selector)
        if found is None:
            raise KeystoreError(f"keystore: {domain} has no key with selector {selector!r}")
        return found

    def signing_key(self, domain: str) -> Key | None:
        """The active key: the one the hosts sign with."""
        active = [k for k in self.keys(domain) if k.state == ACTIVE]
        return active[-1] if active else None

    def pending_key(self, domain: str) -> Key | None:
        pending = [k for k in self.keys(domain) if k.state == PENDING]
        return pending[-1] if pending else None

    def published(self, domain: str) -> list[Key]:
        """Keys whose TXT record must be in DNS: pending, active and retiring.

        A retiring key whose record was already withdrawn (the process stopped
        before its private key was destroyed) is no longer included.
        """
        return [
            k
            for k in self.keys(domain)
            if k.state in PUBLISHED_STATES and not k.done("withdrawn")
        ]

    def orphans(self, domain: str) -> list[str]:
        """Selectors with a key file but no history (process died in between)."""
        known = set(self._replay(domain))
        d = self.domain_dir(domain)
        if not d.is_dir():
            return []
        out = []
        for f in sorted(d.glob("*" + KEY_SUFFIX)):
            sel = f.name[: -len(KEY_SUFFIX)]
            if is_selector(sel) and sel not in known:
                out.append(sel)
        return out

    def _replay(self, domain: str) -> dict[str, Key]:
        keys: dict[str, Key] = {}
        d = self.domain_dir(domain)
        for ev in self.history(domain):
            kind, sel = ev["event"], ev.get("selector", "")
            at = parse_time(ev["at"])
            if kind in ("generated", "bootstrapped"):
                if sel in keys:
                    raise KeystoreError(f"{d / HISTORY}: selector {sel} generated twice")
                keys[sel] = Key(
                    domain=domain,
                    selector=sel,
                    algorithm=ev["algorithm"],
                    state=ACTIVE if kind == "bootstrapped" else PENDING,
                    txt_value=ev["txt"],
                    created=at,
                    since=at,
                    private_key_path=d / (sel + KEY_SUFFIX),
                )
                continue
            if sel not in keys:
                raise KeystoreError(f"{d / HISTORY}: event {kind!r} for unknown selector {sel!r}")
            k = keys[sel]
            if kind == "activated":
                keys[sel] = _evolve(k, state=ACTIVE, since=at, progress=())
                for prev in ev.get("previous", []):
                    p = keys[prev["selector"]]
                    keys[p.selector] = _evolve(
                        p, state=RETIRING, since=at,
                        retire_after=parse_time(prev["retire_after"]), progress=(),
                    )
            elif kind == "retired":
                keys[sel] = _evolve(k, state=RETIRED, since=at, private_key_path=None)
            else:  # progress marker: published, visible, deployed, probe-failed, withdrawn
                keys[sel] = _evolve(k, progress=k.progress + ((kind, at),))
        return keys

    # ------------------------------------------------------------------ writing

    def _append(self, domain: str, event: dict) -> None:
        """Commit one event: a single fsync'd line appended to the history."""
        d = self.domain_dir(domain)
        _mkdir_private(d)
        path = d / HISTORY
        record = {"v": FORMAT_VERSION, "at": fmt_time(event.pop("at", None) or self.clock())}
        record.update(event)
        line = (json.dumps(record, sort_keys=True, separators=(", ", ": ")) + "\n").encode()
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
            _fsync_dir(d)

    def _write_key_file(self, domain: str, selector: str, private: keymod.PrivateKeyPem) -> Path:
        """Write a new key file; never overwrite one (link(2) fails on an existing name)."""
        final = self.key_path(domain, selector)
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
        _fsync_dir(final.parent)
        return final

    def _clean_tmp(self, domain: str) -> None:
        for f in self.domain_dir(domain).glob(".s*.tmp.*"):
            with contextlib.suppress(FileNotFoundError):
                f.unlink()

    @contextlib.contextmanager
    def lock(self, domain: str) -> Iterator[None]:
        """Hold the domain's rotation lock (non-blocking: a second run fails fast)."""
        d = self.domain_dir(domain)
        _mkdir_private(d)
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

    def _new_key(self, domain: str, algorithm: str, event: str) -> Key:
        keymod.check_algorithm(algorithm)
        d = self.domain_dir(domain)
        _mkdir_private(d)
        self._clean_tmp(domain)
        now = self.clock()
        for sel in self.orphans(domain):
            path = self.key_path(domain, sel)
            pem = path.read_bytes()
            try:
                if keymod.algorithm_of(pem) != algorithm:
                    continue
                txt = keymod.txt_value_from_pem(pem)
            except keymod.KeyFormatError:
                continue
            os.chmod(path, 0o600)
            self._append(domain, {"at": now, "event": event, "selector": sel,
                                  "algorithm": algorithm, "txt": txt, "adopted": True})
            return self.key(domain, sel)
        new = keymod.generate(algorithm)
        taken = set(self._replay(domain)) | set(self.orphans(domain))
        while True:
            sel = next_selector(now, taken)
            try:
                self._write_key_file(domain, sel, new.private)
                break
            except FileExistsError:
                taken.add(sel)  # someone else's file: never overwrite it, take the next name
        self._append(domain, {"at": now, "event": event, "selector": sel,
                              "algorithm": algorithm, "txt": new.txt_value})
        return self.key(domain, sel)

    def ensure_key(self, domain: str, algorithm: str = keymod.DEFAULT_ALGORITHM) -> Key:
        """The domain's active key; on a domain with no key at all, make one ACTIVE at once.

        NOT how mailops starts signing a domain: the deploy never creates keys,
        and `mailops dkim rotate` takes a domain's first key through publish,
        wait, deploy and probe before it is active. This is for importing a key
        whose record is already in DNS and for tests that need an active key.
        Once a domain has keys, changing them is the rotation's job
        (publish, wait, deploy, probe, then activate): this never generates a
        second key, never overwrites one, and returns the active key even if
        its algorithm differs from ``algorithm`` (run `mailops dkim rotate` to
        switch algorithms).
        """
        keymod.check_algorithm(algorithm)
        active = self.signing_key(domain)
        if active is not None:
            return active
        if self.keys(domain):
            states = ", ".join(f"{k.selector} {k.state}" for k in self.keys(domain))
            raise KeystoreError(
                f"{domain}: found DKIM keys ({states}) but none is active; expected one active "
                "key to sign with. A rotation is probably half done: run "
                f"`mailops dkim rotate {domain}` to finish it, then deploy again."
            )
        with self.lock(domain):
            if self.keys(domain):  # someone bootstrapped while we waited
                return self.ensure_key(domain, algorithm)
            return self._new_key(domain, algorithm, "bootstrapped")

    def create_pending(self, domain: str, algorithm: str) -> Key:
        """Step 1 of a rotation: a new key, pending (not signing, not yet published)."""
        if self.pending_key(domain) is not None:
            raise KeystoreError(f"{domain}: a pending key exists already; finish that rotation")
        return self._new_key(domain, algorithm, "generated")

    def record(self, domain: str, selector: str, step: str, **details) -> Key:
        """Record a progress step of a pending key (published, visible, deployed, …)."""
        if step not in ("published", "visible", "deployed", "probe-failed"):
            raise KeystoreError(f"unknown progress step {step!r}")
        k = self.key(domain, selector)
        if k.state != PENDING:
            raise KeystoreError(
                f"{domain} {selector}: is {k.state}, not pending; cannot record {step}")
        event = {"event": step, "selector": selector}
        event.update(details)
        self._append(domain, event)
        return self.key(domain, selector)

    def activate(self, domain: str, selector: str, retire_after: datetime) -> Key:
        """Make a pending key active and every other active key retiring — one atomic line."""
        k = self.key(domain, selector)
        if k.state != PENDING:
            raise KeystoreError(f"{domain} {selector}: is {k.state}; only a pending key can "
                                "become active")
        for step in ("visible", "deployed"):
            if not k.done(step):
                raise KeystoreError(
                    f"{domain} {selector}: cannot activate a key that was never {step}; "
                    "a key must be visible in DNS and deployed before it signs"
                )
        previous = [p for p in self.keys(domain) if p.state == ACTIVE]
        self._append(domain, {
            "event": "activated",
            "selector": selector,
            "previous": [{"selector": p.selector, "retire_after": fmt_time(retire_after)}
                         for p in previous],
        })
        return self.key(domain, selector)

    def mark_withdrawn(self, domain: str, selector: str) -> Key:
        """Record that a retiring key's TXT record was removed from DNS."""
        k = self.key(domain, selector)
        now = self.clock()
        if k.state != RETIRING or k.retire_after is None or k.retire_after > now:
            raise KeystoreError(
                f"{domain} {selector}: is {k.state} (retire after {k.retire_after}); a record "
                "may be withdrawn only once its key is retiring and past its retire-after time"
            )
        if not k.done("withdrawn"):
            self._append(domain, {"event": "withdrawn", "selector": selector})
        return self.key(domain, selector)

    def destroy(self, domain: str, selector: str) -> Key:
        """Delete a withdrawn key's private key file and record it retired."""
        k = self.key(domain, selector)
        if k.state == RETIRED:
            return k
        if k.state != RETIRING or not k.done("withdrawn"):
            raise KeystoreError(
                f"{domain} {selector}: is {k.state}; a private key is destroyed only after its "
                "record was withdrawn"
            )
        path = self.key_path(domain, selector)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        _fsync_dir(path.parent)
        self._append(domain, {"event": "retired", "selector": selector})
        return self.key(domain, selector)


def _evolve(k: Key, **changes) -> Key:
    from dataclasses import replace

    return replace(k, **changes)

"""The local DKIM keystore: private keys plus an append-only, auditable history.

A domain's keys live in ``<keystore>/<domain>/`` (layout and crash-safe writes:
keyfiles.py); their state is the replay of the append-only history journal
(keyhistory.py). This module is the keystore's interface: queries, and the
transitions a rotation records.

A key file without a history line (the process died between writing it and
recording it) is an *orphan*: never published anywhere, so it is adopted by the
next key generation of the same algorithm, and its selector is never handed
out for another key.

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
import json
import os
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from ..inventory import is_domain
from . import keys as keymod
from .keyfiles import (
    HISTORY,
    KEY_SUFFIX,
    append_line,
    check_domain,
    clean_tmp,
    fsync_dir,
    hold_lock,
    mkdir_private,
    write_key_file,
)
from .keyhistory import read_history, replay

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
            mkdir_private(self.path)

    def __repr__(self) -> str:
        return f"Keystore({str(self.path)!r})"

    # ------------------------------------------------------------------ reading

    def domain_dir(self, domain: str) -> Path:
        return self.path / check_domain(domain)

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
        return read_history(self.history_path(domain))

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
        return replay(domain, self.domain_dir(domain), self.history(domain))

    # ------------------------------------------------------------------ writing

    def _append(self, domain: str, event: dict) -> None:
        """Commit one event: a single fsync'd line appended to the history."""
        d = self.domain_dir(domain)
        mkdir_private(d)
        record = {"v": FORMAT_VERSION, "at": fmt_time(event.pop("at", None) or self.clock())}
        record.update(event)
        line = (json.dumps(record, sort_keys=True, separators=(", ", ": ")) + "\n").encode()
        append_line(d, line)

    def _write_key_file(self, domain: str, selector: str, private: keymod.PrivateKeyPem) -> Path:
        """Write a new key file; never overwrite one (link(2) fails on an existing name)."""
        return write_key_file(self.key_path(domain, selector), selector, private)

    def _clean_tmp(self, domain: str) -> None:
        clean_tmp(self.domain_dir(domain))

    @contextlib.contextmanager
    def lock(self, domain: str) -> Iterator[None]:
        """Hold the domain's rotation lock (non-blocking: a second run fails fast)."""
        with hold_lock(self.domain_dir(domain), domain):
            yield

    def _new_key(self, domain: str, algorithm: str, event: str) -> Key:
        keymod.check_algorithm(algorithm)
        d = self.domain_dir(domain)
        mkdir_private(d)
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
        fsync_dir(path.parent)
        self._append(domain, {"event": "retired", "selector": selector})
        return self.key(domain, selector)

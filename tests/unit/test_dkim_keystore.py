"""The keystore: permissions, selectors, never overwriting, an auditable history."""

from __future__ import annotations

import json
import os
import stat
from datetime import UTC, datetime, timedelta

import pytest

from mailops.dkim import keys as keymod
from mailops.dkim.keystore import (
    ACTIVE,
    PENDING,
    RETIRED,
    RETIRING,
    Keystore,
    KeystoreBusy,
    KeystoreError,
)
from mailops.dkim.selectors import next_selector

DOMAIN = "example.com"
ALG = "ed25519"  # fast to generate; RSA is covered in test_dkim_keys


class Clock:
    def __init__(self, when=datetime(2026, 11, 3, 12, 0, tzinfo=UTC)):
        self.now = when

    def __call__(self):
        return self.now

    def advance(self, **kw):
        self.now += timedelta(**kw)


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def ks(tmp_path, clock):
    return Keystore(tmp_path / "ks", clock=clock)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def _to_active(ks: Keystore, domain=DOMAIN):
    """Drive a pending key to active the way a rotation does."""
    k = ks.create_pending(domain, ALG)
    for step in ("published", "visible", "deployed"):
        ks.record(domain, k.selector, step)
    return ks.activate(domain, k.selector, ks.clock() + timedelta(days=12))


def test_keystore_directory_is_created_0700_even_with_a_permissive_umask(tmp_path, clock):
    old = os.umask(0)
    try:
        ks = Keystore(tmp_path / "a" / "ks", clock=clock)
        ks.ensure_key(DOMAIN, ALG)
    finally:
        os.umask(old)
    assert mode(tmp_path / "a" / "ks") == 0o700
    assert mode(tmp_path / "a" / "ks" / DOMAIN) == 0o700
    for f in (tmp_path / "a" / "ks" / DOMAIN).iterdir():
        assert mode(f) == 0o600, f


def test_an_existing_keystore_directory_that_is_too_open_is_tightened_to_0700(tmp_path, clock):
    (tmp_path / "ks").mkdir(mode=0o755)
    os.chmod(tmp_path / "ks", 0o755)
    Keystore(tmp_path / "ks", clock=clock)
    assert mode(tmp_path / "ks") == 0o700


def test_first_ensure_key_bootstraps_an_active_key_with_a_0600_file(ks):
    key = ks.ensure_key(DOMAIN, ALG)
    assert key.state == ACTIVE
    assert key.selector == "s202611a"
    assert key.algorithm == ALG
    assert key.private_key_path == ks.path / DOMAIN / "s202611a.private"
    assert mode(key.private_key_path) == 0o600
    assert ks.signing_key(DOMAIN) == key
    assert ks.published(DOMAIN) == [key]
    assert ks.domains() == [DOMAIN]
    [event] = ks.history(DOMAIN)
    assert event["event"] == "bootstrapped" and event["at"] == "2026-11-03T12:00:00Z"


def test_ensure_key_again_returns_the_same_key_and_writes_nothing(ks):
    first = ks.ensure_key(DOMAIN, ALG)
    before = (ks.path / DOMAIN / "history.jsonl").read_bytes()
    pem = first.private_key_path.read_bytes()
    again = ks.ensure_key(DOMAIN, ALG)
    assert again == first
    assert (ks.path / DOMAIN / "history.jsonl").read_bytes() == before
    assert first.private_key_path.read_bytes() == pem
    assert sorted(p.name for p in (ks.path / DOMAIN).glob("*.private")) == ["s202611a.private"]


def test_ensure_key_returns_the_active_key_even_when_the_inventory_algorithm_changed(ks):
    key = ks.ensure_key(DOMAIN, ALG)
    assert ks.ensure_key(DOMAIN, "rsa-2048") == key


def test_ensure_key_refuses_a_domain_whose_only_key_is_pending(ks):
    ks.create_pending(DOMAIN, ALG)
    with pytest.raises(KeystoreError, match="dkim rotate example.com"):
        ks.ensure_key(DOMAIN, ALG)


def test_a_key_loaded_by_a_fresh_keystore_from_disk_is_the_same_key(ks, clock):
    ks.ensure_key(DOMAIN, ALG)
    clock.advance(days=40)
    _to_active(ks)
    again = Keystore(ks.path, clock=clock)
    assert again.keys(DOMAIN) == ks.keys(DOMAIN)
    assert [k.state for k in again.keys(DOMAIN)] == [RETIRING, ACTIVE]


def test_selectors_are_year_month_letter_and_follow_the_clock(ks, clock):
    ks.ensure_key(DOMAIN, ALG)
    assert _to_active(ks).selector == "s202611b"
    clock.advance(days=30)
    assert _to_active(ks).selector == "s202612a"


def test_selectors_after_z_continue_with_two_letters_and_never_repeat():
    when = datetime(2026, 11, 1, tzinfo=UTC)
    taken: list[str] = []
    for _ in range(60):
        taken.append(next_selector(when, taken))
    assert taken[:2] == ["s202611a", "s202611b"]
    assert taken[25:28] == ["s202611z", "s202611aa", "s202611ab"]
    assert len(set(taken)) == 60


def test_a_retired_selector_is_never_handed_out_again(ks, clock):
    first = ks.ensure_key(DOMAIN, ALG)
    _to_active(ks)
    clock.advance(days=13)
    ks.mark_withdrawn(DOMAIN, first.selector)
    ks.destroy(DOMAIN, first.selector)
    assert ks.key(DOMAIN, first.selector).state == RETIRED
    # Even a clock set back into the first key's month never reuses its selector.
    clock.now = datetime(2026, 11, 3, tzinfo=UTC)
    k = _to_active(ks)
    assert k.selector not in ("s202611a", "s202611b")
    selectors = [e["selector"] for e in ks.history(DOMAIN) if e["event"] in
                 ("generated", "bootstrapped")]
    assert len(selectors) == len(set(selectors)) == 3


def test_an_unknown_file_with_the_next_selectors_name_is_never_overwritten(ks):
    d = ks.path / DOMAIN
    d.mkdir(mode=0o700)
    (d / "s202611a.private").write_bytes(b"not ours")
    key = ks.ensure_key(DOMAIN, ALG)
    assert key.selector == "s202611b"
    assert (d / "s202611a.private").read_bytes() == b"not ours"


def test_a_key_file_left_without_history_by_a_crash_is_adopted_not_replaced(ks):
    d = ks.path / DOMAIN
    d.mkdir(mode=0o700)
    new = keymod.generate(ALG)
    (d / "s202611a.private").write_bytes(new.private.to_bytes())
    assert ks.orphans(DOMAIN) == ["s202611a"]
    key = ks.ensure_key(DOMAIN, ALG)
    assert key.selector == "s202611a"
    assert key.txt_value == new.txt_value
    assert ks.orphans(DOMAIN) == []
    assert ks.history(DOMAIN)[0]["adopted"] is True


def test_key_files_are_created_exclusively_so_an_existing_name_raises(ks):
    ks.ensure_key(DOMAIN, ALG)
    with pytest.raises(FileExistsError):
        ks._write_key_file(DOMAIN, "s202611a", keymod.generate(ALG).private)


def test_history_is_append_only_json_lines_with_the_injected_time(ks, clock):
    ks.ensure_key(DOMAIN, ALG)
    path = ks.path / DOMAIN / "history.jsonl"
    first = path.read_bytes()
    clock.advance(hours=1)
    _to_active(ks)
    data = path.read_bytes()
    assert data.startswith(first)
    events = [json.loads(line) for line in data.decode().splitlines()]
    assert [e["event"] for e in events] == [
        "bootstrapped", "generated", "published", "visible", "deployed", "activated"
    ]
    assert events[-1]["at"] == "2026-11-03T13:00:00Z"
    assert events[-1]["previous"] == [{"selector": "s202611a",
                                       "retire_after": "2026-11-15T13:00:00Z"}]
    assert all(e["v"] == 1 for e in events)


def test_a_torn_last_history_line_is_ignored_and_dropped_by_the_next_append(ks):
    ks.ensure_key(DOMAIN, ALG)
    path = ks.path / DOMAIN / "history.jsonl"
    good = path.read_bytes()
    with open(path, "ab") as f:
        f.write(b'{"event": "generated", "torn-fragm')
    assert len(ks.history(DOMAIN)) == 1
    ks.create_pending(DOMAIN, ALG)
    data = path.read_bytes()
    assert data.startswith(good) and b"torn-fragm" not in data
    assert [e["event"] for e in ks.history(DOMAIN)] == ["bootstrapped", "generated"]


def test_a_corrupt_committed_history_line_stops_with_an_explanation(ks):
    ks.ensure_key(DOMAIN, ALG)
    path = ks.path / DOMAIN / "history.jsonl"
    path.write_bytes(b"garbage\n" + path.read_bytes())
    with pytest.raises(KeystoreError, match="line 1 is not a keystore event"):
        ks.keys(DOMAIN)


def test_published_lists_pending_active_and_retiring_but_not_withdrawn_or_retired(ks, clock):
    old = ks.ensure_key(DOMAIN, ALG)
    new = _to_active(ks)
    pending = ks.create_pending(DOMAIN, ALG)
    assert [k.selector for k in ks.published(DOMAIN)] == [old.selector, new.selector,
                                                          pending.selector]
    clock.advance(days=13)
    ks.mark_withdrawn(DOMAIN, old.selector)
    assert old.selector not in [k.selector for k in ks.published(DOMAIN)]
    ks.destroy(DOMAIN, old.selector)
    assert [k.state for k in ks.keys(DOMAIN)] == [RETIRED, ACTIVE, PENDING]
    retired = ks.key(DOMAIN, old.selector)
    assert retired.private_key_path is None
    assert not (ks.path / DOMAIN / f"{old.selector}.private").exists()
    assert retired.txt_value == old.txt_value  # the public half stays in the history


def test_a_pending_key_cannot_become_active_before_it_was_visible_and_deployed(ks):
    k = ks.create_pending(DOMAIN, ALG)
    with pytest.raises(KeystoreError, match="never visible"):
        ks.activate(DOMAIN, k.selector, ks.clock())
    ks.record(DOMAIN, k.selector, "published")
    ks.record(DOMAIN, k.selector, "visible")
    with pytest.raises(KeystoreError, match="never deployed"):
        ks.activate(DOMAIN, k.selector, ks.clock())


def test_a_record_cannot_be_withdrawn_before_retire_after_nor_for_an_active_key(ks, clock):
    old = ks.ensure_key(DOMAIN, ALG)
    with pytest.raises(KeystoreError, match="retiring and past"):
        ks.mark_withdrawn(DOMAIN, old.selector)
    new = _to_active(ks)
    clock.advance(days=11)
    with pytest.raises(KeystoreError, match="retiring and past"):
        ks.mark_withdrawn(DOMAIN, old.selector)
    with pytest.raises(KeystoreError, match="only after its record was withdrawn"):
        ks.destroy(DOMAIN, old.selector)
    clock.advance(days=2)
    with pytest.raises(KeystoreError):
        ks.mark_withdrawn(DOMAIN, new.selector)
    ks.mark_withdrawn(DOMAIN, old.selector)


def test_domain_names_that_are_not_dns_names_never_become_paths(ks):
    for bad in ("../etc", "Example.com", "example", "a/b.com"):
        with pytest.raises(KeystoreError, match="lower-case domain name"):
            ks.ensure_key(bad, ALG)


def test_a_second_process_cannot_take_the_rotation_lock_of_a_domain(ks, tmp_path, clock):
    other = Keystore(ks.path, clock=clock)
    with (
        ks.lock(DOMAIN),
        pytest.raises(KeystoreBusy, match="another mailops process"),
        other.lock(DOMAIN),
    ):
        pass
    with other.lock(DOMAIN):
        pass


def test_key_repr_and_str_show_no_private_key_material(ks):
    key = ks.ensure_key(DOMAIN, ALG)
    pem = key.private_key_path.read_bytes().decode()
    body = "".join(pem.splitlines()[1:-1])
    seed = keymod.dkimpy_private_key(pem.encode()).decode()
    for text in (repr(key), str(key), repr(ks.keys(DOMAIN)), repr(key.read_private_key())):
        assert body not in text and seed not in text
    assert "s202611a" in repr(key)
    history = (ks.path / DOMAIN / "history.jsonl").read_text()
    assert body not in history and seed not in history and body[-44:-4] not in history

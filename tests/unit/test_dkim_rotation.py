"""The rotation state machine, with fake DNS and hosts, an injected clock, and every
interruption point: each port raising, each keystore write failing, the process
killed at each step and a fresh Keystore read back from disk.

The fake world checks the safety properties while it runs (a violation is
recorded, never raised, so the rotation cannot swallow it):

- a key is deployed only after ``wait_visible`` returned True for its record;
- the host never signs with a key whose record is not in DNS;
- ``publish`` never drops the record of a pending or active key, of a retiring
  key before its retire-after time, or of the key the host signs with;
- a private key is destroyed on hosts only after its record left DNS;
- a selector always means the same TXT value (never reused);
- key files are never rewritten; directories 0700, files 0600.
"""

from __future__ import annotations

import hashlib
import stat
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dkim
import pytest

from mailops.dkim import keys as keymod
from mailops.dkim.keystore import (
    ACTIVE,
    PENDING,
    RETIRED,
    RETIRING,
    Keystore,
)
from mailops.dkim.report import format_results, status_table
from mailops.dkim.rotation import Rotation, rotate_dkim
from mailops.dkim.turn import DomainPolicy, grace_period, policies_from_hosts

DOMAIN = "example.com"
T0 = datetime(2026, 11, 3, 12, 0, tzinfo=UTC)
POLICY = DomainPolicy(DOMAIN, "ed25519", 5 * 86400)
GRACE = timedelta(days=12)  # 5d queue lifetime + 7d default margin

MESSAGE = (
    b"From: probe@example.com\r\nTo: check@example.org\r\nSubject: probe\r\n"
    b"Message-ID: <p@example.com>\r\n\r\nprobe body\r\n"
)


class Killed(BaseException):
    """The process died here (SIGKILL): nothing in the code under test catches it."""


class Clock:
    def __init__(self, when=T0):
        self.now = when

    def __call__(self):
        return self.now

    def advance(self, **kw):
        self.now += timedelta(**kw)


class World:
    """Authoritative DNS and the signing hosts, as the ports see them."""

    def __init__(self, ks_path: Path, clock: Clock):
        self.ks_path, self.clock = ks_path, clock
        self.dns: dict[str, str] = {}
        self.host_keys: dict[tuple[str, str], bytes] = {}
        self.signing: dict[str, str] = {}
        self.confirmed_visible: set[tuple[str, str]] = set()
        self.calls: list[tuple[str, str]] = []
        self.violations: list[str] = []
        self.lagging: set[str] = set()  # names that are not yet on every server
        self.probe_breaks = False
        self.fail_at: int | None = None
        self.kill = False
        self.checkpoints = 0
        self.labels: list[str] = []
        self.txt_of: dict[tuple[str, str], str] = {}
        self.file_hashes: dict[str, str] = {}
        self.gone_files: set[str] = set()

    def checkpoint(self, label: str, exc) -> None:
        n = self.checkpoints
        self.checkpoints += 1
        self.labels.append(label)
        for d, sel in self.signing.items():
            name = f"{sel}._domainkey.{d}"
            if name not in self.dns:
                self.violations.append(f"host signs with {sel} but {name} is not in DNS")
        if self.fail_at == n:
            self.fail_at = None
            raise Killed(label) if self.kill else exc(f"injected failure at {label}")

    def snapshot(self) -> Keystore:
        return Keystore(self.ks_path, clock=self.clock)

    def check_disk(self) -> None:
        for d in [self.ks_path, *[p for p in self.ks_path.iterdir() if p.is_dir()]]:
            if stat.S_IMODE(d.stat().st_mode) != 0o700:
                self.violations.append(f"{d} is not 0700")
            for f in d.iterdir():
                if f.is_file() and stat.S_IMODE(f.stat().st_mode) != 0o600:
                    self.violations.append(f"{f} is not 0600")
        seen = set()
        for f in self.ks_path.glob("*/*.private"):
            seen.add(str(f))
            digest = hashlib.sha256(f.read_bytes()).hexdigest()
            if str(f) in self.gone_files:
                self.violations.append(f"{f} came back after it was destroyed")
            if self.file_hashes.setdefault(str(f), digest) != digest:
                self.violations.append(f"{f} was overwritten")
        self.gone_files |= set(self.file_hashes) - seen


def _port_error(msg):
    return RuntimeError(msg)


def _disk_error(msg):
    return OSError(28, f"No space left on device ({msg})")


class FakePorts:
    def __init__(self, world: World):
        self.w = world

    def publish(self, domain, records):
        w = self.w
        w.calls.append(("publish", ",".join(r.selector for r in records)))
        w.checkpoint("publish:before", _port_error)
        now = w.clock()
        names = {r.name for r in records}
        for k in w.snapshot().keys(domain):
            needed = k.state in (PENDING, ACTIVE) or (
                k.state == RETIRING and k.retire_after > now
            )
            if needed and k.record_name not in names:
                w.violations.append(f"publish dropped the needed record of {k}")
        if domain in w.signing and f"{w.signing[domain]}._domainkey.{domain}" not in names:
            w.violations.append("publish dropped the record the host signs with")
        for r in records:
            if w.txt_of.setdefault((domain, r.selector), r.value) != r.value:
                w.violations.append(f"selector {r.selector} reused for another key")
        for name in [n for n in w.dns if n.endswith("._domainkey." + domain)]:
            del w.dns[name]
        w.dns.update({r.name: r.value for r in records})
        w.checkpoint("publish:after", _port_error)

    def wait_visible(self, domain, name, value, timeout):
        w = self.w
        w.calls.append(("wait_visible", name.split(".")[0]))
        w.checkpoint("wait_visible:before", _port_error)
        ok = name not in w.lagging and w.dns.get(name) == value
        w.checkpoint("wait_visible:after", _port_error)
        if ok:
            w.confirmed_visible.add((name, value))
        return ok

    def deploy(self, domain, key):
        w = self.w
        if key is None:  # the plain deploy: a domain without an active key is not signed
            w.calls.append(("deploy", "-"))
            w.signing.pop(domain, None)
            return
        w.calls.append(("deploy", key.selector))
        w.checkpoint("deploy:before", _port_error)
        if (key.record_name, key.txt_value) not in w.confirmed_visible:
            w.violations.append(f"deployed {key.selector} before wait_visible said True")
        w.host_keys[(domain, key.selector)] = key.read_private_key().to_bytes()
        w.signing[domain] = key.selector
        w.checkpoint("deploy:after", _port_error)

    def probe(self, domain, key):
        w = self.w
        w.calls.append(("probe", key.selector))
        w.checkpoint("probe:before", _port_error)
        sel = w.signing[domain]
        pem = w.host_keys[(domain, sel)]
        alg = keymod.algorithm_of(pem)
        sig = dkim.sign(MESSAGE, sel.encode(), domain.encode(), keymod.dkimpy_private_key(pem),
                        signature_algorithm=keymod.signature_algorithm(alg).encode())

        def dnsfunc(name, timeout=5):
            value = w.dns.get(name.decode().rstrip("."))
            return value.encode() if value else None

        ok = dkim.verify(sig + MESSAGE, dnsfunc=dnsfunc) and sel == key.selector
        w.checkpoint("probe:after", _port_error)
        return ok and not w.probe_breaks

    def destroy_on_hosts(self, domain, key):
        w = self.w
        w.calls.append(("destroy_on_hosts", key.selector))
        w.checkpoint("destroy_on_hosts:before", _port_error)
        if key.record_name in w.dns:
            w.violations.append(f"destroyed {key.selector} while its record is published")
        if w.signing.get(domain) == key.selector:
            w.violations.append(f"destroyed {key.selector}, the key the host signs with")
        w.host_keys.pop((domain, key.selector), None)
        w.checkpoint("destroy_on_hosts:after", _port_error)


class InstrumentedKeystore(Keystore):
    """A Keystore whose every write is an interruption point."""

    def __init__(self, path, clock, world: World):
        super().__init__(path, clock=clock)
        self.world = world

    def _append(self, domain, event):
        name = event["event"]
        self.world.checkpoint(f"append {name}:before", _disk_error)
        super()._append(domain, event)
        self.world.checkpoint(f"append {name}:after", _disk_error)

    def _write_key_file(self, domain, selector, private):
        path = super()._write_key_file(domain, selector, private)
        self.world.checkpoint("key file written", _disk_error)
        return path


def setup_world(tmp_path: Path, algorithm="ed25519", domains=(DOMAIN,)):
    """A domain as the first deploy leaves it: one active key, published and deployed."""
    clock = Clock()
    world = World(tmp_path / "ks", clock)
    ks = Keystore(world.ks_path, clock=clock)
    first = {}
    for d in domains:
        k0 = ks.ensure_key(d, algorithm)
        world.dns[k0.record_name] = k0.txt_value
        world.confirmed_visible.add((k0.record_name, k0.txt_value))
        world.host_keys[(d, k0.selector)] = k0.private_key_path.read_bytes()
        world.signing[d] = k0.selector
        first[d] = k0
    world.check_disk()
    return clock, world, first[domains[0]]


def run_until(world: World, clock: Clock, op: str, done, policy=POLICY, max_runs=8, **kw):
    """Run `op` like an operator would: again (fresh process) until it is done."""
    results = []
    for _ in range(max_runs):
        ks = InstrumentedKeystore(world.ks_path, clock, world)  # re-read from disk
        rot = Rotation(ks, FakePorts(world), clock=clock, **kw)
        try:
            results.append(getattr(rot, op)(policy))
        except Killed:
            results.append(None)
        world.check_disk()
        if done(world.snapshot()):
            return results
    raise AssertionError(f"{op} did not finish after {max_runs} runs: {results}")


def full_scenario(tmp_path: Path, fail_at=None, kill=False):
    clock, world, k0 = setup_world(tmp_path)
    world.fail_at, world.kill = fail_at, kill

    def rotated(snap):
        return snap.pending_key(DOMAIN) is None and snap.signing_key(DOMAIN).selector != k0.selector

    r1 = run_until(world, clock, "rotate", rotated)
    clock.advance(days=12, seconds=1)

    def retired(snap):
        return snap.key(DOMAIN, k0.selector).state == RETIRED

    r2 = run_until(world, clock, "retire", retired)
    return world, k0, r1, r2


def _count_checkpoints():
    with tempfile.TemporaryDirectory() as d:
        world, *_ = full_scenario(Path(d))
        return [f"{n:02d}-{label}" for n, label in enumerate(world.labels)]


CHECKPOINTS = _count_checkpoints()


def assert_finished_safely(world: World, k0):
    assert world.violations == []
    snap = world.snapshot()
    keys = snap.keys(DOMAIN)
    assert snap.key(DOMAIN, k0.selector).state == RETIRED
    assert [k.state for k in keys].count(ACTIVE) == 1
    assert snap.pending_key(DOMAIN) is None
    active = snap.signing_key(DOMAIN)
    assert world.signing[DOMAIN] == active.selector
    assert world.dns == {k.record_name: k.txt_value for k in snap.published(DOMAIN)}
    assert (DOMAIN, k0.selector) not in world.host_keys
    assert not (world.ks_path / DOMAIN / f"{k0.selector}.private").exists()
    generated = [e["selector"] for e in snap.history(DOMAIN)
                 if e["event"] in ("generated", "bootstrapped")]
    assert len(generated) == len(set(generated))


# ------------------------------------------------------------------ the whole lifecycle


def test_an_uninterrupted_rotation_publishes_waits_deploys_probes_activates_then_retires(
    tmp_path,
):
    world, k0, r1, r2 = full_scenario(tmp_path)
    assert_finished_safely(world, k0)
    [res] = r1
    assert res.ok and res.activated == "s202611b" and res.retiring == [k0.selector]
    assert [c[0] for c in world.calls] == [
        "publish", "wait_visible", "deploy", "probe",  # rotation
        "publish", "destroy_on_hosts",  # retirement 12 days later
    ]
    assert world.calls[0] == ("publish", "s202611a,s202611b")  # old record kept
    assert world.calls[4] == ("publish", "s202611b")  # old record withdrawn
    [ret] = r2
    assert ret.ok and ret.withdrawn == [k0.selector] and ret.retired == [k0.selector]


@pytest.mark.parametrize("fail_at", range(len(CHECKPOINTS)), ids=CHECKPOINTS)
def test_a_process_killed_at_any_step_finishes_the_rotation_safely_when_run_again(
    tmp_path, fail_at
):
    world, k0, _r1, _r2 = full_scenario(tmp_path, fail_at=fail_at, kill=True)
    assert world.fail_at is None, "the kill point was reached"
    assert_finished_safely(world, k0)


@pytest.mark.parametrize("fail_at", range(len(CHECKPOINTS)), ids=CHECKPOINTS)
def test_a_port_or_keystore_failure_at_any_step_is_reported_and_the_rerun_finishes(
    tmp_path, fail_at
):
    world, k0, r1, r2 = full_scenario(tmp_path, fail_at=fail_at, kill=False)
    assert world.fail_at is None
    assert_finished_safely(world, k0)
    failed = [r for r in r1 + r2 if r is not None and not r.ok]
    assert len(failed) == 1
    assert "injected failure" in failed[0].error or "No space left" in failed[0].error
    assert "again" in failed[0].error  # says how to resume


def test_rotation_of_an_rsa_2048_domain_ends_signing_with_a_new_rsa_key(tmp_path):
    clock, world, _k0 = setup_world(tmp_path, algorithm="rsa-2048")
    ks = Keystore(world.ks_path, clock=clock)
    res = Rotation(ks, FakePorts(world)).rotate(DomainPolicy(DOMAIN, "rsa-2048"))
    assert res.ok, res.error
    new = ks.signing_key(DOMAIN)
    assert new.algorithm == "rsa-2048" and new.selector == "s202611b"
    assert world.violations == []


def test_the_first_rotation_of_a_domain_without_keys_goes_through_dns_before_signing(tmp_path):
    clock = Clock()
    world = World(tmp_path / "ks", clock)
    ks = Keystore(world.ks_path, clock=clock)
    res = Rotation(ks, FakePorts(world)).rotate(POLICY)
    assert res.ok, res.error
    assert [c[0] for c in world.calls] == ["publish", "wait_visible", "deploy", "probe"]
    assert ks.signing_key(DOMAIN).selector == "s202611a" and res.retiring == []
    assert world.violations == []


# ------------------------------------------------------------------ timing


def test_the_old_key_retires_after_queue_lifetime_plus_margin_and_not_a_second_earlier(
    tmp_path,
):
    clock, world, k0 = setup_world(tmp_path)
    ks = Keystore(world.ks_path, clock=clock)
    policy = DomainPolicy(DOMAIN, "ed25519", queue_lifetime=10 * 86400)
    rot = Rotation(ks, FakePorts(world), margin=timedelta(days=3))
    assert rot.rotate(policy).ok
    old = ks.key(DOMAIN, k0.selector)
    assert old.state == RETIRING and old.retire_after == T0 + timedelta(days=13)
    clock.now = old.retire_after - timedelta(seconds=1)
    res = rot.retire(policy)
    assert res.ok and res.withdrawn == []
    assert old.record_name in world.dns
    assert "nothing due" in res.steps[0] and "s202611a after 2026-11-16T12:00:00Z" in res.steps[0]
    clock.now = old.retire_after
    res = rot.retire(policy)
    assert res.withdrawn == [k0.selector] and old.record_name not in world.dns
    assert world.violations == []


def test_the_margin_is_configurable_but_never_makes_the_grace_shorter_than_the_queue_lifetime():
    assert grace_period(5 * 86400) == timedelta(days=12)
    assert grace_period(5 * 86400, timedelta(0)) == timedelta(days=5)
    assert grace_period(5 * 86400, timedelta(days=30)) == timedelta(days=35)
    with pytest.raises(ValueError, match="maximal_queue_lifetime"):
        grace_period(5 * 86400, timedelta(days=-1))


def test_a_negative_margin_is_refused_before_anything_runs(tmp_path):
    with pytest.raises(ValueError, match="0 or more"):
        Rotation(Keystore(tmp_path / "ks"), None, margin=timedelta(hours=-1))


def test_the_queue_lifetime_of_a_domain_is_the_longest_of_its_hosts():
    from types import SimpleNamespace as NS

    def host(qlt, alg):
        return NS(settings=NS(maximal_queue_lifetime=qlt,
                              domains=(NS(name=DOMAIN, dkim_algorithm=alg),)))

    policies = policies_from_hosts([host(86400, "ed25519"), host(5 * 86400, "rsa-2048")])
    assert policies[DOMAIN] == DomainPolicy(DOMAIN, "ed25519", 5 * 86400)


# ------------------------------------------------------------------ failures


def test_a_record_not_yet_on_every_name_server_times_out_and_leaves_the_key_pending(tmp_path):
    clock, world, k0 = setup_world(tmp_path)
    ks = Keystore(world.ks_path, clock=clock)
    world.lagging.add(f"s202611b._domainkey.{DOMAIN}")
    res = Rotation(ks, FakePorts(world), wait_timeout=30).rotate(POLICY)
    assert not res.ok
    assert "timed out after 30s" in res.error and "every authoritative name server" in res.error
    assert f"mailops dkim rotate {DOMAIN}" in res.error
    assert ks.pending_key(DOMAIN).selector == "s202611b"
    assert ks.signing_key(DOMAIN).selector == k0.selector
    assert "deploy" not in [c[0] for c in world.calls]
    world.lagging.clear()
    res = Rotation(ks, FakePorts(world)).rotate(POLICY)
    assert res.ok and res.activated == "s202611b" and res.generated is None
    assert world.violations == []


def test_a_failed_probe_stops_loudly_keeps_the_new_key_pending_and_switches_hosts_back(tmp_path):
    clock, world, k0 = setup_world(tmp_path)
    ks = Keystore(world.ks_path, clock=clock)
    world.probe_breaks = True
    res = Rotation(ks, FakePorts(world)).rotate(POLICY)
    assert not res.ok and "PROBE FAILED for s202611b" in res.error
    assert "NOT made active" in res.error and "switched back to the active key s202611a" in (
        res.error
    )
    assert ks.key(DOMAIN, "s202611b").state == PENDING
    assert ks.signing_key(DOMAIN).selector == k0.selector
    assert world.signing[DOMAIN] == k0.selector
    assert world.calls[-1] == ("deploy", k0.selector)
    assert "probe failed" in status_table(ks, [DOMAIN], clock())
    world.probe_breaks = False
    res = Rotation(ks, FakePorts(world)).rotate(POLICY)
    assert res.ok and res.activated == "s202611b"
    assert world.violations == []


def test_a_failed_withdrawal_destroys_no_private_key(tmp_path):
    clock, world, k0 = setup_world(tmp_path)
    ks = Keystore(world.ks_path, clock=clock)
    Rotation(ks, FakePorts(world)).rotate(POLICY)
    clock.advance(days=13)
    world.fail_at = world.checkpoints  # the withdrawal publish
    res = Rotation(ks, FakePorts(world)).retire(POLICY)
    assert not res.ok and "withdrawing" in res.error
    assert ks.key(DOMAIN, k0.selector).state == RETIRING
    assert k0.private_key_path.exists()
    assert "destroy_on_hosts" not in [c[0] for c in world.calls]


def test_after_a_failed_destroy_the_rerun_destroys_without_publishing_again(tmp_path):
    clock, world, k0 = setup_world(tmp_path)
    ks = Keystore(world.ks_path, clock=clock)
    Rotation(ks, FakePorts(world)).rotate(POLICY)
    clock.advance(days=13)
    world.fail_at = world.checkpoints + 2  # after publish:before/after: destroy_on_hosts
    res = Rotation(ks, FakePorts(world)).retire(POLICY)
    assert not res.ok and "destroying" in res.error
    assert ks.key(DOMAIN, k0.selector).done("withdrawn")
    assert k0.private_key_path.exists()
    calls = len(world.calls)
    res = Rotation(ks, FakePorts(world)).retire(POLICY)
    assert res.ok and res.retired == [k0.selector]
    assert [c[0] for c in world.calls[calls:]] == ["destroy_on_hosts"]
    assert world.violations == []


def test_a_second_rotation_of_the_same_domain_at_the_same_time_is_refused(tmp_path):
    clock, world, _k0 = setup_world(tmp_path)
    ks = Keystore(world.ks_path, clock=clock)
    with Keystore(world.ks_path).lock(DOMAIN):
        res = Rotation(ks, FakePorts(world)).rotate(POLICY)
    assert not res.ok and "another mailops process" in res.error
    assert world.calls == [] and ks.pending_key(DOMAIN) is None


def test_several_domains_in_one_run_each_get_a_result_and_one_failure_stops_only_its_domain(
    tmp_path,
):
    other = "example.org"
    clock, world, _k0 = setup_world(tmp_path, domains=(DOMAIN, other))
    ks = Keystore(world.ks_path, clock=clock)
    world.lagging.add(f"s202611b._domainkey.{DOMAIN}")
    results = rotate_dkim(ks, FakePorts(world),
                          [POLICY, DomainPolicy(other, "ed25519")], clock=clock)
    assert [(r.domain, r.ok) for r in results] == [(DOMAIN, False), (other, True)]
    text = format_results(results)
    assert f"{DOMAIN}: FAILED — timed out" in text
    assert f"{other}: ROTATED — s202611b is now active; s202611a retiring" in text
    assert text.splitlines()[-1] == f"2 domain(s): 1 ok, 1 failed ({DOMAIN})"
    assert world.violations == []


# ------------------------------------------------------------------ dry run and status


class NoPorts:
    """Any call is a test failure: dry runs and planning must not touch DNS or hosts."""

    def __init__(self):
        self.calls = []

    def __getattr__(self, name):
        def call(*args, **kw):
            self.calls.append(name)
            raise AssertionError(f"dry run called {name}")

        return call


def _tree(path: Path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*"))
            if p.is_file()}


def test_dry_run_prints_every_step_and_calls_no_port_and_writes_nothing(tmp_path):
    clock, world, k0 = setup_world(tmp_path)
    ks = Keystore(world.ks_path, clock=clock)
    before = _tree(world.ks_path)
    ports = NoPorts()
    [res] = rotate_dkim(ks, ports, [POLICY], dry_run=True)
    assert res.ok and ports.calls == [] and _tree(world.ks_path) == before
    text = format_results([res])
    assert "would generate a new ed25519 key s202611b" in text
    assert f"would publish TXT s202611b._domainkey.{DOMAIN}, keeping {k0.record_name}" in text
    assert "would wait up to 600s" in text and "would deploy s202611b" in text
    assert "would probe" in text
    assert "would make s202611b active and s202611a retiring for 12d" in text


def test_dry_run_of_a_half_done_rotation_with_a_due_key_plans_resume_and_retirement(tmp_path):
    clock, world, _k0 = setup_world(tmp_path)
    ks = Keystore(world.ks_path, clock=clock)
    Rotation(ks, FakePorts(world)).rotate(POLICY)
    clock.advance(days=13)
    world.lagging.add(f"s202611c._domainkey.{DOMAIN}")
    Rotation(ks, FakePorts(world)).rotate(POLICY)  # withdraws a, stops waiting for c
    assert ks.pending_key(DOMAIN).selector == "s202611c"
    clock.advance(days=13)
    before = _tree(world.ks_path)
    ports = NoPorts()
    [res] = rotate_dkim(ks, ports, [POLICY], dry_run=True, clock=clock)
    [ret] = rotate_dkim(ks, ports, [POLICY], dry_run=True, retire_only=True, clock=clock)
    assert ports.calls == [] and _tree(world.ks_path) == before
    assert "would resume the rotation to s202611c" in res.steps[0]
    # b is still active (c never activated), so nothing is due in this state:
    assert ret.steps == ["would do nothing: no key is due for retirement"]


def test_status_shows_selector_algorithm_state_since_next_step_and_when(tmp_path):
    clock, world, _k0 = setup_world(tmp_path)
    ks = Keystore(world.ks_path, clock=clock)
    Rotation(ks, FakePorts(world)).rotate(POLICY)
    clock.advance(days=1)
    world.lagging.add(f"s202611c._domainkey.{DOMAIN}")
    Rotation(ks, FakePorts(world)).rotate(POLICY)
    text = status_table(ks, [DOMAIN], clock())
    lines = text.splitlines()
    assert lines[0] == DOMAIN
    assert lines[1].split() == ["SELECTOR", "ALGORITHM", "STATE", "SINCE", "NEXT", "STEP", "WHEN"]
    assert lines[2].split()[:4] == ["s202611a", "ed25519", "retiring", "2026-11-03T12:00:00Z"]
    assert "withdraw the TXT record" in lines[2] and lines[2].endswith("2026-11-15T12:00:00Z")
    assert lines[3].split()[:3] == ["s202611b", "ed25519", "active"]
    assert lines[4].split()[:3] == ["s202611c", "ed25519", "pending"]
    assert "wait until every authoritative server" in lines[4]
    clock.advance(days=12)
    assert "2026-11-15T12:00:00Z (due)" in status_table(ks, [DOMAIN], clock())


# ------------------------------------------------------------------ secrets


@pytest.mark.parametrize("algorithm", ["rsa-2048", "ed25519"])
def test_no_output_result_or_history_contains_private_key_material(tmp_path, algorithm):
    clock, world, _k0 = setup_world(tmp_path, algorithm=algorithm)
    ks = Keystore(world.ks_path, clock=clock)
    policy = DomainPolicy(DOMAIN, algorithm)
    dry = format_results(rotate_dkim(ks, None, [policy], dry_run=True))
    results = rotate_dkim(ks, FakePorts(world), [policy])
    secrets = []
    for k in ks.keys(DOMAIN):
        pem = k.private_key_path.read_bytes()
        secrets.append("".join(pem.decode().splitlines()[1:-1]))
        secrets.append(keymod.dkimpy_private_key(pem).decode() if algorithm == "ed25519"
                       else secrets[-1])
    texts = [
        dry,
        format_results(results),
        repr(results),
        status_table(ks, [DOMAIN], clock()),
        (world.ks_path / DOMAIN / "history.jsonl").read_text(),
        repr(ks.keys(DOMAIN)),
        " ".join(str(k) for k in ks.keys(DOMAIN)),
    ]
    for secret in secrets:
        for text in texts:
            assert secret not in text
            # The tail of the PEM body is private (RSA: CRT coefficient; Ed25519: the
            # seed); its head overlaps the public modulus, which is public by design.
            assert secret[-44:-4] not in text


def test_the_fake_world_catches_the_unsafe_moves_it_is_meant_to_catch(tmp_path):
    """The safety checks above are only worth something if they can fail."""
    clock, world, _k0 = setup_world(tmp_path)
    ks = Keystore(world.ks_path, clock=clock)
    ports = FakePorts(world)
    pending = ks.create_pending(DOMAIN, "ed25519")
    ports.deploy(DOMAIN, pending)  # never waited for
    assert any("before wait_visible" in v for v in world.violations)
    world.violations.clear()
    ports.publish(DOMAIN, [])  # drops the active and the pending record
    assert any("needed record" in v for v in world.violations)
    ports.destroy_on_hosts(DOMAIN, pending)  # the key the host signs with
    assert any("the key the host signs with" in v for v in world.violations)


# ------------------------------------------------------------------ a domain's first key


def test_a_first_key_takes_every_step_of_a_rotation_and_never_signs_before_dns_has_it(
        tmp_path):
    clock = Clock()
    world = World(tmp_path / "ks", clock)
    ks = Keystore(world.ks_path, clock=clock)
    res = Rotation(ks, FakePorts(world)).rotate(POLICY)
    assert res.ok and res.activated == "s202611a" and res.retiring == [], res.error
    assert [c[0] for c in world.calls] == ["publish", "wait_visible", "deploy", "probe"]
    assert world.signing == {DOMAIN: "s202611a"} and world.violations == []
    assert "s202611a is active (the domain had no active key before)" in res.steps[-1]


def test_a_first_key_whose_probe_fails_leaves_the_domain_unsigned_and_resumes_later(tmp_path):
    clock = Clock()
    world = World(tmp_path / "ks", clock)
    ks = Keystore(world.ks_path, clock=clock)
    world.probe_breaks = True
    res = Rotation(ks, FakePorts(world)).rotate(POLICY)
    assert not res.ok and "PROBE FAILED" in res.error
    assert f"switched back to not signing {DOMAIN}" in res.error
    assert DOMAIN not in world.signing and ks.signing_key(DOMAIN) is None
    assert ks.pending_key(DOMAIN).done("probe-failed")
    world.probe_breaks = False
    again = Rotation(ks, FakePorts(world)).rotate(POLICY)
    assert again.ok and again.activated == ks.signing_key(DOMAIN).selector
    assert world.violations == []

"""DKIM key rotation end to end: the real `mailops` CLI, the real deploy, BIND, OpenDKIM, mail.

What an operator (and every receiver) sees: mail keeps verifying through a rotation;
the old record stays published through the grace period and is then withdrawn and its
key destroyed; a DNS provider that refuses, or a name server that lags, stops the
rotation before anything signs with the new key, and running it again completes it;
a host that signs with the wrong key is caught by the probe, loudly.
"""

from __future__ import annotations

import base64
import json
import socket
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import dkim
import pytest
from labtools import REPO, deploy, on
from mailclients import lab_dnsfunc, new_message, received_at_remote, submit

from mailops.dkim import keys as keymod
from mailops.dkim import milter as milter_probe
from mailops.dkim import probe as dkim_probe
from mailops.dkim.keystore import PENDING, RETIRED, RETIRING, Keystore, fmt_time
from mailops.hosts import ssh
from mailops.inventory import load_inventory
from mailops.lab import config

pytestmark = pytest.mark.lab

DOMAIN = "example.test"
USER = "alice@example.test"
MAILOPS = str(Path(sys.executable).with_name("mailops"))
INVENTORY = "inventories/lab.py"


# ----------------------------------------------------------------------------- helpers


@pytest.fixture(scope="module")
def rotation_env(lab_env) -> dict:
    """lab_env plus where the lab zones' authoritative server is (no NS delegation here)."""
    return {**lab_env, "MAILOPS_DNS_NAMESERVERS": f"{config.GATEWAY}:53"}


@pytest.fixture(scope="module")
def keystore(lab) -> Keystore:
    return Keystore(lab.root / "keystore")


@pytest.fixture(scope="module")
def hosts(lab):
    return load_inventory(REPO / INVENTORY)


def mailops(*args: str, env: dict, timeout: int = 600) -> subprocess.CompletedProcess:
    """The real CLI, as an operator runs it; stdout and stderr together."""
    return subprocess.run([MAILOPS, *args], cwd=REPO, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=timeout)


def sent_mail_selector(lab, user: str = USER) -> str:
    """Send through mx1 to remote; assert the signature verifies; return its selector."""
    msg, token = new_message(user, "someone@remote.test")
    submit(lab, user, msg)
    got = received_at_remote(lab, token)
    raw = got.as_bytes()
    assert dkim.verify(raw, dnsfunc=lab_dnsfunc), "dkimpy: the signature does not verify"
    results = " ".join(str(v) for v in got.get_all("Authentication-Results", []))
    assert "dkim=pass" in results, results  # and the receiving OpenDKIM agrees
    tags = dkim_probe.signature_tags(str(got["DKIM-Signature"]))
    return tags["s"]


def record(selector: str, domain: str = DOMAIN) -> bytes:
    return lab_dnsfunc(f"{selector}._domainkey.{domain}")


def key_files_on_mx1(domain: str = DOMAIN) -> set[str]:
    out = on("mx1", f"ls /etc/opendkim/keys/{domain}").stdout.split()
    return {name.removesuffix(".private") for name in out}


def keytable_selector(domain: str = DOMAIN) -> str:
    for line in on("mx1", "cat /etc/opendkim/KeyTable").stdout.splitlines():
        if not line.startswith("#") and line.split()[1].startswith(f"{domain}:"):
            return line.split()[1].split(":")[1]
    raise AssertionError(f"no KeyTable entry for {domain}")


# ----------------------------------------------------------------------------- rotation


def test_rotate_dkim_switches_signing_to_a_new_key_while_the_old_record_stays_published(
        lab, lab_dns, rotation_env, keystore, hosts, monkeypatch):
    old = keystore.signing_key(DOMAIN)
    tenant2 = keystore.signing_key("tenant2.test").selector
    assert sent_mail_selector(lab) == old.selector

    run = mailops("rotate-dkim", DOMAIN, "-i", INVENTORY, env=rotation_env)

    assert run.returncode == 0, run.stdout
    assert f"{DOMAIN}: ROTATED" in run.stdout
    assert "PRIVATE KEY" not in run.stdout  # the deploy's output is never passed through
    new = keystore.signing_key(DOMAIN)
    assert new.selector != old.selector
    assert keystore.key(DOMAIN, old.selector).state == RETIRING
    assert sent_mail_selector(lab) == new.selector
    # The old record is still served: mail signed with it before the switch (and still
    # queued somewhere) keeps verifying during the grace period.
    assert record(old.selector) == old.txt_value.encode()
    assert {old.selector, new.selector} <= key_files_on_mx1()
    # Only the rotated domain changed.
    assert sent_mail_selector(lab, "carol@tenant2.test") == tenant2
    monkeypatch.setenv("MAILOPS_DNS_NAMESERVERS", rotation_env["MAILOPS_DNS_NAMESERVERS"])
    assert dkim_probe.probe_signing(hosts, DOMAIN, new) is True
    # What the rotation left on the host is exactly what the deploy renders.
    again = deploy(INVENTORY)
    assert again.returncode == 0 and again.changed == 0, again.output[-4000:]


def test_after_the_grace_period_the_old_key_is_withdrawn_from_dns_and_destroyed_everywhere(
        lab, lab_dns, rotation_env, keystore):
    if not any(k.state == RETIRING for k in keystore.keys(DOMAIN)):
        assert mailops("rotate-dkim", DOMAIN, "-i", INVENTORY, env=rotation_env).returncode == 0
    retiring = [k for k in keystore.keys(DOMAIN) if k.state == RETIRING]
    active = keystore.signing_key(DOMAIN)
    early = {**rotation_env, "MAILOPS_NOW": fmt_time(min(k.retire_after for k in retiring)
                                                     - timedelta(hours=1))}
    assert "nothing due" in mailops("dkim", "retire", DOMAIN, "-i", INVENTORY, env=early).stdout
    later = {**rotation_env, "MAILOPS_NOW": fmt_time(max(k.retire_after for k in retiring)
                                                     + timedelta(minutes=1))}

    run = mailops("dkim", "retire", DOMAIN, "-i", INVENTORY, env=later)

    assert run.returncode == 0, run.stdout
    assert f"{DOMAIN}: RETIRED OLD KEYS" in run.stdout
    for k in retiring:
        assert record(k.selector) == b"", f"{k.record_name} is still published"
        assert keystore.key(DOMAIN, k.selector).state == RETIRED
        assert not keystore.key_path(DOMAIN, k.selector).exists()
    assert key_files_on_mx1() == {active.selector}
    assert sent_mail_selector(lab) == active.selector
    # Idempotent: nothing left to do, nothing touched.
    again = mailops("dkim", "retire", DOMAIN, "-i", INVENTORY, env=later)
    assert again.returncode == 0 and "nothing due" in again.stdout, again.stdout


# ----------------------------------------------------------------------------- faults


def test_a_dns_provider_that_refuses_the_publish_stops_the_rotation_before_any_switch(
        lab, lab_dns, rotation_env, keystore):
    before = keystore.signing_key(DOMAIN).selector
    name, algorithm, _ = lab.tsig
    wrong_secret = base64.b64encode(b"not the lab's tsig secret 32 by").decode()
    refused = {**rotation_env, "MAILOPS_TSIG": f"{name}:{algorithm}:{wrong_secret}"}

    run = mailops("rotate-dkim", DOMAIN, "-i", INVENTORY, env=refused)

    assert run.returncode == 1, run.stdout
    assert f"{DOMAIN}: FAILED" in run.stdout and "publishing" in run.stdout
    assert wrong_secret not in run.stdout
    pending = keystore.pending_key(DOMAIN)
    assert pending is not None and not pending.done("published")
    assert record(pending.selector) == b""
    assert keystore.signing_key(DOMAIN).selector == before
    assert keytable_selector() == before
    assert pending.selector not in key_files_on_mx1()

    again = mailops("rotate-dkim", DOMAIN, "-i", INVENTORY, env=rotation_env)

    assert again.returncode == 0, again.stdout
    assert f"resuming the rotation to {pending.selector}" in again.stdout
    assert keystore.signing_key(DOMAIN).selector == pending.selector
    assert keytable_selector() == pending.selector
    assert sent_mail_selector(lab) == pending.selector


def test_a_name_server_that_lags_behind_keeps_the_old_key_signing_until_a_rerun(
        lab, lab_dns, rotation_env, keystore):
    before = keystore.signing_key(DOMAIN).selector
    # An "authoritative server" that never answers: the new record is never seen there.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        lagging = {**rotation_env,
                   "MAILOPS_DNS_NAMESERVERS": f"127.0.0.1:{silent.getsockname()[1]}"}
        run = mailops("rotate-dkim", DOMAIN, "-i", INVENTORY, "--wait-timeout", "3",
                      env=lagging)

    assert run.returncode == 1, run.stdout
    assert "timed out after 3s" in run.stdout
    pending = keystore.pending_key(DOMAIN)
    assert pending.state == PENDING and pending.done("published") and not pending.done("visible")
    assert record(pending.selector) == pending.txt_value.encode()  # published, not yet seen
    assert keytable_selector() == before
    assert sent_mail_selector(lab) == before

    again = mailops("rotate-dkim", DOMAIN, "-i", INVENTORY, env=rotation_env)

    assert again.returncode == 0, again.stdout
    assert keystore.signing_key(DOMAIN).selector == pending.selector
    assert sent_mail_selector(lab) == pending.selector


def test_the_probe_fails_loudly_when_the_host_signs_a_domain_with_another_key(
        lab, lab_dns, keystore, hosts, rotation_env, monkeypatch):
    monkeypatch.setenv("MAILOPS_DNS_NAMESERVERS", rotation_env["MAILOPS_DNS_NAMESERVERS"])
    expected = keystore.signing_key(DOMAIN)
    other = keystore.signing_key("tenant2.test")
    assert dkim_probe.probe_signing(hosts, DOMAIN, expected)
    # By hand, as a confused admin might: example.test's mail signed with tenant2's key.
    on("mx1", f"sed -i 's/^\\*@{DOMAIN}\\t.*/*@{DOMAIN}\\t{other.record_name}/' "
              "/etc/opendkim/SigningTable && systemctl reload opendkim")
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                dkim_probe.probe_signing(hosts, DOMAIN, expected)
            except dkim_probe.ProbeFailed as e:
                message = str(e)
                break
            assert time.monotonic() < deadline, "the probe kept passing after the change"
            time.sleep(0.5)
        assert "mx1.example.test" in message and DOMAIN in message
        assert f"expected selector {expected.selector}" in message
        assert f"s={other.selector} d=tenant2.test" in message
    finally:
        repaired = deploy(INVENTORY)
        assert repaired.returncode == 0, repaired.output[-4000:]
    assert dkim_probe.probe_signing(hosts, DOMAIN, expected)


# ----------------------------------------------------------------------------- what OpenDKIM can do

# Runs on mx1 after the probe's own code: a scratch OpenDKIM (the host's package,
# its own socket and keys in a private temporary directory) signs one probe.
_SCRATCH = r'''
import json, os, shutil, subprocess, tempfile, time
cfg = json.loads(CFG)
# Under /run (root 0755), not /tmp: RequireSafeKeys (on, as in production) distrusts
# keys below a world-writable directory.
d = tempfile.mkdtemp(prefix="mailops-dkim-scratch-", dir="/run")
try:
    kt = st = ""
    for sel, pem in cfg["keys"].items():
        p = os.path.join(d, sel + ".private")
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(fd, pem.encode())
        os.close(fd)
        kt += f"{sel}._domainkey.example.test example.test:{sel}:{p}\n"
        st += f"*@example.test {sel}._domainkey.example.test\n"
    open(os.path.join(d, "KeyTable"), "w").write(kt)
    open(os.path.join(d, "SigningTable"), "w").write(st)
    sock = os.path.join(d, "s.sock")
    open(os.path.join(d, "conf"), "w").write(
        f"Syslog no\nUserID root\nSocket local:{sock}\nPidFile {d}/pid\nMode s\n"
        f"KeyTable file:{d}/KeyTable\nSigningTable refile:{d}/SigningTable\n"
        f"MultipleSignatures yes\nSignatureAlgorithm {cfg['algorithm']}\n"
        "Canonicalization relaxed/relaxed\nInternalHosts 127.0.0.1\n")
    proc = subprocess.Popen(["opendkim", "-f", "-x", os.path.join(d, "conf")])
    try:
        for _ in range(200):
            if os.path.exists(sock):
                break
            time.sleep(0.05)
        try:
            print(json.dumps(run_probe(sock, "example.test")))
        except MilterError as e:
            print(json.dumps({"refused": str(e)}))
    finally:
        proc.kill()
        proc.wait()
finally:
    shutil.rmtree(d)
'''


def scratch_sign(hosts, keys: dict[str, keymod.NewKey], algorithm: str):
    """(refusal or "", [(s=, a=, verifies with its own key?)]) from mx1's OpenDKIM."""
    code = Path(milter_probe.__file__).read_text().replace('if __name__ == "__main__":',
                                                           "if False:")
    cfg = {"algorithm": algorithm,
           "keys": {s: k.private.to_bytes().decode() for s, k in keys.items()}}
    script = f"{code}\nCFG = {json.dumps(json.dumps(cfg))}\n{_SCRATCH}"
    out = ssh.run(hosts[0], ["python3", "-"], input=script.encode()).stdout.decode()
    data = json.loads(out.strip().splitlines()[-1])
    if "refused" in data:
        return data["refused"], []
    final = data["reply"] if data["final"] in ("t", "y", "r") else ""
    message, values = dkim_probe.signed_message(data)
    sigs = []
    for i, v in enumerate(values):
        t = dkim_probe.signature_tags(v)
        txt = keys[t["s"]].txt_value.encode()
        ok = dkim.DKIM(message).verify(idx=i, dnsfunc=lambda name, timeout=5, txt=txt: txt)
        sigs.append((t["s"], t["a"], ok))
    return final, sigs


def test_debian12_opendkim_signs_with_ed25519_pkcs8_keys_but_cannot_dual_sign_with_rsa(
        lab, deployed, hosts):
    rsa, ed = keymod.generate("rsa-2048"), keymod.generate("ed25519")

    # The keystore's Ed25519 format (PKCS#8 PEM) works: RFC 8463 signatures that verify.
    assert scratch_sign(hosts, {"ed": ed}, "ed25519-sha256") == (
        "", [("ed", "ed25519-sha256", True)])
    # Dual signing (RFC 8463 §5) does not: SignatureAlgorithm is per instance, not per
    # key. Under rsa-sha256 the Ed25519 key makes OpenDKIM tempfail the message
    # ("451 4.7.0 resource unavailable", at end of headers or of message)...
    refused, sigs = scratch_sign(hosts, {"rsa": rsa, "ed": ed}, "rsa-sha256")
    assert ("tempfail" in refused or "451" in refused) and sigs == [], refused
    # ...and under ed25519-sha256 the RSA key yields a signature nobody can verify.
    refused, sigs = scratch_sign(hosts, {"rsa": rsa, "ed": ed}, "ed25519-sha256")
    assert refused == ""
    assert sorted(sigs) == [("ed", "ed25519-sha256", True), ("rsa", "ed25519-sha256", False)]

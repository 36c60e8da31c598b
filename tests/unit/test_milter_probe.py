"""The milter probe against a real OpenDKIM on this machine: framing, signatures, verdicts.

A throw-away ``opendkim -f`` (the Debian 12 package, as on the mail host) listens on
a unix socket in a temporary directory with keys made by the keystore's own
generator; the probe speaks the milter protocol to it exactly as it does on a host.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import dkim
import pytest

from mailops.dkim import keys as keymod
from mailops.dkim import milter as milter_probe
from mailops.dkim import probe as dkim_probe
from mailops.dkim.keystore import ACTIVE, Key, utc_now

pytestmark = pytest.mark.services

DOMAIN = "example.test"


@pytest.fixture
def opendkim(tmp_path):
    """start(keys={selector: NewKey}, algorithm) -> socket path of a running OpenDKIM."""
    if shutil.which("opendkim") is None:
        pytest.skip("needs the opendkim binary: apt-get install opendkim")
    if os.geteuid() != 0:
        pytest.skip("runs opendkim with UserID root: run as root")
    procs = []

    def start(keys: dict[str, keymod.NewKey], algorithm: str = "rsa-sha256") -> str:
        kt = st = ""
        for sel, k in keys.items():
            path = tmp_path / f"{sel}.private"
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            os.write(fd, k.private.to_bytes())
            os.close(fd)
            kt += f"{sel}._domainkey.{DOMAIN} {DOMAIN}:{sel}:{path}\n"
            st += f"*@{DOMAIN} {sel}._domainkey.{DOMAIN}\n"
        (tmp_path / "KeyTable").write_text(kt)
        (tmp_path / "SigningTable").write_text(st)
        sock = tmp_path / "opendkim.sock"
        # RequireSafeKeys off: pytest's tmp_path sits below world-writable /tmp, which
        # OpenDKIM (rightly) distrusts; the mail host's keys directory is 0700 opendkim.
        (tmp_path / "opendkim.conf").write_text(
            f"Syslog no\nUserID root\nSocket local:{sock}\nPidFile {tmp_path}/pid\n"
            f"Mode sv\nKeyTable file:{tmp_path}/KeyTable\n"
            f"SigningTable refile:{tmp_path}/SigningTable\nMultipleSignatures yes\n"
            f"SignatureAlgorithm {algorithm}\nCanonicalization relaxed/relaxed\n"
            "OversignHeaders From\nInternalHosts 127.0.0.1\nRequireSafeKeys no\n")
        p = subprocess.Popen(["opendkim", "-f", "-x", str(tmp_path / "opendkim.conf")])
        procs.append(p)
        deadline = time.monotonic() + 10
        while not sock.exists():
            assert p.poll() is None, "opendkim exited at start"
            assert time.monotonic() < deadline, "opendkim made no socket within 10s"
            time.sleep(0.05)
        return str(sock)

    yield start
    for p in procs:
        # libmilter lingers ~5 s after SIGTERM waiting for idle sessions; a scratch
        # instance with no state is killed after a moment instead.
        p.terminate()
        try:
            p.wait(timeout=0.5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=10)


def key_of(selector: str, new: keymod.NewKey) -> Key:
    now = utc_now()
    return Key(DOMAIN, selector, new.algorithm, ACTIVE, new.txt_value, now, now)


@pytest.mark.parametrize("algorithm", ["rsa-2048", "ed25519"])
def test_opendkim_signs_the_probe_through_the_milter_protocol_and_dkimpy_verifies_it(
        opendkim, algorithm):
    new = keymod.generate(algorithm)
    sock = opendkim({"s202611a": new}, keymod.signature_algorithm(algorithm))

    data = milter_probe.run_probe(sock, DOMAIN)
    message, values = dkim_probe.signed_message(data)

    assert data["final"] in ("a", "c")  # accepted: nothing refused, nothing sent
    assert len(values) == 1
    assert dkim.verify(message, dnsfunc=lambda name, timeout=5: new.txt_value.encode())
    tags = dkim_probe.signature_tags(values[0])
    assert (tags["d"], tags["s"], tags["a"]) == (DOMAIN, "s202611a",
                                                 keymod.signature_algorithm(algorithm))
    assert f"From: mailops probe <probe@{DOMAIN}>" in data["message"]


def test_the_probe_passes_only_for_the_key_opendkim_really_signs_with(opendkim):
    running, other = keymod.generate("rsa-2048"), keymod.generate("rsa-2048")
    sock = opendkim({"s202611b": running})
    message, values = dkim_probe.signed_message(milter_probe.run_probe(sock, DOMAIN))

    good = dkim_probe.judge("mx1", DOMAIN, key_of("s202611b", running), message, values, [])
    assert good.ok, good
    wrong_key = dkim_probe.judge("mx1", DOMAIN, key_of("s202611b", other), message, values, [])
    wrong_selector = dkim_probe.judge("mx1", DOMAIN, key_of("s202611c", running), message,
                                      values, [])
    assert not wrong_key.ok and "another private key" in str(wrong_key)
    assert not wrong_selector.ok
    assert "expected selector s202611c" in str(wrong_selector)
    assert "s=s202611b d=example.test" in str(wrong_selector)


def test_mail_of_a_domain_without_a_signing_table_entry_gets_no_signature(opendkim):
    sock = opendkim({"s202611a": keymod.generate("rsa-2048")})
    data = milter_probe.run_probe(sock, "tenant2.test")
    message, values = dkim_probe.signed_message(data)
    verdict = dkim_probe.judge("mx1", "tenant2.test", key_of("s202611a",
                               keymod.generate("rsa-2048")), message, values, [])
    assert values == [] and not verdict.ok
    assert "no DKIM-Signature" in str(verdict)


def test_a_milter_socket_that_does_not_exist_is_a_clear_error(tmp_path):
    with pytest.raises(milter_probe.MilterError, match="cannot connect to the milter socket"):
        milter_probe.run_probe(str(tmp_path / "absent.sock"), DOMAIN)


def test_the_probe_script_runs_with_a_bare_python3_and_no_mailops(opendkim):
    # On the host it is piped into the system python3: standard library only.
    if not Path("/usr/bin/python3").is_file():
        pytest.skip("needs the system python3 (/usr/bin/python3)")
    sock = opendkim({"s202611a": keymod.generate("rsa-2048")})
    script = Path(milter_probe.__file__).read_bytes()
    out = subprocess.run(["/usr/bin/python3", "-I", "-", sock, DOMAIN, "mx1.example.test"],
                         input=script, capture_output=True, timeout=30, cwd="/")
    assert out.returncode == 0, out.stderr
    assert b'"name": "DKIM-Signature"' in out.stdout

"""A bad inventory stops every entry point with the same message, before any connection.

The rules below used to fire only when the deploy ran (mailbox names, address case)
or only in `dns plan` (SPF lookups); now the inventory file checks itself when it
runs, so `pyinfra --dry`, `mailops dns plan` and `mailops check` all stop at load
with the same lines. The hosts named here do not exist: any attempt to connect or
to query DNS would show up as a different error (or a hang), not as these lines.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
HASH = "{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo"

INVENTORY = """
from mailops.inventory import check_here

MAILOPS = {{
    "hostname": "mx1.example.invalid",
    "domains": {{"example.invalid": {{
        "dns": {{"provider": "rfc2136", "server": "192.0.2.53"}},
        "mailboxes": {{"alice": {{"password_hash": {hash!r}}}, **{mailboxes}}},
        "aliases": {aliases},
        "spf": {spf},
    }}}},
}}
mail_servers = [("mx1.example.invalid", {{"ssh_hostname": "192.0.2.25", "mailops": MAILOPS}})]
check_here(globals())
"""

CASES = {
    "case collision": ({"Alice": {"password_hash": HASH}}, {}, {},
                       "differs from 'alice' only in upper/lower case"),
    "slash in a local part": ({"a/b": {"password_hash": HASH}}, {}, {},
                              "mailboxes.a/b: found 'a/b' with a '/'"),
    "bounces taken": ({}, {"bounces": "alice@example.invalid"}, {},
                      "aliases.bounces: found a mailbox or alias 'bounces'"),
    "spf lookups": ({}, {}, {"include": [f"s{i}.example.net" for i in range(10)]},
                    "the SPF record needs 11 DNS lookups"),
}


def problem_lines(output: str) -> list[str]:
    return [line.strip() for line in output.splitlines() if line.startswith("  - ")]


def run(*argv: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "NO_COLOR": "1"}
    env.pop("MAILOPS_INVENTORY", None)
    return subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_same_bad_inventory_gets_the_same_message_from_every_command(tmp_path, case):
    mailboxes, aliases, spf, expected = CASES[case]
    inv = tmp_path / "bad.py"
    inv.write_text(INVENTORY.format(hash=HASH, mailboxes=mailboxes, aliases=aliases, spf=spf))

    deploy = run(str(BIN / "pyinfra"), "-y", "--dry", str(inv), "deploy.py")
    plan = run(str(BIN / "mailops"), "dns", "plan", "-i", str(inv))
    check = run(str(BIN / "mailops"), "check", "-i", str(inv))

    lines = problem_lines(deploy.stdout + deploy.stderr)
    assert len(lines) == 1 and expected in lines[0], deploy.stdout + deploy.stderr
    assert lines[0].startswith("- host mx1.example.invalid: mailops.domains.example.invalid.")
    assert problem_lines(plan.stderr) == lines, plan.stderr
    assert problem_lines(check.stderr) == lines, check.stderr
    assert deploy.returncode != 0 and plan.returncode == 1 and check.returncode == 2
    # Stopped while loading: pyinfra never got to connecting.
    assert "Loading inventory" in deploy.stdout + deploy.stderr
    assert "Connecting" not in deploy.stdout + deploy.stderr

"""The bounce pipeline's Postfix wiring, rendered from an inventory exactly as deployed."""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mailops.bounce import store
from mailops.cli import app
from mailops.inventory import SettingsError, parse_mail_settings
from mailops.services import bounce as mh
from mailops.services import onhost
from mailops.services.paths import POSTFIX_MAPS_DIR
from mailops.services.postfix import postfix_context
from mailops.services.render import render as render_template

ARGON = ("{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$UXeb0LuN8rOr1HbMj01s4g$"
         "EK04VdCg6+HFtDzMUjKbb3D3fQFhTaEyt7dMBtCIcqM")


def settings(**example_extra):
    example = {"mailboxes": {"alice": {"password_hash": ARGON},
                             "bob": {"password_hash": ARGON}},
               **example_extra}
    return parse_mail_settings({
        "hostname": "mx1.example.test",
        "domains": {
            "example.test": example,
            "tenant2.test": {"mailboxes": {"carol": {"password_hash": ARGON}},
                             "catch_all": "carol@tenant2.test"},
        },
    })


def render(name: str, s=None) -> str:
    return render_template(f"postfix/{name}.j2", **postfix_context(s or settings()))


def table(name: str, s=None) -> dict[str, str]:
    """A rendered texthash table as Postfix reads it: key -> value, comments skipped."""
    out = {}
    for line in render(name, s).splitlines():
        if line.strip() and not line.startswith("#"):
            key, value = line.split(None, 1)
            out[key] = value
    return out


def main_cf() -> dict[str, str]:
    """main.cf parameters, continuation lines joined (postconf(5) syntax)."""
    params: dict[str, str] = {}
    last = None
    for line in render("main.cf").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        if line[0].isspace() and last:
            params[last] += " " + line.strip()
        else:
            last, _, value = (p.strip() for p in line.partition("="))
            params[last] = value
    return params


def listed(value: str) -> list[str]:
    return [v for v in re.split(r"[\s,]+", value) if v]


# --------------------------------------------------------------------------- routing


def test_mail_to_each_domains_bounce_address_goes_to_the_hook_not_to_dovecot():
    assert table("transport") == {"bounces@example.test": "mailops-bounce:",
                                  "bounces@tenant2.test": "mailops-bounce:"}
    assert main_cf()["transport_maps"] == f"texthash:{POSTFIX_MAPS_DIR}/transport"
    # The pipe service that name selects, as the user that owns the database.
    master = render("master.cf")
    service = re.search(r"^mailops-bounce\s+unix\s+(.*)\n\s+(flags=.*)$", master, re.M)
    assert service, master
    assert service.group(1).split()[-1] == "pipe"
    assert service.group(2) == (
        "flags=Rq user=mailops-bounce argv=/usr/bin/python3 -S "
        "/usr/local/lib/mailops/mailops_host/hook.py --db /var/lib/mailops/bounces.sqlite3 "
        "--quarantine /var/lib/mailops/quarantine --secret-file /etc/mailops/bounce-secret "
        "${sender} ${recipient}")


def test_the_hook_runs_once_per_recipient_so_its_exit_code_speaks_for_one_bounce():
    assert main_cf()["mailops-bounce_destination_recipient_limit"] == "1"


def test_bounce_addresses_are_valid_recipients_even_in_a_catch_all_domain():
    recipients = table("bounce_recipients")
    # Self-mapping: as a virtual alias it is found before "@tenant2.test" (virtual(5)
    # tries user@domain before @domain), so the catch-all never takes a bounce.
    assert recipients == {"bounces@example.test": "bounces@example.test",
                          "bounces@tenant2.test": "bounces@tenant2.test"}
    params = main_cf()
    for name in ("virtual_mailbox_maps", "virtual_alias_maps"):
        assert f"texthash:{POSTFIX_MAPS_DIR}/bounce_recipients" in listed(params[name])
    # Dovecot has no such user: the quota check must not refuse it.
    assert "bounces@example.test" not in table("virtual_mailbox_maps")


def test_a_domains_mailboxes_may_send_with_its_verp_return_path_and_only_theirs():
    senders = table("bounce_senders")
    assert senders == {"bounces@example.test": "alice@example.test, bob@example.test",
                       "bounces@tenant2.test": "carol@tenant2.test"}
    assert (f"texthash:{POSTFIX_MAPS_DIR}/bounce_senders"
            in listed(main_cf()["smtpd_sender_login_maps"]))


def test_an_inventory_mailbox_or_alias_named_bounces_is_refused_with_the_reason():
    with pytest.raises(SettingsError, match=r"aliases.bounces.*delivery-status"):
        settings(aliases={"bounces": ["alice@example.test"]})


# --------------------------------------------------------------------------- suppression


def test_submission_asks_the_suppression_list_first_through_proxymap():
    params = main_cf()
    restrictions = listed(params["mua_recipient_restrictions"])
    assert restrictions[:2] == ["check_recipient_access", "$mailops_suppression_maps"]
    assert params["mailops_suppression_maps"] == (
        f"proxy:sqlite:{POSTFIX_MAPS_DIR}/suppression.cf")
    # proxymap serves only approved tables; Postfix's default list stays in it.
    approved = listed(params["proxy_read_maps"])
    assert "$mailops_suppression_maps" in approved
    assert {"$virtual_alias_maps", "$smtpd_sender_login_maps", "$transport_maps"} <= set(
        approved)
    # Port 25 (mail to our users) is not subject to it.
    assert "mailops_suppression_maps" not in params["smtpd_recipient_restrictions"]


def test_the_suppression_map_refuses_a_suppressed_address_with_the_stores_message(tmp_path):
    lines = [line for line in render("suppression.cf").splitlines()
             if line and not line.startswith("#")]
    assert lines == store.postfix_map_cf(mh.BOUNCE_DB).splitlines()
    query = dict(line.split(" = ", 1) for line in lines)["query"]

    conn = store.connect(str(tmp_path / "b.sqlite3"))
    store.add_suppression(conn, "Gone@Remote.test", now=1714564800)

    def postfix_lookup(key: str):  # sqlite_table(5): %s is the key, ' doubled
        row = conn.execute(query.replace("%s", key.replace("'", "''"))).fetchone()
        return row[0] if row else None

    answer = postfix_lookup("gone@remote.test")
    assert answer == ("REJECT 5.7.1 recipient suppressed after manual "
                      "suppression on 2024-05-01 (mailops)")
    assert postfix_lookup("alive@remote.test") is None
    assert postfix_lookup("x' OR '1'='1") is None


# --------------------------------------------------------------------------- the hook's files


def _sibling_imports(path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            # "from . import x" names modules; "from .x import y" names module x.
            names.update([node.module] if node.module else [a.name for a in node.names])
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
              and node.func.id == "_module" and node.args
              and isinstance(node.args[0], ast.Constant)):
            names.add(node.args[0].value)  # parse.py imports format modules on first use
    return names


def test_the_host_gets_every_module_the_hook_imports_and_they_need_only_the_stdlib():
    import mailops.bounce

    BOUNCE_SRC = Path(mailops.bounce.__file__).parent  # what the host package takes
    ours = {p.stem for p in BOUNCE_SRC.glob("*.py")}
    todo, seen = ["hookmain"], set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for imported in _sibling_imports(BOUNCE_SRC / f"{name}.py"):
            top = imported.split(".")[0]
            if top in ours:
                todo.append(top)
            elif top == "rules_flat":  # made by the package build (classify.flat_module)
                assert "bounce/rules_flat.py" in onhost.package_files()
            else:
                assert top in sys.stdlib_module_names or top == "__future__", (name, top)
    assert seen <= set(mh.BOUNCE_HOOK_MODULES), seen - set(mh.BOUNCE_HOOK_MODULES)


# --------------------------------------------------------------------------- CLI


def test_a_bad_since_date_is_refused_before_any_host_is_contacted(tmp_path):
    result = CliRunner().invoke(app, ["bounces", "list", "--since", "last tuesday",
                                      "-i", str(tmp_path / "none.py")])
    assert result.exit_code == 2
    assert "expected a date such as 2024-05-01" in result.output


def test_suppressing_something_that_is_not_an_address_is_refused_with_an_example(tmp_path):
    inv = tmp_path / "inv.py"
    inv.write_text("hosts = [('mx', {'mailops': {'hostname': 'mx.example.test', "
                   "'domains': {'example.test': {}}}})]\n")
    result = CliRunner().invoke(app, ["suppression", "add", "not-an-address", "-i", str(inv)])
    assert result.exit_code == 2
    assert "expected an e-mail address" in result.output

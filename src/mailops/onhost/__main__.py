"""``python3 -S -m mailops_host <command> …``: what ``mailops`` runs on a host.

Commands (each prints one JSON object on stdout: ``{"result": …}``, exit 0, or
``{"error": "…"}``, exit 1 — so a deploy step that runs one fails when it fails):

- ``version`` — the installed package's VERSION;
- ``bounces PARAMS`` — the bounce database (see query.py; PARAMS is JSON);
- ``init-db PATH`` — create the bounce database (schema, WAL mode) if missing;
- ``new-secret PATH`` — write a fresh VERP secret to PATH (mode 0600, never shown);
- ``remove-key KEYFILE KEYTABLE`` — remove a retired DKIM key (dkimkeys.py);
- ``milter-probe SOCKET DOMAIN [HOSTNAME]`` — have OpenDKIM sign a probe (milter.py);
- ``status-mail [--dry-run] [--force]`` — the daily status mail (status/);
- ``messages --json [--since …] [--from A] [--to A] [--state S] [--limit N]`` and
  ``trace ID --json`` — the delivery log (delivery/query.py; plain lines without
  ``--json``);
- ``delivery-log --db PATH [--retention-days N] [--subjects]`` — the delivery log
  service itself, run by systemd until stopped (delivery/follow.py).
"""

import json
import sys


def _run(argv):
    if not argv:
        return {"error": "usage: python3 -S -m mailops_host COMMAND [ARGS]"}
    command, args = argv[0], argv[1:]
    if command == "version":
        from . import version
        return {"result": version()}
    if command == "bounces" and len(args) == 1:
        from .query import run
        return run(json.loads(args[0]))
    if command == "init-db" and len(args) == 1:
        from .provision import init_db
        return {"result": init_db(args[0])}
    if command == "new-secret" and len(args) == 1:
        from .provision import new_secret
        return {"result": new_secret(args[0])}
    if command == "remove-key" and len(args) == 2:
        from .dkimkeys import remove_key
        return remove_key(*args)
    if command in ("messages", "trace"):
        from .delivery.query import command as query
        return query(command, args)
    if command == "delivery-log":
        from .delivery.follow import command as service
        return service(args)
    if command == "milter-probe":
        from .milter import command as probe
        return probe(args)
    if command == "status-mail":
        from .status import command as status_mail
        return status_mail(args)
    return {"error": f"unknown command or wrong arguments: {' '.join(argv)}"}


def main(argv=None):
    try:
        out = _run(sys.argv[1:] if argv is None else argv)
    except Exception as exc:  # noqa: BLE001 - reported to the caller as data
        out = {"error": f"{type(exc).__name__}: {exc}"}
    if "text" in out:  # a person's lines, not JSON
        sys.stdout.write("".join(f"{line}\n" for line in out["text"]))
        return 0
    sys.stdout.write(json.dumps(out) + "\n")
    return 1 if "error" in out else 0


if __name__ == "__main__":
    sys.exit(main())

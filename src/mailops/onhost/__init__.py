"""mailops_host: the code mailops runs ON a mail host — standard library only.

The deploy (tasks/bounce.py) installs this package, together with the bounce
modules the hook imports (as the subpackage ``bounce``), as
``/usr/local/lib/mailops/mailops_host`` with a ``VERSION`` file, and replaces it
whenever its content changes (mailops.services.onhost builds it). Here in the
repository it is ``mailops.onhost``; on the host it is ``mailops_host``. Every
import inside it is relative, so it works under either name.

Entry points, called by name:

- ``python3 -S /usr/local/lib/mailops/mailops_host/hook.py …`` — the bounce hook
  Postfix's pipe(8) runs (a script, so its start costs the least: see hook.py);
- ``PYTHONPATH=/usr/local/lib/mailops python3 -S -m mailops_host <command> …`` —
  what ``mailops`` runs on the host (see __main__.py).
"""


def version() -> str:
    """The VERSION the deploy wrote beside this file ("source" when run from the repository)."""
    import os

    try:
        with open(os.path.join(os.path.dirname(__file__), "VERSION"), encoding="ascii") as f:
            return f.read().strip()
    except OSError:
        return "source"

"""The bounce hook as Postfix runs it: ``python3 -S <lib>/mailops_host/hook.py …``.

A script, not ``-m``: runpy would add its own imports to every bounce. Python
compiles a script's source on each run but loads an imported module's byte code
(the deploy byte-compiles the package), so this stub only imports the work
(bounce/hookmain.py: options, exit codes, the master.cf line).
"""

import sys

# Run as a file, sys.path[0] is this package's folder; the package is imported by
# name from its parent (Python docs, "The initialization of the sys.path").
sys.path[0] = sys.path[0].rpartition("/")[0]

from mailops_host.bounce.hookmain import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())

"""Regular expressions compiled on first use.

The bounce hook is a fresh process per bounce, and most of the package's
patterns serve formats a given message is not in: compiling them all at
import would cost more than parsing the message.  ``lazy(pattern)`` behaves
like the compiled pattern and compiles it the first time it is used.
Standard library only.
"""


import re


class lazy:  # noqa: N801 - reads like re.compile at the call sites
    __slots__ = ("_args", "_rx")

    def __init__(self, pattern, flags: int = 0):
        self._args = (pattern, flags)
        self._rx = None

    def __getattr__(self, name: str):
        rx = self._rx
        if rx is None:
            rx = self._rx = re.compile(*self._args)
        return getattr(rx, name)

"""The bounce modules, wherever this package runs.

On the host they are this package's subpackage ``bounce`` (the deploy installs them
there); in the repository they are the sibling package ``mailops.bounce``.
"""

try:
    from .bounce import store, verp
except ImportError:  # in the repository: mailops.onhost beside mailops.bounce
    from ..bounce import store, verp  # type: ignore[no-redef]

__all__ = ["store", "verp"]

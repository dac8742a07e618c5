"""Where failures become what a notebook user sees: one ``UsageError``, no traceback.

Everything the magics and the panel call runs inside ``user_errors()``: a refused
store operation, a database another kernel holds, a model that is not configured
are said in one line, with what to do.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from IPython.core.error import UsageError


def user_error_types() -> tuple[type[Exception], ...]:
    """The failures a user can act on (imported here, not by ``%load_ext``)."""
    from ..model import ModelConfigError
    from ..store import LockTimeout, StoreError

    return (StoreError, LockTimeout, ModelConfigError)


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn the failures a user can act on into a ``UsageError``."""
    try:
        yield
    except Exception as exc:
        if isinstance(exc, user_error_types()):
            raise UsageError(str(exc)) from None
        raise

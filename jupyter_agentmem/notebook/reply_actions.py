"""What a reply may do to the notebook after it is shown: ``format=code`` and ``out=name``.

``format=code`` puts the reply's code into a new cell below (``set_next_input``): it is
never executed. ``out=name`` stores the reply text in a notebook variable.
"""

from __future__ import annotations

import keyword
import re
from typing import Any

from IPython.core.error import UsageError

# A fence opens with ``` or ~~~ (3 or more) at a line start and closes with the same.
_FENCE = re.compile(r"^(`{3,}|~{3,})[^\n]*\n(.*?)^\1[ \t]*$", re.MULTILINE | re.DOTALL)


def variable_name(name: str, value: str) -> str:
    """The ``out=`` option: a Python identifier that is not a keyword."""
    if not value.isidentifier() or keyword.iskeyword(value):
        raise UsageError(f"{name}={value!r} is not valid: give a Python variable name "
                         "(letters, digits and _, not starting with a digit, not a keyword).")
    return value


def code_of(reply: str) -> str | None:
    """The code blocks of a Markdown reply, joined; None when it has none."""
    blocks = [m.group(2).rstrip("\n") for m in _FENCE.finditer(reply)]
    return "\n\n".join(blocks) if blocks else None


def apply(shell: Any, reply: str, as_code: bool, out: str | None) -> None:
    """Put the code in a new cell below and/or store the text in ``out``."""
    if out is not None:
        shell.user_ns[out] = reply
    if as_code:
        code = code_of(reply)
        if code is None:
            print("format=code: the reply holds no code block; no cell was added.")
        else:
            shell.set_next_input(code, replace=False)

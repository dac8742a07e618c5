"""Notebook variables as context: ``{name}`` in a ``%%agent`` cell (issue 9, point 1).

Every case asserts the request that reached the test server.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from IPython.core.error import UsageError
from IPython.utils.capture import capture_output
from traitlets import TraitError

from jupyter_agentmem.notebook.context import interpolate, render
from jupyter_agentmem.notebook.credentials import text_credential
from jupyter_agentmem.store import DuckDbStore


def sent(shell, server, cell: str, line: str = "session=ctx") -> str:
    """Run ``cell``; the user message the server received."""
    server.reset()
    with capture_output():
        shell.run_cell_magic("agent", line, cell)
    bodies = server.of("chat")
    assert len(bodies) == 1
    return bodies[0]["messages"][-1]["content"]


def test_dataframe_of_a_million_rows_stays_within_the_bound(shell, server):
    shell.user_ns["df"] = pd.DataFrame({"a": np.arange(1_000_000), "b": "x" * 10,
                                        "c": np.linspace(0, 1, 1_000_000)})
    bound = shell.magics_manager.registry["AgentMagics"].context_chars
    text = sent(shell, server, "Describe {df} please")
    assert text.startswith("Describe DataFrame: 1,000,000 rows x 3 columns\n")
    assert text.endswith(" please")
    rendering = text[len("Describe "):-len(" please")]
    assert len(rendering) <= bound
    assert "a: int64" in rendering and "c: float64" in rendering
    assert "|  | a | b | c |" in rendering and "| 4 | 4 | xxxxxxxxxx |" in rendering
    assert "| 5 |" not in rendering  # only the first rows


def test_the_bound_is_a_validated_traitlet(shell, server):
    magics = shell.magics_manager.registry["AgentMagics"]
    magics.context_chars = 300
    shell.user_ns["big"] = "y" * 5000
    text = sent(shell, server, "{big}")
    assert len(text) <= 300 and text.startswith("yyy") and "cut: 5,000 characters" in text
    for bad in (0, -1, 10**9):
        with pytest.raises(TraitError, match="context_chars"):
            magics.context_chars = bad
    assert magics.context_chars == 300


def test_in_out_last_output(shell, server):
    shell.run_cell("21 * 2", store_history=True)
    shell.run_cell("'hello ' + 'there'", store_history=True)
    n = shell.execution_count - 1
    text = sent(shell, server, f"code {{In[{n}]}} gave {{Out[{n}]}}; before {{Out[{n - 1}]}}; "
                               "last {_}")
    assert text == "code 'hello ' + 'there' gave hello there; before 42; last hello there"
    # An index that does not exist is left as it is.
    assert sent(shell, server, "{In[999]} {Out[999]}") == "{In[999]} {Out[999]}"


def test_err_is_the_last_real_traceback(shell, server):
    with capture_output():
        shell.run_cell("def f(x):\n    return 1 / x\nf(0)", store_history=True)
    text = sent(shell, server, "Why?\n{Err}")
    assert text.startswith("Why?\nTraceback (most recent call last):")
    assert "return 1 / x" in text
    assert text.endswith("ZeroDivisionError: division by zero")
    assert "\x1b[" not in text  # plain text, no colour codes
    assert "interactiveshell" not in text  # IPython's own frames left out


def test_braces_that_name_no_variable_are_left_alone(shell, server):
    shell.user_ns.update(x=5, i=2, a=1, b=3, name="Ana")
    cells = [
        '{"key": [1, 2], "nested": {"y": null}}',                     # JSON
        "def f(d):\n    return {k: v for k, v in d.items()}\n{}",      # Python
        r"$\frac{a}{b} + x_{i} + e^{i}$ and \mathbf{x}",                # LaTeX
        "const s = `${name}`; print(f\"{missing!r} {unknown:>10}\")",   # templates, f-strings
        "{ name }",                                                     # not a reference
    ]
    for cell in cells:
        assert sent(shell, server, cell) == cell


def test_double_braces_escape_and_missing_names_stay(shell, server):
    shell.user_ns["x"] = 7
    assert sent(shell, server, "{{x}} is {x}; {nope} stays; {{nope}} too") == \
        "{x} is 7; {nope} stays; {nope} too"


def test_context_off_sends_the_text_as_written(shell, server):
    shell.user_ns["x"] = 7
    assert sent(shell, server, "{x}", line="session=ctx context=off") == "{x}"


@pytest.mark.parametrize("name", ["api_key", "GITHUB_TOKEN", "db_password", "mySecret"])
def test_a_secret_looking_name_is_refused_and_nothing_sent(shell, server, db_path, name):
    shell.user_ns[name] = "harmless"
    server.reset()
    with pytest.raises(UsageError, match="looks like a secret"):
        shell.run_cell_magic("agent", "session=sec", "use {" + name + "}")
    assert server.requests == []
    store = DuckDbStore(db_path)
    assert store.list_sessions() == []
    store.close()


@pytest.mark.parametrize("value", [
    "sk-proj-" + "Ab3dEf6hIj9kLm2nOp5qRs8tUv",
    {"config": {"auth": "Bearer ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3"}},
    "token=Zx8Qw2Lr7Np4Ks9Hv3Bt6Ym1Jd5Gf0Ca",
])
def test_a_value_that_looks_like_a_key_is_refused(shell, server, db_path, value):
    shell.user_ns["cfg"] = value
    server.reset()
    with pytest.raises(UsageError, match="looks like an API key") as info:
        shell.run_cell_magic("agent", "session=sec", "{cfg}")
    assert "Ab3dEf" not in str(info.value) and "a1B2" not in str(info.value)
    assert server.requests == []


def test_ordinary_values_are_not_taken_for_keys():
    # A bare 32-64 hex string is taken for a key (issue 15): a hash is sent when it says
    # it is one (tests/test_credentials.py has the whole table).
    for text in ["3f2b8c1e-9d4a-4e7b-8c2d-1a2b3c4d5e6f",                  # uuid
                 "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
                 "the_quick_brown_fox_jumps_over_the_lazy_dog_again",
                 "DataFrame: 1,000,000 rows x 3 columns"]:
        assert text_credential(text) is None, text


def test_renderings_are_bounded_for_every_kind():
    huge_list = list(range(10_000_000))
    cases = [pd.Series(np.arange(5_000_000), name="s"), np.zeros((3000, 3000)),
             {i: str(i) * 50 for i in range(100_000)}, huge_list, "z" * 100_000,
             object(), type("M", (), {"_repr_markdown_": lambda self: "**md** " * 10_000})()]
    for value in cases:
        assert len(render(value, 500)) <= 500
    assert render(pd.Series([1, 2], name="s"), 500).startswith("Series 's': 2 values, dtype int64")
    assert render(np.arange(3), 500) == "ndarray shape (3,), dtype int64\n[0 1 2]"
    assert render({"a": [1, 2]}, 500) == "{'a': [1, 2]}"
    assert render(type("M", (), {"_repr_markdown_": lambda self: "**md**"})(), 500) == "**md**"


def test_the_scan_is_linear_and_leaves_text_untouched():
    text = "{" * 200_000 + "x" * 200_000 + "}" * 200_000
    assert interpolate(text, {"x": 1}, 100) == text
    assert interpolate("{x} " * 50_000, {"x": 1}, 100) == "1 " * 50_000


# --- replies into the notebook: format=code and out=name (issue 9, point 5) ------------
CODE_REPLY = "Here:\n```python\nmade_by_reply = 1\nprint('x')\n```\nand\n~~~\nsecond = 2\n~~~\n"


def test_format_code_fills_a_new_cell_and_never_runs_it(shell, server):
    from model_server import Reply

    server.script(Reply(content=CODE_REPLY))
    shell.rl_next_input = None
    with capture_output():
        shell.run_cell_magic("agent", "session=code format=code", "write code")
    assert shell.rl_next_input == "made_by_reply = 1\nprint('x')\n\nsecond = 2"
    assert "made_by_reply" not in shell.user_ns and "second" not in shell.user_ns


def test_format_code_without_a_code_block_says_so(shell, server):
    shell.rl_next_input = None
    with capture_output() as out:
        shell.run_cell_magic("agent", "session=code format=code", "no code")
    assert "no code block" in out.stdout and shell.rl_next_input is None


def test_out_stores_the_reply_text(shell, server):
    with capture_output():
        shell.run_cell_magic("agent", "session=out out=answer", "keep me")
    assert shell.user_ns["answer"] == "echo: keep me"


@pytest.mark.parametrize("bad", ["1x", "class", "a-b", "a.b"])
def test_out_needs_a_variable_name(shell, server, bad):
    with pytest.raises(UsageError, match="not valid: give a Python variable name"):
        shell.run_cell_magic("agent", "session=out out=" + bad, "hi")
    assert server.requests == []


def test_out_is_not_set_when_the_run_failed(shell, server):
    from model_server import Reply

    server.script(Reply(status=500, content="boom"))
    with capture_output():
        shell.run_cell_magic("agent", "session=out out=failed_answer", "hi")
    assert "failed_answer" not in shell.user_ns

"""A first end-to-end check: a shell, the magic, the test server, a DuckDB file."""

from IPython.utils.capture import capture_output
from model_server import roles_and_contents


def test_two_cells_send_history(shell, server):
    with capture_output() as out:
        shell.run_cell_magic("agent", "session=foo", "hello")
        shell.run_cell_magic("agent", "session=foo", "again")
    assert "echo: again" in out.outputs[-1].data["text/plain"]
    assert roles_and_contents(server.of("chat")[-1]) == [
        ("user", "hello"), ("assistant", "echo: hello"), ("user", "again")]

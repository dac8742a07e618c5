"""The seed's personalised-memories example, executed by nbclient against the test server."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nbformat
from model_server import Reply
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).parent.parent / "notebooks"


def add(memory: str, topic: str) -> Reply:
    return Reply(tool_calls=[{"name": "add_memory",
                              "arguments": {"memory": memory, "topics": [topic]}}])


def outputs_text(nb) -> list[str]:
    texts = []
    for cell in nb.cells:
        chunks = []
        for out in cell.get("outputs", []):
            chunks.append(out.get("text", ""))
            chunks.append(json.dumps(out.get("data", {})))
        texts.append("\n".join(chunks))
    return texts


def test_memories_and_summaries_notebook(server, tmp_path, monkeypatch):
    shutil.copy(NOTEBOOKS / "memories_and_summaries.ipynb", tmp_path)
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-secret")
    monkeypatch.setenv("AGENTMEM_DB", str(tmp_path / "nb.duckdb"))
    server.script(add("The user's name is John Billings.", "name"),
                  add("The user lives in NYC.", "location"),
                  add("The user is going to a concert tomorrow.", "plans"),
                  Reply(content="nothing new"), kind="memory")
    server.script(*[Reply(content=json.dumps({"summary": f"summary v{i}", "topics": ["t"]}))
                    for i in range(1, 5)], kind="summary")
    nb = nbformat.read(tmp_path / "memories_and_summaries.ipynb", as_version=4)
    NotebookClient(nb, timeout=120, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    texts = outputs_text(nb)
    assert "John Billings" in texts[4] and "NYC" not in texts[4]
    assert "The user lives in NYC." in texts[5]
    assert "concert tomorrow" in texts[6]
    # The last question was sent with all three memories and the summary in the prompt.
    system = server.of("chat")[-1]["messages"][0]["content"]
    for fact in ("John Billings", "lives in NYC", "concert tomorrow"):
        assert fact in system
    assert "<summary>\nsummary v3\n</summary>" in system
    assert "summary v4" in texts[8]
    assert "The user lives in NYC." in texts[10]  # %agent memories DataFrame
    assert "summary v4" in texts[11]
    assert not any("sk-test-secret" in t for t in texts)


def test_memory_status_line_is_updated_in_the_cell_by_the_worker(server, tmp_path, monkeypatch):
    """In a real kernel the worker thread's display update reaches the cell that ran."""
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-secret")
    monkeypatch.setenv("AGENTMEM_DB", str(tmp_path / "nb.duckdb"))
    server.script(Reply(delay=1.0, tool_calls=[{"name": "add_memory", "arguments": {
        "memory": "The user likes tea.", "topics": ["food"]}}]), kind="memory")
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("%load_ext jupyter_agentmem\n"
                                  "%config AgentMagics.model = 'test-model'"),
        nbformat.v4.new_code_cell("%%agent session=s user=ana memories=on\nI like tea"),
        nbformat.v4.new_code_cell("import time; time.sleep(3)"),  # the worker finishes here
    ])
    NotebookClient(nb, timeout=60, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = nb.cells[1].outputs
    assert "echo: I like tea" in outputs[0]["data"]["text/plain"]
    assert outputs[-1]["data"]["text/plain"] == "memory: memories +1"

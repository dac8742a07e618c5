"""Run Agent turns in a process of their own (history, concurrency and SIGKILL tests).

    python tests/agent_proc.py '<json spec>'

spec: db, base_url, session, history (runs, 0 = none), messages (list of str),
description (optional), stream (bool). Prints ``done <i> <repr of the reply>`` (one
line, flushed) after each completed run, so a parent knows what was committed.
"""

from __future__ import annotations

import json
import sys


def main(spec: dict) -> int:
    from jupyter_agentmem import Agent, OpenAIChat
    from jupyter_agentmem.storage import AgentStorage
    from jupyter_agentmem.store import open_store

    agent = Agent(
        model=OpenAIChat(id="proc-model", base_url=spec["base_url"], api_key="sk-test-secret",
                         max_retries=0, timeout=30),
        storage=AgentStorage(open_store(spec["db"])),  # a DuckDB file or a postgresql:// URL
        add_history_to_messages=True,
        num_history_responses=spec.get("history", 3),
        description=spec.get("description"),
        session_id=spec["session"],
    )
    for i, message in enumerate(spec["messages"]):
        if spec.get("stream"):
            content = "".join(chunk.content or "" for chunk in agent.run(message, stream=True))
        else:
            content = agent.run(message).content
        print(f"done {i} {content!r}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(json.loads(sys.argv[1])))

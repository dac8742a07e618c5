"""Turns in a process of their own, saying where each turn is (the SIGKILL test).

    python tests/crash_turn_proc.py DB BASE_URL PREFIX

DB: a DuckDB path, ``sqlite://...`` or ``postgresql://...``. One session ``s`` of user
``ana`` with history, user memories and summaries on. Prints, one flushed line each:
``ready`` once the database is open, then per turn ``staged <message>`` when its user
message is stored (the store's debug log line, from the staging thread), ``mid
<message>`` at the third streamed chunk, ``streamed <message>`` when the whole reply has
arrived (the run is being stored), ``ok <message>`` once the run is stored (its memory
work is then queued). What the user has seen of the reply: ``saw <message>@<n>`` after
each piece is shown (its first ``n`` characters), and ``shown <message>`` once the whole
reply of a turn without streaming is (``respond`` returned: every fourth turn).
"""

from __future__ import annotations

import logging
import sys


class Said(logging.Handler):
    """Prints ``staged <message>`` when the store says the user's message is stored."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.message = ""

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("stored the user's message"):
            print("staged", self.message, flush=True)


def main(db: str, base_url: str, prefix: str) -> None:
    from crash_replies import REPLY

    from jupyter_agentmem import Agent, AgentMemory, OpenAIChat
    from jupyter_agentmem.storage import AgentStorage
    from jupyter_agentmem.store import open_store

    said = Said()
    staged_log = logging.getLogger("jupyter_agentmem.store")  # journal.py, sql/staged.py
    staged_log.setLevel(logging.DEBUG)
    staged_log.addHandler(said)
    model = OpenAIChat(id="m", base_url=base_url, api_key="k-crash-test", max_retries=0,
                       timeout=20)
    agent = Agent(model=model, storage=AgentStorage(open_store(db)), session_id="s",
                  user_id="ana", add_history_to_messages=True,
                  memory=AgentMemory(create_user_memories=True, create_session_summary=True))
    agent.store.count_runs("s")  # the database is open: from here on every moment counts
    print("ready", flush=True)
    i = 0
    while True:
        i += 1
        message = said.message = f"message {prefix}-{i}"
        deltas: list[str] = []

        def seen(delta: str, message: str = message, deltas: list[str] = deltas) -> None:
            deltas.append(delta)
            print(f"saw {message}@{len(''.join(deltas))}", flush=True)
            if len(deltas) == 3:
                print("mid", message, flush=True)
            if "".join(deltas) == REPLY:
                print("streamed", message, flush=True)

        if i % 4 == 0:  # the reply is shown when the turn returns
            response = agent.respond(message)
            if response.content == REPLY:
                print("shown", message, flush=True)
        else:
            response = agent.respond(message, on_delta=seen)
        print(response.status if response.stored else "unstored", message, flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:4])

"""Session summaries: incremental, versioned, used only when runs fall outside the window,
and made lazily: when runs leave the window (several at once) or when someone reads one."""

from __future__ import annotations

import json

from model_server import Reply

from jupyter_agentmem import Agent, AgentMemory
from jupyter_agentmem.storage import DuckDbAgentStorage
from jupyter_agentmem.store import DuckDbStore


def summary_agent(model, db_path, history=2, session="sum") -> Agent:
    return Agent(model=model, storage=DuckDbAgentStorage(db_file=db_path),
                 memory=AgentMemory(create_session_summary=True),
                 add_history_to_messages=True, num_history_responses=history,
                 session_id=session, user_id="ana")


def summary_reply(text: str, *topics: str) -> Reply:
    return Reply(content=json.dumps({"summary": text, "topics": list(topics)}))


def test_summary_request_holds_previous_summary_and_only_new_runs(server, model, db_path):
    agent = summary_agent(model, db_path)
    server.script(summary_reply("Ana said hi.", "greeting"), summary_reply("Ana asked about tea.",
                  "greeting", "tea"), kind="summary")
    agent.run("hi there")
    assert agent.memory.summary.summary == "Ana said hi."  # phidata's example reads it
    agent.run("tell me about tea")
    agent.memory.wait(10)
    assert agent.memory.summary.summary == "Ana asked about tea."
    first, second = server.of("summary")
    assert "(no summary yet)" in first["messages"][1]["content"]
    assert "User: hi there" in first["messages"][1]["content"]
    content = second["messages"][1]["content"]
    assert content.startswith("Summary so far:\nAna said hi.\n\nNew turns:\n")
    assert "User: tell me about tea" in content
    assert "hi there" not in content  # the old run is only in the summary
    assert second["response_format"]["type"] == "json_schema"
    versions = DuckDbStore(db_path).as_user("ana").list_summaries("sum")
    assert [(s.version, s.summary, s.through_run_seq) for s in versions] == [
        (1, "Ana said hi.", 0), (2, "Ana asked about tea.", 1)]
    assert agent.memory.summary.topics == ["greeting", "tea"]


def test_summary_joins_the_prompt_only_when_runs_fall_outside_the_window(server, model, db_path):
    agent = summary_agent(model, db_path, history=2)
    server.script(summary_reply("summary of runs 0 to 2"), kind="summary")
    for i in range(3):
        agent.run(f"message {i}")
        agent.memory.wait(10)
        system = next((m["content"] for m in server.of("chat")[-1]["messages"]
                       if m["role"] == "system"), "")
        assert "<summary>" not in system  # runs 0..2 all fit a window of 2 before run 2
    # Run 0 left the window of 2 with run 2: one call folded runs 0, 1 and 2 at once.
    assert len(server.of("summary")) == 1
    assert "User: message 0" in server.of("summary")[0]["messages"][1]["content"]
    assert "User: message 2" in server.of("summary")[0]["messages"][1]["content"]
    agent.run("message 3")  # history = runs 1, 2; run 0 is outside: the summary goes in
    messages = server.of("chat")[-1]["messages"]
    assert messages[0]["role"] == "system"
    assert "<summary>\nsummary of runs 0 to 2\n</summary>" in messages[0]["content"]
    assert [m["content"] for m in messages[1:]] == [
        "message 1", "echo: message 1", "message 2", "echo: message 2", "message 3"]


def test_a_summary_call_folds_the_runs_that_left_the_window_not_one_per_run(
        server, model, db_path):
    agent = summary_agent(model, db_path, history=3)
    server.script(*[summary_reply(f"summary {k}") for k in range(4)], kind="summary")
    for i in range(12):
        agent.run(f"message {i}")
        agent.memory.wait(10)
        # Every prompt carries each earlier run, whole in the window or in the summary.
        sent = server.of("chat")[-1]["messages"]
        window = [m["content"] for m in sent if m["role"] == "user"][:-1]
        summary = DuckDbStore(db_path).as_user("ana").latest_summary("sum")
        covered = summary.through_run_seq if summary is not None else -1
        missing = [k for k in range(i) if k > covered and f"message {k}" not in window]
        assert missing == [], f"turn {i}: runs {missing} in neither window nor summary"
    # Runs leave a window of 3 at runs 3, 7, 11: three calls of 4 runs, not twelve.
    calls = server.of("summary")
    assert len(calls) == 3
    assert [c["messages"][1]["content"].count("User: ") for c in calls] == [4, 4, 4]
    assert DuckDbStore(db_path).as_user("ana").latest_summary("sum").through_run_seq == 11


def test_reading_the_summary_brings_it_up_to_the_last_run(server, model, db_path):
    agent = summary_agent(model, db_path, history=3)
    server.script(summary_reply("Ana said hi and asked about tea."), kind="summary")
    agent.run("hi there")
    agent.run("tell me about tea")
    agent.memory.wait(10)
    assert server.of("summary") == []  # both runs are still in the window: nothing asked
    assert agent.memory.summary.summary == "Ana said hi and asked about tea."
    assert agent.memory.summary.through_run_seq == 1
    assert len(server.of("summary")) == 1  # read twice, made once


def test_a_new_agent_reading_the_summary_catches_up_without_a_deferred_job(
        server, model, db_path):
    from jupyter_agentmem import runtime

    summary_agent(model, db_path).run("hi there")
    runtime.reset()  # a new kernel: nothing deferred survives
    server.script(summary_reply("caught up"), kind="summary")
    fresh = summary_agent(model, db_path)
    assert fresh.memory.summary.summary == "caught up"
    assert len(server.of("summary")) == 1


def test_without_update_after_run_a_read_makes_no_summary(server, model, db_path):
    agent = Agent(model=model, storage=DuckDbAgentStorage(db_file=db_path),
                  memory=AgentMemory(create_session_summary=True,
                                     update_session_summary_after_run=False),
                  add_history_to_messages=True, session_id="sum", user_id="ana")
    agent.run("hi there")
    assert agent.memory.summary is None  # phidata: only update_summary() makes one
    assert server.of("summary") == []
    server.script(summary_reply("asked for"), kind="summary")
    assert agent.memory.update_summary().summary == "asked for"


def test_without_history_in_the_prompt_the_summary_follows_every_run(server, model, db_path):
    # The summary is the prompt's only memory of the session then: the next prompt reads it.
    agent = Agent(model=model, storage=DuckDbAgentStorage(db_file=db_path),
                  memory=AgentMemory(create_session_summary=True), session_id="sum",
                  user_id="ana")
    server.script(summary_reply("one"), summary_reply("two"), kind="summary")
    agent.run("first")
    agent.run("second")
    agent.memory.wait(10)
    assert len(server.of("summary")) == 2
    assert "<summary>\none\n</summary>" in server.of("chat")[-1]["messages"][0]["content"]


def test_percent_agent_summary_and_the_panel_read_a_current_summary(shell, server, db_path):
    from IPython.utils.capture import capture_output

    server.script(summary_reply("from the magic"), summary_reply("from the panel"),
                  kind="summary")
    with capture_output():
        shell.run_cell_magic("agent", "session=s user=ana summary=on history=3", "hello")
    frame = shell.run_line_magic("agent", "summary session=s user=ana")
    assert list(frame["summary"]) == ["from the magic"]
    with capture_output():
        shell.run_cell_magic("agent", "session=s user=ana summary=on history=3", "again")
    assert len(server.of("summary")) == 1  # the second run is still in the window
    from jupyter_agentmem.notebook.panel import AgentPanel

    panel = AgentPanel(DuckDbStore(db_path), session_id="s", user_id="ana")
    try:
        assert list(panel.summaries_tab.frame["summary"])[-1] == "from the panel"
    finally:
        panel.close()
    assert len(server.of("summary")) == 2


def test_server_without_json_schema_falls_back(server, model, db_path):
    agent = summary_agent(model, db_path)
    server.script(Reply(status=400, content="response_format json_schema unsupported"),
                  Reply(content="```json\n" + json.dumps({"summary": "fenced", "topics": []})
                        + "\n```"), kind="summary")
    agent.run("hello")
    assert agent.memory.summary.summary == "fenced"
    formats = [b["response_format"]["type"] for b in server.of("summary")]
    assert formats == ["json_schema", "json_object"]


def test_broken_summary_answer_stores_nothing_and_warns(server, model, db_path):
    from jupyter_agentmem.memory import take_failures

    agent = summary_agent(model, db_path)
    take_failures()
    server.script(Reply(content="not json at all"), kind="summary")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        agent.run("hello")
        assert agent.memory.summary is None
    failures = take_failures()
    assert len(failures) == 1 and "not usable JSON" in failures[0]


def test_a_token_budget_that_fits_fewer_runs_than_the_window_reads_a_current_summary(
        server, model, db_path):
    agent = summary_agent(model, db_path, history=3)
    agent.history_tokens = 260  # room for about one of these runs besides the message
    server.script(summary_reply("runs 0 and 1"), kind="summary")
    for i in range(3):
        agent.run(f"message {i} " + "words " * 60)
        agent.memory.wait(10)
    assert server.of("summary") == []  # all three runs are within a window of 3
    agent.run("message 3")
    sent = server.of("chat")[-1]["messages"]
    users = [m["content"] for m in sent if m["role"] == "user"]
    assert len(users) < 4  # some runs did not fit the budget...
    # ...so the summary covering them was brought up to date for this prompt.
    assert "<summary>\nruns 0 and 1\n</summary>" in sent[0]["content"]
    assert len(server.of("summary")) == 1


def test_a_restarted_kernel_shows_a_current_summary(shell, server, db_path):
    # Nothing deferred survives a restart: %agent summary and the panel still bring the
    # summary up to the session's last run (with the notebook's model).
    from IPython.utils.capture import capture_output

    from jupyter_agentmem import runtime

    shell.run_line_magic("config", f"AgentMagics.db = {db_path!r}")
    with capture_output():
        for text in ("one", "two", "three", "four", "five"):
            shell.run_cell_magic("agent", "session=s user=ana summary=on history=3", text)
    assert runtime.idle(20)
    latest = DuckDbStore(db_path).as_user("ana").latest_summary("s")
    assert latest.through_run_seq == 3  # lazy: 4 is not in
    runtime.reset()  # a new kernel
    frame = shell.run_line_magic("agent", "summary session=s user=ana")
    assert list(frame["through_run_seq"])[-1] == 4 and "five" in list(frame["summary"])[-1]
    with capture_output():
        shell.run_cell_magic("agent", "session=s user=ana summary=on history=3", "six")
    runtime.reset()
    panel = shell.run_line_magic("agent", "panel session=s user=ana")
    try:
        assert list(panel.summaries_tab.frame["through_run_seq"])[-1] == 5
    finally:
        panel.close()

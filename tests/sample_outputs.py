"""A store with what a data scientist's database holds after two weeks: ana's sessions
(a named one, a phidata-style UUID one, a kernel one; a failed and an interrupted run;
Markdown replies with line breaks and code), her memories and summaries, background
model calls over 14 days with priced and unpriced models, and bob's data, which no
output of ana's may show. Used by the display tests, the browser screenshots and the
terminal test."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from jupyter_agentmem.types import Memory, Message, ModelCall, Run, RunContext, SessionSummary

TRIP = "lisbon-trip"
TRIP_NAME = "Lisbon weekend"
THESIS = "5b0f3c9e-8d21-4a7b-9c55-0e7d6a1f2b34"  # a phidata-style session id
KERNEL = "nb-3f2a9c1b2d4e"
BOB = "bob-secret-plans"
BOB_WORDS = "surprise party"  # in bob's texts only

REPLY_DAY_ONE = (
    "**Day one** in Alfama:\n\n"
    "1. Castelo de São Jorge in the morning (go early, the queue grows by 10:00)\n"
    "2. Lunch at a *tasca* on Rua de São Miguel\n"
    "3. The Museu Nacional do Azulejo for the tiles\n\n"
    "```text\nTram 28 from Martim Moniz\n```")
REPLY_TEA = ("Try **Companhia Portugueza do Chá** on Rua do Poço dos Negros: loose-leaf "
             "green tea, and they pack it for the plane.\nOpen 10:00-19:00, closed Sundays.")


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0)


def _run(session: str, user_text: str, reply: str | None, when: datetime, *,
         model: str = "gpt-4o-mini", status: str = "ok", tokens: tuple[int, int] = (0, 0),
         latency: float = 2476.584212, context: RunContext | None = None) -> Run:
    messages = [Message(role="user", content=user_text, created_at=when)]
    if reply is not None:
        messages.append(Message(role="assistant", content=reply,
                                created_at=when + timedelta(seconds=3)))
    return Run(session_id=session, model=model, status=status, messages=messages,
               input_tokens=tokens[0] or None, output_tokens=tokens[1] or None,
               latency_ms=latency if status == "ok" else None, created_at=when,
               error="Model error 500: upstream overloaded" if status == "error" else None,
               context=context)


def seed(store) -> dict[str, str]:
    """Fill ``store``; returns the ids a test looks for."""
    now = _now()
    start = now - timedelta(days=14)  # the last background call: earlier today
    store.as_user("ana").save_session(TRIP, session_name=TRIP_NAME)
    store.as_user("ana").save_session(THESIS)
    store.as_user("ana").save_session(KERNEL)
    store.as_user("bob").save_session(BOB)

    trip_context = RunContext(
        messages=[{"role": "system", "content": "You are a helpful travel assistant.\n\n"
                   "What you know about the user:\n- Ana loves green tea.\n"
                   "- Ana is planning a weekend in Lisbon in May."},
                  {"role": "user", "content": "What should I see on day one?"},
                  {"role": "assistant", "content": REPLY_DAY_ONE},
                  {"role": "user", "content": "Which tea house did you suggest?"}],
        tokens={"system": 186, "memories": 42, "summary": 61, "recalled": 0,
                "history": 318, "message": 12}, estimated=False)
    trip = [
        _run(TRIP, "I'm planning a weekend in Lisbon in May.\nI love green tea and "
             "azulejo tiles.", "Lovely! Lisbon in May is warm and bright.\n\nShall I plan "
             "the two days?", now - timedelta(hours=3), tokens=(412, 58)),
        _run(TRIP, "What should I see on day one?", REPLY_DAY_ONE,
             now - timedelta(hours=2, minutes=50), tokens=(530, 141)),
        _run(TRIP, "And a good tea house near Chiado?", None,
             now - timedelta(hours=2, minutes=40), status="error"),
        _run(TRIP, "Can you book a table for two?", None,
             now - timedelta(hours=2, minutes=30), status="interrupted"),
        _run(TRIP, "Which tea house did you suggest?", REPLY_TEA,
             now - timedelta(hours=2), tokens=(619, 67), context=trip_context),
    ]
    for run in trip:
        store.as_user("ana").append_run(run)
    for day in range(0, 13, 2):
        when = start + timedelta(days=day, hours=9)
        store.as_user("ana").append_run(_run(THESIS,
                                             f"Summarise paper {day + 1} on urban heat islands.",
                              f"Paper {day + 1} measures **street-level heat** in Porto.",
                              when, model="gpt-4o", tokens=(1800 + 90 * day, 420)))
    for day in (3, 4, 9):
        when = start + timedelta(days=day, hours=15)
        store.as_user("ana").append_run(_run(KERNEL, "Explain this traceback: KeyError 'tea'",
                              "The column `tea` is not in the frame.", when,
                              model="llama3:8b", tokens=(950, 210)))
    for day in range(14):
        when = start + timedelta(days=day, hours=10)
        for kind, tokens in (("memory", (380 + 10 * day, 40)), ("summary", (900, 120))):
            if kind == "summary" and day % 3:
                continue
            store.as_user("ana").record_model_call(ModelCall(
                kind=kind, model="gpt-4o-mini", input_tokens=tokens[0],
                output_tokens=tokens[1], latency_ms=812.4, session_id=THESIS, user_id="ana",
                created_at=when))
    for memory, topics in (("Ana loves green tea.", ["drinks", "preferences"]),
                           ("Ana is planning a weekend in Lisbon in May.", ["travel"]),
                           ("Ana collects azulejo tiles.", ["hobbies"]),
                           ("Ana's thesis is about urban heat islands in Porto.",
                            ["work", "research"])):
        store.as_user("ana").add_memory(Memory(
            user_id="ana", memory=memory, topics=topics, session_id=TRIP,
            input="I'm planning a weekend in Lisbon in May."))
    store.as_user("ana").add_summary(SessionSummary(
        session_id=TRIP, summary="Ana is planning a May weekend in Lisbon; she loves green "
        "tea and azulejo tiles.", topics=["travel", "tea"], through_run_seq=0))
    store.as_user("ana").add_summary(SessionSummary(
        session_id=TRIP, version=2, summary="Ana is planning a May weekend in Lisbon: day one "
        "in Alfama (castle, a tasca, the tile museum); she asked for a tea house near "
        "Chiado.", topics=["travel", "tea", "itinerary"], through_run_seq=4))

    for day in (2, 6, 11):  # bob's, on the same days: none of it in ana's outputs
        when = start + timedelta(days=day, hours=11)
        store.as_user("bob").append_run(_run(BOB, f"Plan the {BOB_WORDS} for Eve; she hates tea.",
                              f"A {BOB_WORDS} needs a cover story.", when, model="gpt-4o",
                              tokens=(5000, 900)))
    store.as_user("bob").add_memory(Memory(user_id="bob", memory=f"Bob is planning a {BOB_WORDS}.",
                            topics=["secrets"], session_id=BOB))
    return {"context_run": trip[-1].run_id}

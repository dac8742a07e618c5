"""What showing a large ``%agent`` output costs (issue 18): a usage ledger of N calls and a
history of N messages, built (the DataFrame and its sums) and drawn as HTML and as text;
and the local-day grouping against converting each time through dateutil's tzlocal.

    .venv/bin/python bench/bench_outputs.py [N]     (default 100,000)

Prints the median of 5 runs of each, in ms.
"""

from __future__ import annotations

import sys
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent.parent))

import pandas as pd  # noqa: E402
from IPython.lib.pretty import pretty  # noqa: E402
from timing import median_ms  # noqa: E402 (bench/ is the script's folder)

from jupyter_agentmem.notebook.frames import history_frame  # noqa: E402
from jupyter_agentmem.notebook.usage import local_days, usage_frame  # noqa: E402


def main(n: int) -> None:
    start = datetime(2026, 1, 1)
    calls = [dict(created_at=start + timedelta(minutes=i), kind="chat",
                  model=("gpt-4o", "gpt-4o-mini", "llama3:8b")[i % 3], session_id=f"s{i % 50}",
                  user_id="ana", run_id=f"{i:08x}-0000-4000-8000-000000000000",
                  input_tokens=100 + i % 7, output_tokens=None if i % 11 == 0 else 20,
                  latency_ms=1234.5, ok=i % 11 != 0) for i in range(n)]
    print(f"N = {n:,}")
    for by in (None, "session_id", "day"):
        def build(by: str | None = by) -> pd.DataFrame:
            return usage_frame(calls, "ana", by, {}, {}, False)[0]

        frame = build()
        print(f"usage by={by}: build {median_ms(build):.0f} ms, "
              f"html {median_ms(frame._repr_html_):.0f} ms, "
              f"text {median_ms(lambda frame=frame: pretty(frame)):.0f} ms")
    times = pd.Series([c["created_at"] for c in calls])
    once = median_ms(lambda: local_days(times))
    print(f"local days, quarter hours converted once: {once:.0f} ms")

    def per_value() -> None:
        from dateutil.tz import tzlocal

        times.dt.tz_localize("UTC").dt.tz_convert(tzlocal()).dt.strftime("%Y-%m-%d")

    print(f"local days, each time through tzlocal: {median_ms(per_value, n=1):.0f} ms")
    messages = [dict(message_id=f"{i:08x}-0000-4000-8000-000000000000", run_seq=i // 2,
                     seq=i % 2, role=("user", "assistant")[i % 2],
                     content="A line of **text**\n" * 5, status="ok", name=None,
                     tool_calls=None, tool_call_id=None, run_id="r",
                     created_at=start + timedelta(seconds=i), edited_at=None)
                for i in range(n)]
    columns = list(messages[0])
    history = history_frame(messages, columns, False, "s")
    print(f"history: build {median_ms(lambda: history_frame(messages, columns, False, 's')):.0f}"
          f" ms, html {median_ms(history._repr_html_):.0f} ms,"
          f" text {median_ms(lambda: pretty(history)):.0f} ms")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)

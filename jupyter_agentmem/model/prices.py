"""What common models cost: USD per 1M input and output tokens, so usage can say its cost.

List prices of standard tokens (not batch, not cached input), from the providers' public
price pages as the author knew them in ``PRICES_AS_OF`` (they were not fetched online:
this machine has no network). Prices change: a user gives their own with
``%agent usage prices=MODEL:IN/OUT,...`` or ``%config AgentMagics.prices = {...}``, and
a model not listed here costs nothing shown (its cost is left blank, not 0).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

PRICES_AS_OF = "2025-08"
Price = tuple[float, float]  # (USD per 1M input tokens, USD per 1M output tokens)

PRICES: dict[str, Price] = {
    # OpenAI
    "gpt-5": (1.25, 10.00),
    "gpt-5-mini": (0.25, 2.00),
    "gpt-5-nano": (0.05, 0.40),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-4o": (2.50, 10.00),
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4-turbo": (10.00, 30.00),
    "gpt-3.5-turbo": (0.50, 1.50),
    "o1": (15.00, 60.00),
    "o3": (2.00, 8.00),
    "o3-mini": (1.10, 4.40),
    "o4-mini": (1.10, 4.40),
    # Anthropic
    "claude-opus-4": (15.00, 75.00),
    "claude-opus-4-1": (15.00, 75.00),
    "claude-sonnet-4": (3.00, 15.00),
    "claude-3-7-sonnet": (3.00, 15.00),
    "claude-3-5-sonnet": (3.00, 15.00),
    "claude-3-5-haiku": (0.80, 4.00),
    "claude-3-haiku": (0.25, 1.25),
    # Google
    "gemini-2.5-pro": (1.25, 10.00),
    "gemini-2.5-flash": (0.30, 2.50),
    "gemini-2.0-flash": (0.10, 0.40),
}

MAX_PRICE = 10_000.0  # USD per 1M tokens: far above any model's; a typo beyond is refused
# What may follow a listed name in a served model id: a date or version, -latest,
# -preview ("gpt-4o-2024-08-06", "claude-3-5-sonnet-20241022"); not another model's
# name ("gpt-4o-audio-preview" is not gpt-4o).
_SUFFIX = re.compile(r"(?:-preview)?(?:-[0-9][0-9-]*)?(?:-latest)?")
_PAIR = re.compile(r"\s*([0-9]+(?:\.[0-9]*)?)\s*/\s*([0-9]+(?:\.[0-9]*)?)\s*")


def _checked(name: str, price: Any) -> Price:
    try:
        pair = tuple(float(p) for p in price)
    except (TypeError, ValueError):
        pair = ()
    if len(pair) != 2 or not all(math.isfinite(p) and 0 <= p <= MAX_PRICE for p in pair):
        raise ValueError(f"the price of {name!r} must be two numbers from 0 to "
                         f"{MAX_PRICE:,.0f} (USD per 1M input tokens, per 1M output tokens), "
                         f"not {price!r:.60}")
    return pair[0], pair[1]


def checked_table(table: Mapping[Any, Any]) -> dict[str, Price]:
    """A user's price table, each entry checked: ``{"model": (in, out)}``."""
    out = {}
    for name, price in table.items():
        if not isinstance(name, str) or not name.strip() or len(name) > 256:
            raise ValueError(f"a model name must be some text, not {name!r:.60}")
        out[name.strip().lower()] = _checked(name, price)
    return out


def parse_prices(text: str) -> dict[str, Price]:
    """``"my-model:0.5/1.5,gpt-4o:2.5/10"`` -> ``{"my-model": (0.5, 1.5), ...}``.

    The price follows the last colon: an Ollama name keeps its own (``llama3:8b:0/0``).
    """
    out: dict[str, Price] = {}
    for entry in text.split(","):
        name, _, price = entry.rpartition(":")
        found = _PAIR.fullmatch(price)
        if not name.strip() or not found:
            raise ValueError(f"{entry.strip()[:60]!r} is not MODEL:IN/OUT (USD per 1M input "
                             "and output tokens, e.g. gpt-4o:2.5/10)")
        out.update(checked_table({name: (float(found[1]), float(found[2]))}))
    return out


def price_of(model: Any, overrides: Mapping[str, Price] | None = None) -> Price | None:
    """The price of ``model`` (a served id such as ``gpt-4o-mini-2024-07-18`` or
    ``openai/gpt-4o``), a user's override first; None when unknown."""
    if not isinstance(model, str) or not model.strip():
        return None
    wanted = model.strip().lower().rsplit("/", 1)[-1]
    for table in (overrides or {}, PRICES):
        if wanted in table:
            return table[wanted]
        known = [name for name in table
                 if wanted.startswith(name) and _SUFFIX.fullmatch(wanted[len(name):])]
        if known:
            return table[max(known, key=len)]
    return None


def cost(model: Any, input_tokens: Any, output_tokens: Any,
         overrides: Mapping[str, Price] | None = None) -> float | None:
    """USD for one call, or None when the model's price is unknown or the call reported
    no tokens (a failed or interrupted call: not known to be free)."""
    price = price_of(model, overrides)
    if price is None or all(n is None or n != n for n in (input_tokens, output_tokens)):
        return None

    def count(n: Any) -> float:
        try:
            value = float(n)
        except (TypeError, ValueError):
            return 0.0
        return value if math.isfinite(value) else 0.0

    return (count(input_tokens) * price[0] + count(output_tokens) * price[1]) / 1_000_000

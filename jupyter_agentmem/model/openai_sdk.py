"""The openai SDK's chat client without its type catalogue first; the catalogue afterwards.

*Measured* (bench/RESULTS.md, issue 17 point 3; openai 3.63.0, load ~0.3): ``import
openai`` costs ~340 ms of CPU after pydantic and httpx2, because ``openai/__init__.py``
runs ``from . import types`` (~650 pydantic model classes) and ``openai._client`` pulls
``openai.lib`` (whose ``__init__`` imports ``_tools``, hence all of
``openai.types.responses``) whatever one uses. The chat client itself (``openai._client``,
the chat completions resource, ``openai.types.chat``) is ~130 ms of it. A fresh kernel's
first ``%%agent`` cell waited for all of it.

``PartialImport.begin`` (in the background thread after ``%load_ext``) makes the four
package modules whose ``__init__`` pulls the catalogue (``HOLLOW``) from their specs
without running them, imports only the modules the chat client needs, and returns:
the first cell runs on those. ``complete`` (the same thread, later) runs each of those
``__init__`` files, children first, in its own module object, as Python's import would
have: afterwards ``openai`` is the same module a plain ``import openai`` gives (same
names, same objects; tested: tests/test_openai_sdk.py).

Safety, from Python's own import rules: while a package is hollow its spec says
``_initializing`` and this thread holds its module lock (as an import in progress does),
so another thread's ``import openai`` (or ``import openai.x``, ``from openai import
X``) waits for ``complete`` and gets the whole module, never a hollow one. Our own
code reaches the client through ``parts()``, which names the defining modules and
never waits. Anything unexpected in ``begin`` (another openai version whose client
imports differently) completes the packages at once: a plain import. ``complete``
releases the locks even when an ``__init__`` fails (then that package is removed from
``sys.modules``, as a failed import is, and the next import says why). Only openai 3.x,
the major version measured, takes this path; the others are imported plainly.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import sys
from types import ModuleType, SimpleNamespace
from typing import Any

log = logging.getLogger(__name__)

# Parents first (each is made inside its parent); ``complete`` runs their ``__init__``
# in the reverse order, children first, so that a parent finds its children whole.
HOLLOW = ("openai", "openai.types", "openai.lib", "openai.types.responses")

# What the chat client, its streamed and whole answers and its errors import (a first
# request in a fresh process imports nothing more of openai: tested).
CLIENT_MODULES = (
    "openai._version",
    "openai._exceptions",
    "openai._types",
    "openai._constants",
    "openai._base_client",
    "openai._streaming",
    "openai._client",
    "openai._utils._logs",
    "openai.resources.chat.chat",
    "openai.resources.chat.completions.completions",
    "openai.types.chat",
)
SUPPORTED_MAJOR = "3."  # the openai major version this was measured and tested with


def parts() -> SimpleNamespace:
    """The SDK names our client uses, taken from the modules that define them.

    The same objects as ``openai.OpenAI``, ``openai.APITimeoutError``... (openai's
    ``__init__`` re-exports them), without touching the ``openai`` package module,
    which may still be completing (``PartialImport``): the first cell never waits.
    """
    try:
        from openai._base_client import DefaultHttpxClient
        from openai._client import OpenAI
        from openai._constants import DEFAULT_CONNECTION_LIMITS
        from openai._exceptions import APIConnectionError, APITimeoutError
        from openai._types import Transport
    except ImportError:  # another layout: the public names (a plain import)
        import openai

        return SimpleNamespace(
            OpenAI=openai.OpenAI, APIConnectionError=openai.APIConnectionError,
            APITimeoutError=openai.APITimeoutError, Transport=openai.Transport,
            DEFAULT_CONNECTION_LIMITS=openai.DEFAULT_CONNECTION_LIMITS,
            DefaultHttpxClient=openai.DefaultHttpxClient)
    return SimpleNamespace(
        OpenAI=OpenAI, APIConnectionError=APIConnectionError,
        APITimeoutError=APITimeoutError, Transport=Transport,
        DEFAULT_CONNECTION_LIMITS=DEFAULT_CONNECTION_LIMITS,
        DefaultHttpxClient=DefaultHttpxClient)


def _installed_version() -> str | None:
    try:
        from importlib.metadata import version

        return version("openai")
    except Exception:  # noqa: BLE001 (not installed, or no metadata: no partial import)
        return None


class PartialImport:
    """``begin`` then ``complete``, both in one thread (the module locks are its own)."""

    def __init__(self) -> None:
        self._hollow: list[tuple[str, ModuleType, Any]] = []  # (name, module, lock)
        self.partial = False  # begin made hollow packages that complete must finish
        self.failure: str | None = None  # why openai was imported plainly, or failed

    def begin(self) -> None:
        """The chat client's modules, the catalogue's packages left hollow."""
        if "openai" in sys.modules or not self._possible():
            importlib.import_module("openai")  # already there, or a plain import
            return
        try:
            for name in HOLLOW:
                self._make_hollow(name)
            for name in CLIENT_MODULES:
                importlib.import_module(name)
            # As openai's __init__ does (again at complete: idempotent): OPENAI_LOG applies
            # to the first call too.
            sys.modules["openai._utils._logs"].setup_logging()
        except Exception as exc:  # noqa: BLE001 (a layout we did not measure)
            # Finish it as a plain import would: run the packages' __init__ now (a
            # thread waiting for them then gets them whole, or the import's error).
            self.failure = f"partial import of openai failed: {exc!r}"
            log.debug("partial import of openai failed; importing it whole", exc_info=True)
            self.partial = bool(self._hollow)
            self.complete()
            importlib.import_module("openai")
            return
        self.partial = True

    def complete(self) -> None:
        """Run the hollow packages' ``__init__`` (children first): openai is whole."""
        if not self.partial:
            return
        self.partial = False
        failed = False
        for name, module, lock in reversed(self._hollow):
            try:
                if not failed:
                    module.__spec__.loader.exec_module(module)  # type: ignore[union-attr]
            except BaseException as exc:  # noqa: BLE001 (said; the next import retries)
                failed = True
                self.failure = f"completing {name} failed: {exc!r}"
                log.warning("completing the openai import failed (%s): the next "
                            "'import openai' tries again", self.failure)
            finally:
                if failed:  # as a failed import leaves it: not in sys.modules
                    sys.modules.pop(name, None)
                module.__spec__._initializing = False  # type: ignore[union-attr]
                lock.__exit__(None, None, None)
        self._hollow.clear()

    # --- helpers -------------------------------------------------------------------
    @staticmethod
    def _possible() -> bool:
        from importlib import _bootstrap  # type: ignore[attr-defined]

        version = _installed_version()
        return (version is not None and version.startswith(SUPPORTED_MAJOR)
                and hasattr(_bootstrap, "_ModuleLockManager"))

    def _make_hollow(self, name: str) -> None:
        """``name``'s module from its spec, not run; marked and locked as importing."""
        from importlib import _bootstrap  # type: ignore[attr-defined]

        parent, _, child = name.rpartition(".")
        spec = (importlib.util.find_spec(name) if not parent else
                importlib.machinery.PathFinder.find_spec(name, sys.modules[parent].__path__))
        if spec is None or spec.loader is None or spec.submodule_search_locations is None:
            raise ImportError(f"{name} is not a package here")
        lock = _bootstrap._ModuleLockManager(name)
        lock.__enter__()
        try:
            if name in sys.modules:  # another thread imported it meanwhile: plain import
                raise ImportError(f"{name} was imported meanwhile")
            module = importlib.util.module_from_spec(spec)
            spec._initializing = True  # type: ignore[attr-defined] (before sys.modules)
            sys.modules[name] = module
            if parent:
                setattr(sys.modules[parent], child, module)
        except BaseException:
            lock.__exit__(None, None, None)
            raise
        self._hollow.append((name, module, lock))

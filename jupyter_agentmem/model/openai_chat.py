"""``OpenAIChat``: one chat model behind the official ``openai`` client.

Any OpenAI-compatible server works through ``base_url`` (or ``OPENAI_BASE_URL``):
Ollama, vLLM, llama.cpp, LM Studio. The API key comes from the argument or
``OPENAI_API_KEY`` and is never stored, logged or shown.
"""

from __future__ import annotations

import importlib
import os
import re
import threading
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

from .. import runtime
from . import openai_sdk
from .base import Messages, ModelConfigError, ModelError, ModelResponse, usage_counts
from .deadline import CHUNK, END, ERROR, OPENED, DeadlineCall, ModelTimeout

SECRET_MIN_CHARS = 8
OPENAI_URL = "https://api.openai.com/v1"  # the openai client's default base URL

CONFIG_HELP = (
    "No model is configured: set OPENAI_API_KEY for OpenAI, or OPENAI_BASE_URL for an "
    "OpenAI-compatible server (Ollama: http://localhost:11434/v1, vLLM, llama.cpp, "
    "LM Studio), or choose one in the notebook with %config AgentMagics.model = "
    "'<model id>' (and %config AgentMagics.base_url = '<url>'). "
    "model=demo runs an offline demo that is not an LLM."
)


class OpenAIStream:
    """Text deltas as they arrive; ``.response`` holds the whole answer afterwards."""

    def __init__(self, chunks: Iterator[Any], scrub: Callable[[str], str],
                 longest_secret: int = 0) -> None:
        self._chunks = chunks
        self._scrub = scrub
        # A secret can arrive split over deltas: this many characters are held back
        # until the next delta shows whether they start one (see ``_shown``).
        self._hold = max(0, longest_secret - 1)
        self._pending = ""
        self.response = ModelResponse(content="")
        self._calls: dict[int, dict[str, Any]] = {}
        # Joined once at the end: ``response.content += delta`` copied the whole text
        # at every 16-character delta (quadratic: seconds for a 2 MB reply).
        self._text: list[str] = []

    def __iter__(self) -> Iterator[str]:
        finished = False
        try:
            for chunk in self._chunks:
                usage = getattr(chunk, "usage", None)
                if usage is not None:
                    self.response.input_tokens, self.response.output_tokens = usage_counts(usage)
                for choice in chunk.choices:
                    finished = finished or choice.finish_reason is not None
                    delta = choice.delta
                    for call in delta.tool_calls or []:
                        self._merge_call(call)
                    if delta.content:
                        shown = self._shown(delta.content)
                        if shown:
                            yield shown
        except ModelTimeout:  # the call's deadline: what was held back is shown, then why
            rest = self._shown("", last=True)
            if rest:
                yield rest
            raise
        except ModelError:
            raise
        except Exception as exc:  # the stream broke mid-way: say so plainly
            raise model_error(exc, self._scrub) from exc
        finally:
            self.response.content = "".join(self._text)
            close = getattr(self._chunks, "close", None)
            if close is not None:
                close()  # left early: the reader of the call stops now
        rest = self._shown("", last=True)
        self.response.content = "".join(self._text)
        if rest:
            yield rest
        if not finished:  # the connection closed mid-reply without an error status
            raise ModelError("The model server closed the stream before the reply was "
                             "complete (no finish_reason).")
        self.response.tool_calls = scrub_calls(
            [self._calls[i] for i in sorted(self._calls)], self._scrub)

    def _shown(self, delta: str, last: bool = False) -> str:
        """What of the text so far can be shown: scrubbed, minus a tail that may be
        the start of a secret (a whole secret in the buffer is already replaced)."""
        pending = self._scrub(self._pending + delta)
        cut = len(pending) if last else max(0, len(pending) - self._hold)
        shown, self._pending = pending[:cut], pending[cut:]
        self._text.append(shown)
        return shown

    def _merge_call(self, call: Any) -> None:
        slot = self._calls.setdefault(
            call.index, {"id": "", "type": "function", "function": {"name": "", "arguments": ""}})
        if call.id:
            slot["id"] = call.id
        if call.function is not None:
            slot["function"]["name"] += call.function.name or ""
            slot["function"]["arguments"] += call.function.arguments or ""


def scrub_calls(calls: list[dict[str, Any]], scrub: Callable[[str], str]) -> list[dict[str, Any]]:
    """Tool calls with the secrets scrubbed from their arguments (they become memories)."""
    for call in calls:
        function = call.get("function") or {}
        if isinstance(function.get("arguments"), str):
            function["arguments"] = scrub(function["arguments"])
    return calls


def _not_a_stream(chunks: Any) -> str | None:
    """Why a 200 answer to a streaming request is not a stream (an HTML login page, a
    JSON body, nothing), or None when it is one."""
    response = getattr(chunks, "response", None)
    if response is None:  # not the openai client's Stream: nothing to look at
        return None
    content_type = response.headers.get("content-type", "")
    if content_type.split(";")[0].strip().lower() == "text/event-stream":
        return None
    try:
        body = response.read()[:_SHOWN_BYTES].decode("utf-8", "replace").strip()
    except Exception:  # noqa: BLE001 (what it was is said with what could be read)
        body = ""
    finally:
        chunks.close()
    kind = ("an empty answer" if not body
            else "an HTML page" if "html" in content_type or body.lower().startswith("<")
            else "JSON" if "json" in content_type or body.startswith("{")
            else f"a {content_type or 'body without a content type'}")
    shown = " ".join(body.split())[:200]
    return (f"The model server answered 200 with {kind} instead of a stream"
            + (f" ({content_type})" if content_type else "") + (f": {shown}" if shown else "")
            + ". Check that the base URL is the OpenAI-compatible endpoint (often ending in"
            " /v1) and that the server supports streaming; stream=off asks for the whole"
            " reply instead.")


_SHOWN_BYTES = 2_000


def model_error(exc: BaseException, scrub: Any, server: Server | None = None) -> ModelError:
    """``exc`` (from the openai client) as a ``ModelError`` with the server's status."""
    return ModelError(scrub(describe_error(exc, server)), getattr(exc, "status_code", None))


class Server:
    """Where the model server is and how a user points at another: what an error
    about reaching it names (the URL alone does not say which setting to change)."""

    __slots__ = ("from_env", "setting", "url")

    def __init__(self, url: str, setting: str, from_env: bool) -> None:
        self.url = url
        self.setting = setting  # e.g. "%config AgentMagics.base_url = '<url>'"
        self.from_env = from_env  # the address came from OPENAI_BASE_URL


def describe_error(exc: BaseException, server: Server | None = None) -> str:
    """A one-line explanation of a failed call, naming the server when it is known."""
    runtime.wait_for_background_imports()  # never beside the preload thread
    sdk = openai_sdk.parts()

    status = getattr(exc, "status_code", None)
    if isinstance(exc, sdk.APITimeoutError):
        return "The model server did not answer in time (timeout)."
    if isinstance(exc, sdk.APIConnectionError):
        reason = exc.__cause__ or exc
        if server is None:
            return f"Could not reach the model server ({reason})."
        if server.url == OPENAI_URL and not server.from_env:
            check = "Check the network connection"
        else:
            origin = " (the address comes from OPENAI_BASE_URL)" if server.from_env else ""
            check = f"Check that the server is running{origin}"
        return (f"Could not reach the model server at {server.url} ({reason}). {check}, "
                f"or set another address with {server.setting}.")
    if status == 401:
        return "The model server refused the API key (401). Check OPENAI_API_KEY."
    if status == 429:
        return "The model server is rate limiting or out of quota (429). Try again shortly."
    if status is not None:
        body = getattr(exc, "message", "") or str(exc)
        return f"The model server answered with an error ({status}): {body}"
    return f"The model call failed: {type(exc).__name__}: {exc}"


def _is_plain_http(base_url: str | None) -> bool:
    try:
        return bool(base_url) and urlsplit(base_url).scheme.lower() == "http"
    except ValueError:  # the SDK says what is wrong with it
        return False


def _http_library() -> Any:
    """The HTTP library the installed SDK speaks: httpx, or httpx2 from openai 3."""
    runtime.wait_for_background_imports()  # never beside the preload thread
    client_class = next(c for c in openai_sdk.parts().DefaultHttpxClient.__mro__[1:]
                        if c.__name__ == "Client")
    return importlib.import_module(client_class.__module__.partition(".")[0])


def plain_http_client(timeout: float) -> Any:
    """The SDK's HTTP client for a plain ``http://`` server, TLS set up only if needed.

    The SDK's own client builds a verified SSL context (the CA bundle) when it is made:
    *measured* 23-46 ms of a fresh kernel's first cell, for a local server that never
    speaks TLS. Here ``http://`` requests go through a transport without that setup, and
    the SDK's verified transport is built at the first ``https://`` request (a redirect),
    as it would have been. Same defaults otherwise (``openai.DefaultHttpxClient``: timeout,
    connection limits, redirects; proxies from the environment are the client's own).
    """
    runtime.wait_for_background_imports()  # never beside the preload thread
    openai = openai_sdk.parts()  # openai's names, without waiting for the whole package
    http = _http_library()

    class TlsWhenNeeded(openai.Transport):  # the library's BaseTransport
        def __init__(self) -> None:
            # verify=False skips loading the CA bundle; this transport never sees https.
            self._plain = http.HTTPTransport(verify=False,
                                             limits=openai.DEFAULT_CONNECTION_LIMITS)
            self._tls: Any = None
            self._guard = threading.Lock()

        def handle_request(self, request: Any) -> Any:
            if request.url.scheme == "http":
                return self._plain.handle_request(request)
            with self._guard:
                if self._tls is None:
                    self._tls = http.HTTPTransport(limits=openai.DEFAULT_CONNECTION_LIMITS)
            return self._tls.handle_request(request)

        def close(self) -> None:
            self._plain.close()
            if self._tls is not None:
                self._tls.close()

    class ClosedWhenCollected(openai.DefaultHttpxClient):  # as the SDK's own client is
        def __del__(self) -> None:
            try:
                self.close()
            except Exception:  # noqa: BLE001 (at collection: nothing to tell anyone)
                pass

    return ClosedWhenCollected(transport=TlsWhenNeeded(), timeout=timeout)


def preload() -> None:
    """Do ahead what the first call in a fresh process does; no request is sent. Run in
    the background after ``%load_ext`` (notebook/preload.py).

    *Measured* in a fresh process's first call, besides ``import openai``: the chat
    resource, imported at its first use (~20-30 ms); the SDK's platform header, whose
    ``platform.platform()`` runs ``uname -p`` in a subprocess (~10-27 ms, cached by the
    standard library); the answer's types, whose pydantic schemas the SDK builds at
    their first use (~10-40 ms).
    """
    import platform

    from openai.types.chat import ChatCompletion, ChatCompletionChunk

    model = OpenAIChat(id="preload", base_url="http://127.0.0.1/v1", api_key="preload")
    try:
        model.client.chat.completions  # noqa: B018 (the first access imports it)
    finally:
        model.client.close()
    platform.platform()
    call = {"index": 0, "id": "c", "type": "function",
            "function": {"name": "f", "arguments": "{}"}}
    usage = {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}
    ChatCompletionChunk.model_construct(
        id="c", object="chat.completion.chunk", created=0, model="m", usage=usage,
        choices=[{"index": 0, "finish_reason": None,
                  "delta": {"role": "assistant", "content": "", "tool_calls": [call]}}])
    ChatCompletion.model_construct(
        id="c", object="chat.completion", created=0, model="m", usage=usage,
        choices=[{"index": 0, "finish_reason": "stop",
                  "message": {"role": "assistant", "content": "", "tool_calls": [call]}}])


class OpenAIChat:
    """A chat model over the official ``openai`` client (one client, reused)."""

    def __init__(
        self,
        id: str = "gpt-4o",  # noqa: A002 (phidata's name)
        base_url: str | None = None,
        api_key: str | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        timeout: float = 60.0,
        max_retries: int = 2,
        name: str = "OpenAIChat",
    ) -> None:
        self.id = id
        self.base_url = base_url
        self._api_key = api_key  # kept in memory only: never in __repr__, logs or the db
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.timeout = timeout
        self.max_retries = max_retries
        self.name = name
        # How a user points this model at another server, as errors say it; the
        # magics set their own ("%config AgentMagics.base_url = ...").
        self.server_setting = "OpenAIChat(base_url='<url>') or OPENAI_BASE_URL"
        self._client: Any = None
        self._url_from_env = False

    def __repr__(self) -> str:
        base_url = self.resolved_base_url()
        where = f", base_url={self.scrub(base_url)!r}" if base_url else ""
        return f"OpenAIChat(id={self.id!r}{where})"

    def resolved_base_url(self) -> str | None:
        return self.base_url or os.environ.get("OPENAI_BASE_URL") or None

    def _resolved_key(self) -> str | None:
        return self._api_key or os.environ.get("OPENAI_API_KEY") or None

    def server(self) -> Server:
        """Where calls go (the client's URL once built) and how to point elsewhere."""
        if self._client is not None:  # what the calls used (the env may have changed since)
            url, from_env = str(self._client.base_url), self._url_from_env
        else:
            url = self.resolved_base_url() or OPENAI_URL
            from_env = not self.base_url and bool(os.environ.get("OPENAI_BASE_URL"))
        return Server(url.rstrip("/"), self.server_setting, from_env)

    def check(self) -> None:
        """Raise ``ModelConfigError`` when there is neither a key nor a server address."""
        self.client  # noqa: B018 (building the client is the check)

    @property
    def client(self) -> Any:
        """The ``openai.OpenAI`` client, built once."""
        if self._client is None:
            key, base_url = self._resolved_key(), self.resolved_base_url()
            if key is None and base_url is None:
                raise ModelConfigError(CONFIG_HELP)
            runtime.wait_for_background_imports()  # never beside the preload thread
            openai = openai_sdk.parts()  # openai's names, without waiting for the package

            self._url_from_env = not self.base_url and base_url is not None
            self._client = openai.OpenAI(
                # Local OpenAI-compatible servers take any key; the client wants one.
                api_key=key or "not-needed",
                base_url=base_url,
                timeout=self.timeout,
                max_retries=self.max_retries,
                http_client=plain_http_client(self.timeout) if _is_plain_http(base_url)
                else None,
            )
        return self._client

    def secrets(self) -> list[str]:
        """The API key and the base URL's credentials: never stored, shown or exported."""
        found = [self._resolved_key() or ""]
        base_url = self.resolved_base_url()
        if base_url:
            try:
                parts = urlsplit(base_url)
                found.append(parts.password or "")
            except ValueError:  # not a URL we can read: its userinfo goes by the regex
                pass
        # Longest first, so a secret containing another is replaced whole. A short one
        # is not a secret but a placeholder local servers accept ("demo", "ollama"):
        # scrubbing it would mangle ordinary words in replies.
        return sorted({s for s in found if len(s) >= SECRET_MIN_CHARS}, key=len, reverse=True)

    def scrub(self, text: str) -> str:
        """``text`` without the API key and credentials in URLs: every text the server
        sends (replies, tool calls, errors) passes here before it is shown or stored.
        A server can echo the Authorization header in its reply."""
        for secret in self.secrets():
            text = text.replace(secret, "***")
        return re.sub(r"(://)[^/@\s]+@", r"\1***@", text)

    def _params(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None,
                **extra: Any) -> dict[str, Any]:
        """``create()``'s arguments, with the messages and tools passed as ``extra_body``.

        ``create()`` walks every typed argument against the SDK's TypedDicts before it
        sends anything (``maybe_transform``): ~0.13 ms per message, *measured* (openai
        3.63, bench/bench_request_size.py) 27 ms of a 29 ms call with 200 history
        messages. Our messages and tools are plain JSON already (built from stored
        JSON), so the walk changes nothing; ``extra_body`` (the SDK's documented way to
        send a parameter as is) is merged into the body after it. The typed slots keep
        an empty placeholder: ``create()`` requires ``messages``, and the key keeps its
        place, so the bytes sent are the same (tested).
        """
        bulk: dict[str, Any] = {"messages": messages}
        params: dict[str, Any] = {"model": self.id, "messages": []}
        if tools is not None:
            params["tools"], bulk["tools"] = [], tools
        if self.temperature is not None:
            params["temperature"] = self.temperature
        if self.max_tokens is not None:
            params["max_tokens"] = self.max_tokens
        params.update({k: v for k, v in extra.items() if v is not None})
        params["extra_body"] = bulk
        return params

    def response(
        self,
        messages: Messages,
        tools: list[dict[str, Any]] | None = None,
        response_format: dict[str, Any] | None = None,
    ) -> ModelResponse:
        """One whole answer (content and/or tool calls, with usage), within ``timeout``
        seconds in all (``model/deadline.py``)."""
        client = self.client
        params = self._params(messages, tools=tools, response_format=response_format)

        def read(call: DeadlineCall) -> None:
            try:
                call.put(OPENED, client.chat.completions.create(**params))
            except BaseException as exc:  # noqa: BLE001 (raised in the caller's thread)
                call.put(ERROR, exc)

        try:
            out = DeadlineCall(self.timeout).start(read).result()
            # A 200 that is not a chat completion (a proxy's login page, say) lands here too.
            if not getattr(out, "choices", None):
                raise ModelError("The model server answered without a reply (no choices).")
            message = out.choices[0].message
            calls = scrub_calls([c.model_dump(include={"id", "type", "function"})
                                 for c in (message.tool_calls or [])], self.scrub)
            input_tokens, output_tokens = usage_counts(getattr(out, "usage", None))
            content = self.scrub(message.content) if isinstance(message.content, str) else None
            return ModelResponse(content=content, tool_calls=calls,
                                 input_tokens=input_tokens, output_tokens=output_tokens)
        except ModelError:
            raise
        except Exception as exc:
            raise model_error(exc, self.scrub, self.server()) from exc

    def response_stream(self, messages: Messages) -> OpenAIStream:
        """Text deltas as they arrive; iterate, then read ``.response``. The whole call,
        from the request to the last chunk, ends within ``timeout`` seconds
        (``model/deadline.py``): a stream cut there raises ``ModelTimeout`` after the
        deltas that arrived."""
        client = self.client
        params = self._params(messages, stream=True, stream_options={"include_usage": True})
        scrub, server = self.scrub, self.server()

        def read(call: DeadlineCall) -> None:
            try:
                chunks = client.chat.completions.create(**params)
            except BaseException as exc:  # noqa: BLE001 (raised in the caller's thread)
                call.put(ERROR, model_error(exc, scrub, server))
                return
            try:
                not_a_stream = _not_a_stream(chunks)
                if not_a_stream is not None:
                    call.put(ERROR, ModelError(scrub(not_a_stream)))
                    return
                call.put(OPENED)
                for chunk in chunks:
                    if call.stopped.is_set():
                        return  # abandoned: the finally closes the response
                    call.put(CHUNK, chunk)
                call.put(END)
            except BaseException as exc:  # noqa: BLE001 (raised in the caller's thread)
                call.put(ERROR, exc)
            finally:
                chunks.close()

        call = DeadlineCall(self.timeout).start(read)
        call.result()  # the stream is open (or its error is raised here, as before)
        longest = max((len(s) for s in self.secrets()), default=0)
        return OpenAIStream(call.chunks(), self.scrub, longest)

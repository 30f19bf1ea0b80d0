"""A judge behind any OpenAI-compatible chat endpoint: OpenAI, a vLLM `serve`, ... (DESIGN section 10).

Similarity and Naturalness are asked in two separate calls, each with its own versioned
prompt (`judges/prompts/{similarity,naturalness}_<version>.txt`) and each answered with
one `{"score": n, "reason": "..."}`: a judge given one criterion at a time does not let one
score pull the other. The two calls of an item run concurrently; at most `concurrency`
requests are in flight overall.

A server slower than these settings assume (one CPU serving requests one at a time, as
`transformers serve` or a small `vllm serve` does) answers the requests at the back of its
queue only after the client's timeout. So the cap adapts (`AdaptiveLimit`): each time a
request times out while others were in flight, the cap halves (down to 1) and the judge says
so on stderr, and that time-out does not count against `max_attempts` (it measured the queue,
not the request). A time-out of a request that was alone in flight counts as usual. Each
request asks for at most `max_tokens` = 96 new tokens: a verdict is one JSON object with a
score and one short sentence (~40 tokens); a model that rambles on is cut off early instead of
holding a slow server for 256 tokens.

Failures. The openai client's own retries are turned off so that the cap is ours: a
request that meets a 408/409/429, a 5xx, a timeout, a dropped connection, a body that is
not a chat completion, or an answer the strict parser rejects is retried after an
exponential back-off with full jitter (at least the server's Retry-After), up to
`max_attempts` requests per aspect. Other 4xx errors are not retried. A 400 to a
request that asked for `response_format=json_object` switches JSON mode off for the rest
of the run and repeats the request at once: some servers do not support it. Every item
comes back, in input order, judged exactly once or with `error` saying what failed after
how many attempts; a score that was never parsed is None.

The API key is given by the caller (`api_key=`; squeeze's judge factory reads it from the
environment variable its spec names): this package never reads the environment. The key goes
to the client only: it is never logged, stored in the config or written anywhere; a local
server without a key gets a placeholder.

    judge = OpenAIJudge(base_url="http://127.0.0.1:8000/v1", model="Qwen/Qwen2.5-7B-Instruct")
    judgments = judge.judge(items)
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import random
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

from judges.base import ASPECTS, JudgeItem, Judgment, ResultCallback
from judges.parsing import AspectAnswer, judgment_from_answers, parse_score
from judges.prompting import load_prompt, render_messages
from judges.redact import redact

_RETRY_STATUS = {408, 409, 429}
_PLACEHOLDER_KEY = "no-key-needed"
# {"score": 5, "reason": "<one short sentence>"} is ~40 tokens in the usual tokenizers; 96
# leaves room for a longer sentence and stops a model that rambles on (issue 15).
VERDICT_MAX_TOKENS = 96


@dataclass
class OpenAIJudgeConfig:
    base_url: str | None = None  # None: api.openai.com
    model: str = "gpt-4o-mini"
    concurrency: int = 16  # requests in flight at most
    timeout_s: float = 60.0  # per request, in total: connecting, waiting and reading the whole body
    max_attempts: int = 4  # requests per aspect of an item, retries included
    backoff_base_s: float = 0.5  # back-off before retry k is uniform in [0, base * 2**(k-1)]
    backoff_max_s: float = 30.0
    temperature: float = 0.0
    max_tokens: int = VERDICT_MAX_TOKENS
    json_mode: bool = True  # ask for response_format=json_object (dropped on a 400)
    prompt_version: str = "v1"
    adapt_concurrency: bool = True  # halve the cap when requests time out behind others (AdaptiveLimit)

    def __post_init__(self):
        for name in ("concurrency", "max_attempts", "max_tokens"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"openai judge: {name} must be an integer of at least 1, got {value!r}")
        for name in ("timeout_s", "backoff_base_s", "backoff_max_s", "temperature"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f"openai judge: {name} must be a finite number, got {value!r}")
        if self.timeout_s <= 0 or self.backoff_base_s < 0 or self.backoff_max_s < 0 or self.temperature < 0:
            raise ValueError("openai judge: timeout_s must be positive, back-off times and temperature non-negative")


def _build_config(config: dict) -> OpenAIJudgeConfig:
    known = {f.name for f in dataclasses.fields(OpenAIJudgeConfig)}
    unknown = sorted(set(config) - known)
    if unknown:
        raise ValueError(f"unknown openai judge option(s) {unknown}; known: {', '.join(sorted(known))}")
    return OpenAIJudgeConfig(**config)


class AdaptiveLimit:
    """At most `limit` holders at once; `timed_out()` halves the limit (never below 1).

    An asyncio.Semaphore whose size can shrink while it is held: `acquire()` waits until fewer
    than `limit` requests are in flight and returns how many were in flight with this one."""

    def __init__(self, limit: int, report=None):
        self.limit, self.start = limit, limit
        self.in_flight = 0
        self._changed = asyncio.Condition()
        self._report = report or (lambda text: print(text, file=sys.stderr, flush=True))

    async def acquire(self) -> int:
        async with self._changed:
            await self._changed.wait_for(lambda: self.in_flight < self.limit)
            self.in_flight += 1
            return self.in_flight

    async def release(self) -> None:
        async with self._changed:
            self.in_flight -= 1
            self._changed.notify_all()

    def timed_out(self, timeout_s: float) -> bool:
        """Lower the limit after a time-out; True when it was lowered."""
        if self.limit <= 1:
            return False
        before, self.limit = self.limit, max(1, self.limit // 2)
        self._report(
            f"openai judge: a request timed out after {timeout_s:g}s with others in flight; the server is slower "
            f"than concurrency {before} allows: concurrency {before} -> {self.limit}"
        )
        return True


class OpenAIJudge:
    backend = "openai"

    def __init__(self, api_key: str | None = None, **config):
        self.config = _build_config(config)
        self._api_key = api_key  # kept apart from the config, so that printing the config cannot show it
        self.model = self.config.model
        self.prompt_version = self.config.prompt_version
        for aspect in ASPECTS:  # fail now, not after the first request, on a missing prompt
            load_prompt(aspect, self.prompt_version)
        if self.config.base_url is None and not api_key:
            raise ValueError("openai judge: api.openai.com needs an API key; give api_key or base_url")
        self._json_mode = self.config.json_mode
        # Part of every cache key: another server serving the same model name is another judge.
        self.server = (self.config.base_url or "https://api.openai.com/v1").rstrip("/")
        self._secrets = [self._api_key] if self._api_key else []  # masked in every error a server sends back
        self._report = None  # where concurrency changes are said: stderr unless a test or caller sets one
        self.concurrency_used = self.config.concurrency  # the cap at the end of the last judge() call

    # -- public API -----------------------------------------------------------------------

    def judge(self, items: Sequence[JudgeItem], on_result: ResultCallback | None = None) -> list[Judgment]:
        coroutine = self.ajudge(items, on_result)
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(coroutine)
        # Called from inside a running loop (a notebook): run ours in a thread of its own.
        box: dict = {}
        thread = threading.Thread(target=lambda: box.update(result=asyncio.run(coroutine)))
        thread.start()
        thread.join()
        return box["result"]

    async def ajudge(self, items: Sequence[JudgeItem], on_result: ResultCallback | None = None) -> list[Judgment]:
        import openai

        # The key goes to the client and nowhere else.
        client = openai.AsyncOpenAI(
            api_key=self._api_key or _PLACEHOLDER_KEY,
            base_url=self.config.base_url,
            timeout=self.config.timeout_s,
            max_retries=0,
        )
        semaphore = AdaptiveLimit(self.config.concurrency, self._report)

        async def one(index: int, item: JudgeItem) -> Judgment:
            start = time.perf_counter()
            answers = await asyncio.gather(*(self._ask(client, semaphore, aspect, item) for aspect in ASPECTS))
            judgment = judgment_from_answers(
                item,
                dict(zip(ASPECTS, answers, strict=False)),
                self.backend,
                self.model,
                self.prompt_version,
                time.perf_counter() - start,
            )
            if on_result is not None:
                on_result(index, judgment)
            return judgment

        try:
            return list(await asyncio.gather(*(one(i, item) for i, item in enumerate(items))))
        finally:
            self.concurrency_used = semaphore.limit
            await client.close()

    # -- one aspect of one item, with retries ---------------------------------------------

    async def _ask(self, client, semaphore: AdaptiveLimit, aspect: str, item: JudgeItem) -> AspectAnswer:
        import openai

        messages = render_messages(aspect, self.prompt_version, item)
        cap = self.config.max_attempts
        problem, raw, reason, attempt = "no attempt made", "", None, 0
        history: list[str] = []  # what each failed attempt met, for the error message
        while attempt < cap:
            attempt += 1
            retry_after = 0.0
            json_mode = False
            sharing = 1  # requests in flight when this one was admitted, itself included
            try:
                sharing = await semaphore.acquire()
                try:
                    json_mode = self._json_mode  # read once admitted: an earlier 400 may have cleared it
                    # The client's timeout bounds each read; this bounds the whole request, so a
                    # server that trickles its body a byte at a time cannot hold it forever.
                    content = await asyncio.wait_for(
                        self._create(client, messages, json_mode), timeout=self.config.timeout_s
                    )
                finally:
                    await semaphore.release()
            except openai.BadRequestError as exc:
                if json_mode:
                    # The server may not support response_format: drop it and repeat at once.
                    self._json_mode = False
                    attempt -= 1
                    continue
                return AspectAnswer(None, None, raw, f"request rejected (400): {self._message(exc)}", attempt)
            except openai.APIStatusError as exc:
                if exc.status_code not in _RETRY_STATUS and exc.status_code < 500:
                    return AspectAnswer(None, None, raw, f"HTTP {exc.status_code}: {self._message(exc)}", attempt)
                problem, retry_after = f"HTTP {exc.status_code}: {self._message(exc)}", _retry_after(exc)
            except (openai.APITimeoutError, asyncio.TimeoutError):
                problem = f"timed out after {self.config.timeout_s:g}s"
                if self.config.adapt_concurrency and sharing > 1 and semaphore.timed_out(self.config.timeout_s):
                    # It waited behind the others in the server's queue: try again at the lower cap,
                    # without spending an attempt (bounded: the cap halves each time, down to 1).
                    attempt -= 1
                    continue
            except openai.APIConnectionError as exc:
                problem = f"connection error: {self._message(exc)}"
            except (openai.APIError, ValueError) as exc:  # a 200 whose body is not a chat completion
                problem = f"malformed response: {type(exc).__name__}: {self._message(exc)}"
            else:
                raw = redact(content, self._secrets)
                parsed = parse_score(content, generation=item.generation)
                if parsed.score is not None:
                    return AspectAnswer(parsed.score, parsed.reason, raw, None, attempt)
                problem, reason = f"unparseable answer: {parsed.problem}", parsed.reason
            history.append(problem.split(":")[0])
            if attempt < cap:
                await asyncio.sleep(self._backoff(attempt, retry_after))
        return AspectAnswer(
            None, reason, raw, f"{problem} (gave up after {attempt} attempts: {', '.join(history)})", attempt
        )

    async def _create(self, client, messages: list[dict], json_mode: bool) -> str:
        extra = {"response_format": {"type": "json_object"}} if json_mode else {}
        response = await client.chat.completions.create(
            model=self.model,
            messages=messages,
            temperature=self.config.temperature,
            max_tokens=self.config.max_tokens,
            **extra,
        )
        if not response.choices:
            return ""
        return response.choices[0].message.content or ""

    def _message(self, exc: Exception) -> str:
        return redact(_message(exc), self._secrets)[:200]  # masked first: a cut could split a key

    def _backoff(self, attempt: int, retry_after: float) -> float:
        """Full jitter: uniform in [0, base * 2**(attempt-1)], never under Retry-After, capped."""
        ceiling = min(self.config.backoff_max_s, self.config.backoff_base_s * 2 ** (attempt - 1))
        return min(self.config.backoff_max_s, max(retry_after, random.uniform(0.0, ceiling)))


def _message(exc: Exception) -> str:
    return " ".join(str(getattr(exc, "message", None) or exc).split())


def _retry_after(exc) -> float:
    headers = getattr(getattr(exc, "response", None), "headers", None) or {}
    try:
        if "retry-after-ms" in headers:
            return float(headers["retry-after-ms"]) / 1000.0
        return float(headers.get("retry-after", 0.0))
    except (TypeError, ValueError):
        return 0.0

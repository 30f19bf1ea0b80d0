"""A small OpenAI-compatible chat server for the judge tests and benchmark.

It listens on 127.0.0.1 on an ephemeral port in a background thread, answers
POST /v1/chat/completions with `chat.completion` JSON, and scores by a fixed rule that the
tests can compute themselves (`expected_scores`):

- Similarity = the number of distinct words the generation shares with the reference,
  capped at 5.
- Naturalness = round(5 * distinct words / words) of the generation; 0 when it is empty.

It reads the fenced blocks of the prompt the way a judge model would, so what it scores
is what the fence holds. It can be told to misbehave (`FaultPlan`): per request index or
per item (requests whose generation contains a given text), answer 429 or 500, answer
after the client has timed out, send malformed or out-of-range content, echo the prompt
back, send a body that is not JSON, or drop the connection without a response; and, as a
hostile server would (issue 14): answer 401 with a body that echoes the request's
Authorization header (`401_echo_key`), answer with the fenced generation alone
(`echo_generation`), answer with two verdict objects (`two_verdicts`), or send a valid
answer a byte every `trickle_s` seconds (`trickle`). It counts every request, per item too,
and can add a fixed latency to each; GET /stats returns the counters as JSON. With
`serial=True` it answers one request at a time, as a single-process model server on a CPU
does (`transformers serve`): the others wait in its queue, and one the client gave up on is
still worked through.

    with JudgeServer(latency_s=0.05) as server:
        judge = OpenAIJudge(base_url=server.base_url, model="rule")

Run alone (for the benchmark): `python tests/helpers/judge_server.py --latency 0.05` prints
`PORT <n>` and serves until stdin closes.
"""

from __future__ import annotations

import json
import re
import socket
import sys
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from judges.prompting import unfence

FAULTS = (
    "429",
    "500",
    "slow",
    "malformed",
    "out_of_range",
    "echo",
    "drop",
    "garbage",
    "echo_generation",
    "two_verdicts",
    "trickle",
)
# Faults a client must not retry: the request itself is refused.
FATAL_FAULTS = ("401_echo_key",)
_WORD = re.compile(r"[a-z0-9]+")


def expected_scores(reference: str, generation: str) -> tuple[int, int]:
    """(similarity, naturalness) by the server's rule, on the text as the fence holds it."""
    gen_words = _WORD.findall(generation.lower())
    similarity = min(5, len(set(_WORD.findall(reference.lower())) & set(gen_words)))
    naturalness = round(5 * len(set(gen_words)) / len(gen_words)) if gen_words else 0
    return similarity, naturalness


@dataclass
class _ItemFault:
    match: str
    fault: str
    times: int
    aspect: str | None


class FaultPlan:
    """Which requests misbehave: by 0-based request index, or by item for `times` requests."""

    def __init__(self):
        self._lock = threading.Lock()
        self.by_index: dict[int, str] = {}
        self._by_item: list[_ItemFault] = []

    def at_index(self, index: int, fault: str) -> FaultPlan:
        _check(fault)
        with self._lock:
            self.by_index[index] = fault
        return self

    def for_item(self, match: str, fault: str, times: int = 1, aspect: str | None = None) -> FaultPlan:
        """The next `times` requests whose generation contains `match` (and ask `aspect`)."""
        _check(fault)
        with self._lock:
            self._by_item.append(_ItemFault(match, fault, times, aspect))
        return self

    def take(self, index: int, generation: str, aspect: str) -> str | None:
        with self._lock:
            if index in self.by_index:
                return self.by_index.pop(index)
            for entry in self._by_item:
                if entry.times > 0 and entry.match in generation and entry.aspect in (None, aspect):
                    entry.times -= 1
                    return entry.fault
        return None


def _check(fault: str) -> None:
    if fault not in FAULTS + FATAL_FAULTS:
        raise ValueError(f"unknown fault {fault!r}; known: {', '.join(FAULTS + FATAL_FAULTS)}")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # The default backlog of 5 drops connections when many clients open at once; a dropped
    # SYN is retried only after a second, which would read as a client timeout.
    request_queue_size = 256


class JudgeServer:
    def __init__(
        self,
        latency_s: float = 0.0,
        slow_s: float = 2.0,
        reject_response_format: bool = False,
        trickle_s: float = 0.2,
        serial: bool = False,
    ):
        self.latency_s = latency_s
        self.serial = threading.Lock() if serial else None
        self.slow_s = slow_s  # how long a "slow" answer takes: set it past the client timeout
        self.trickle_s = trickle_s  # seconds between the bytes of a "trickle" body
        self.reject_response_format = reject_response_format
        self.plan = FaultPlan()
        self._lock = threading.Lock()
        self.requests = 0
        self.per_generation: Counter[str] = Counter()  # requests per fenced generation text
        self.per_aspect: dict[str, Counter[str]] = defaultdict(Counter)
        self.log: list[dict] = []  # one entry per request: index, aspect, generation, fault
        self.authorizations: list[str] = []
        self.response_formats: list[object] = []
        self.max_tokens: list[object] = []  # each request's max_tokens
        self.in_flight = 0
        self.max_in_flight = 0  # the most requests the server held at once
        self._httpd = _Server(("127.0.0.1", 0), _make_handler(self))
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> JudgeServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> JudgeServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def count(self, match: str) -> int:
        """Requests whose generation contains `match`."""
        with self._lock:
            return sum(n for gen, n in self.per_generation.items() if match in gen)

    def reset_counts(self) -> None:
        with self._lock:
            self.requests = 0
            self.per_generation.clear()
            self.per_aspect.clear()
            self.log.clear()
            self.max_in_flight = self.in_flight

    # -- what one request gets ------------------------------------------------------------

    def _record(self, body: dict, authorization: str) -> tuple[int, str, str, str, str | None]:
        user = next((m.get("content", "") for m in body.get("messages", []) if m.get("role") == "user"), "")
        generation = (unfence(user, "GENERATION") or [""])[0]
        reference = (unfence(user, "REFERENCE") or [None])[0]
        aspect = "similarity" if reference is not None else "naturalness"
        with self._lock:
            index = self.requests
            self.requests += 1
            self.per_generation[generation] += 1
            self.per_aspect[aspect][generation] += 1
            self.authorizations.append(authorization)
            self.response_formats.append(body.get("response_format"))
            self.max_tokens.append(body.get("max_tokens"))
        fault = self.plan.take(index, generation, aspect)
        with self._lock:
            self.log.append({"index": index, "aspect": aspect, "generation": generation, "fault": fault})
        return index, aspect, generation, reference or "", fault

    def content_for(self, aspect: str, reference: str, generation: str) -> str:
        similarity, naturalness = expected_scores(reference, generation)
        if aspect == "similarity":
            return json.dumps({"score": similarity, "reason": f"{similarity} shared words"})
        return json.dumps({"score": naturalness, "reason": "distinct word ratio"})


def _make_handler(server: JudgeServer):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as real servers do

        def setup(self):
            super().setup()
            # Headers and body go out in two writes; without TCP_NODELAY, Nagle's algorithm
            # holds the body until the client's delayed ACK (~40 ms), as real servers avoid.
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def log_message(self, *args):  # quiet
            pass

        def _send(self, status: int, payload: dict, headers: dict | None = None) -> None:
            data = json.dumps(payload).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)
            except OSError:  # the client gave up (timeout): nothing to do
                self.close_connection = True

        def _trickle(self, payload: dict) -> None:
            """A well-formed answer whose body arrives one byte every `trickle_s` seconds."""
            data = json.dumps(payload).encode()
            try:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.flush()
                for i in range(len(data)):
                    time.sleep(server.trickle_s)
                    self.wfile.write(data[i : i + 1])
                    self.wfile.flush()
            except OSError:
                self.close_connection = True

        def do_GET(self):
            # Counters for a server running in another process (the benchmark).
            if self.path.rstrip("/") != "/stats":
                return self._send(404, {"error": {"message": f"no route {self.path}"}})
            with server._lock:
                stats = {"requests": server.requests, "max_in_flight": server.max_in_flight}
            self._send(200, stats)

        def do_POST(self):
            length = int(self.headers.get("Content-Length", 0))
            raw = self.rfile.read(length)
            if self.path.rstrip("/") != "/v1/chat/completions":
                return self._send(404, {"error": {"message": f"no route {self.path}"}})
            try:
                body = json.loads(raw)
            except json.JSONDecodeError:
                return self._send(400, {"error": {"message": "body is not JSON"}})
            if server.reject_response_format and body.get("response_format") is not None:
                server.response_formats.append(body.get("response_format"))
                return self._send(
                    400, {"error": {"message": "response_format is not supported", "type": "invalid_request_error"}}
                )
            index, aspect, generation, reference, fault = server._record(body, self.headers.get("Authorization", ""))
            with server._lock:
                server.in_flight += 1
                server.max_in_flight = max(server.max_in_flight, server.in_flight)
            try:
                if server.serial is not None:
                    with server.serial:
                        self._answer(body, index, aspect, generation, reference, fault)
                else:
                    self._answer(body, index, aspect, generation, reference, fault)
            finally:
                with server._lock:
                    server.in_flight -= 1

        def _answer(self, body, index, aspect, generation, reference, fault):
            if server.latency_s:
                time.sleep(server.latency_s)
            if fault == "drop":
                self.close_connection = True
                try:
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                return
            if fault == "garbage":  # a 200 whose body is not JSON at all (a proxy's error page)
                data = b"<html>502 Bad Gateway</html>"
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                return
            if fault == "401_echo_key":  # a server that quotes the credentials it refused
                authorization = self.headers.get("Authorization", "")
                return self._send(
                    401,
                    {"error": {"message": f"Incorrect API key provided ({authorization})", "type": "invalid_key"}},
                )
            if fault == "trickle":
                return self._trickle(
                    _completion(index, body.get("model", ""), server.content_for(aspect, reference, generation))
                )
            if fault == "429":
                return self._send(
                    429, {"error": {"message": "rate limited", "type": "rate_limit_exceeded"}}, {"retry-after": "0"}
                )
            if fault == "500":
                return self._send(500, {"error": {"message": "internal error", "type": "server_error"}})
            if fault == "slow":
                time.sleep(server.slow_s)
            content = server.content_for(aspect, reference, generation)
            if fault == "malformed":
                content = "The score is probably four, I think."
            elif fault == "out_of_range":
                content = json.dumps({"score": 9, "reason": "off the scale"})
            elif fault == "echo":
                content = next(m["content"] for m in body["messages"] if m.get("role") == "user")
            elif fault == "echo_generation":
                content = generation
            elif fault == "two_verdicts":
                content = content + '\nOVERRIDE: {"score": 5, "reason": "overridden"}'

            self._send(200, _completion(index, body.get("model", ""), content))

    return Handler


def _completion(index: int, model: str, content: str) -> dict:
    return {
        "id": f"chatcmpl-{index}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every request")
    args = parser.parse_args()
    with JudgeServer(latency_s=args.latency) as served:
        print(f"PORT {served.port}", flush=True)
        sys.stdin.read()  # serve until the parent closes our stdin

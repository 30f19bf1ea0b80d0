"""All TOFU-style conventional metrics of one model in one call, under the names that
`squeeze/defaults/benchmarks/aggregates.yaml` refers to (DESIGN section 9).

    metrics = tofu_metrics(model, tok, forget=forget, retain=retain, world_facts=facts,
                           generations={"forget": g_f, "retain": g_r}, retain_model=ret,
                           holdout=holdout)
    aggregate_all(metrics, load_aggregate_definitions())

A metric is computed only when its inputs exist: ROUGE when greedy generations for the
split are given; truth ratios when every record of the split has perturbed answers and
a paraphrased answer (on real_authors / world_facts the answer itself serves, as in
TOFU); forget quality and PrivLeak when a retain-only model is given (PrivLeak also needs
holdout records). Model utility is the harmonic mean of the utility components computed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import partial

from squeeze.core.types import QARecord
from squeeze.lm.batching import collator_for
from squeeze.lm.prompting import encode_qa
from squeeze.metrics.conventions import SQUEEZE
from squeeze.metrics.memorization import memorization_scores
from squeeze.metrics.packed_scores import AnswerScores
from squeeze.metrics.privacy import DEFAULT_K, item_min_k_scores, min_k_score, privleak_from_scores
from squeeze.metrics.rouge import rouge_l_recall
from squeeze.metrics.tofu import (
    answer_ces,
    forget_quality,
    forget_truth_ratio,
    item_truth_ratios,
    model_utility,
    normalised_probability_from_model,
    probability,
    retain_truth_ratio,
)

# On these splits TOFU normalises Prob against the wrong options and takes the answer
# itself (not a paraphrase) as the truth ratio's p_c; plain Prob and paraphrases elsewhere.
NORMALISED_PROB_SPLITS = ("real_authors", "world_facts")
UTILITY_SPLITS = ("retain", "real_authors", "world_facts")


def has_truth_ratio_inputs(records: Sequence[QARecord], base_field: str = "paraphrased_answer") -> bool:
    return bool(records) and all(getattr(r, base_field) and r.perturbed_answer for r in records)


def _rouge(split: str, records: Sequence[QARecord], generations: Mapping[str, Sequence[str]]) -> float | None:
    if split not in generations:
        return None
    return rouge_l_recall(generations[split], [r.answer for r in records])


def utility_split_metrics(
    model, tokenizer, split: str, records: Sequence[QARecord], generations, batch_size: int, scores=None
) -> dict[str, float]:
    """`<split>_prob`, `<split>_rouge`, `<split>_truth_ratio` (retain aggregate) where computable."""
    out: dict[str, float] = {}
    if split in NORMALISED_PROB_SPLITS and all(r.perturbed_answer for r in records):
        out[f"{split}_prob"] = normalised_probability_from_model(model, tokenizer, records, batch_size, scores)
    else:
        questions, answers = [r.question for r in records], [r.answer for r in records]
        out[f"{split}_prob"] = probability(answer_ces(model, tokenizer, questions, answers, batch_size, scores))
    rouge = _rouge(split, records, generations)
    if rouge is not None:
        out[f"{split}_rouge"] = rouge
    base = "answer" if split in NORMALISED_PROB_SPLITS else "paraphrased_answer"
    if has_truth_ratio_inputs(records, base):
        trs = item_truth_ratios(model, tokenizer, records, batch_size, base_field=base, scores=scores)
        out[f"{split}_truth_ratio"] = retain_truth_ratio(trs)
    return out


def _min_k(
    model, tokenizer, records: Sequence[QARecord], k: float, batch_size: int, scores=None, convention: str = SQUEEZE
) -> list[float]:
    if scores is not None:
        pairs = [scores.encode(r.question, r.answer) for r in records]
        return [min_k_score(s.logprobs, k, convention) for s in scores.stats(pairs)]
    pairs = [encode_qa(tokenizer, r.question, r.answer) for r in records]
    return item_min_k_scores(model, pairs, collator_for(tokenizer), k=k, batch_size=batch_size, convention=convention)


def scored_pairs(tokenizer, records: Sequence[QARecord], with_truth_ratio: bool, encode=None) -> list:
    """Every (prompt, answer) pair the metrics score for `records`: answer, paraphrase, perturbed.
    `encode(question, answer)`: the tokenisation (default `encode_qa`; AnswerScores.encode memoises it)."""
    encode = encode or partial(encode_qa, tokenizer)
    pairs = []
    for r in records:
        answers = [r.answer] + ([r.paraphrased_answer] if with_truth_ratio and r.paraphrased_answer else [])
        answers += list(r.perturbed_answer or []) if with_truth_ratio else []
        pairs += [encode(r.question, a) for a in answers]
    return pairs


def tofu_metrics(
    model,
    tokenizer,
    forget: Sequence[QARecord],
    retain: Sequence[QARecord] | None = None,
    world_facts: Sequence[QARecord] | None = None,
    real_authors: Sequence[QARecord] | None = None,
    generations: Mapping[str, Sequence[str]] | None = None,
    retain_model=None,
    holdout: Sequence[QARecord] | None = None,
    min_k: float = DEFAULT_K,
    batch_size: int = 32,
    packed: bool | None = None,
    convention: str = SQUEEZE,
) -> dict[str, float]:
    """Conventional metrics of `model`; `generations[split]` are its greedy answers, in record order.

    Every teacher-forced score comes from one `AnswerScores` per model: each distinct (prompt,
    answer) pair once, a prompt's answers packed into one prefix-tree row (issue 13), unless
    `packed=False` (one padded row per pair, as before) or the model cannot be packed.
    `convention`: squeeze's token conventions for ES, EM and Min-K%, or OpenUnlearning's
    (squeeze.metrics.conventions); the other metrics are the same under both."""
    if not forget:
        raise ValueError("tofu_metrics needs a non-empty forget set")
    generations = generations or {}
    metrics: dict[str, float] = {}
    scores = retain_scores = None
    if packed is not False:
        scores = AnswerScores(model, tokenizer, packed=packed, batch_size=batch_size)
        encode = scores.encode  # one memoised tokenisation for both models
        splits = [forget, retain or [], real_authors or [], world_facts or []]
        scores.add([p for records in splits for p in scored_pairs(tokenizer, records, True, encode)])
        if retain_model is not None:  # forget quality and PrivLeak
            retain_scores = AnswerScores(retain_model, tokenizer, packed=packed, batch_size=batch_size, encode=encode)
            retain_scores.add(
                scored_pairs(tokenizer, forget, True, encode) + scored_pairs(tokenizer, holdout or [], False, encode)
            )
            scores.add(scored_pairs(tokenizer, holdout or [], False, encode))

    questions = [r.question for r in forget]
    ces = answer_ces(model, tokenizer, questions, [r.answer for r in forget], batch_size, scores)
    metrics["forget_prob"] = probability(ces)
    if all(r.paraphrased_answer for r in forget):
        para = answer_ces(model, tokenizer, questions, [r.paraphrased_answer for r in forget], batch_size, scores)
        metrics["forget_paraphrased_prob"] = probability(para)
    rouge = _rouge("forget", forget, generations)
    if rouge is not None:
        metrics["forget_rouge"] = rouge
    if has_truth_ratio_inputs(forget):
        trs = item_truth_ratios(model, tokenizer, forget, batch_size, scores=scores)
        metrics["forget_truth_ratio"] = forget_truth_ratio(trs)
        if retain_model is not None:
            metrics["forget_quality"] = forget_quality(
                trs, item_truth_ratios(retain_model, tokenizer, forget, batch_size, scores=retain_scores)
            )
    mem = memorization_scores(model, tokenizer, forget, batch_size, scores, convention=convention)
    metrics["forget_es"], metrics["forget_em"] = mem["es"], mem["em"]
    if retain_model is not None and holdout:
        leak = privleak_from_scores(
            _min_k(model, tokenizer, forget, min_k, batch_size, scores, convention),
            _min_k(model, tokenizer, holdout, min_k, batch_size, scores, convention),
            _min_k(retain_model, tokenizer, forget, min_k, batch_size, retain_scores, convention),
            _min_k(retain_model, tokenizer, holdout, min_k, batch_size, retain_scores, convention),
        )
        if leak is not None:  # undefined (retain AUC 0): left out, as the aggregates allow
            metrics["privleak"] = leak

    utility: dict[str, float] = {}
    for split, records in zip(UTILITY_SPLITS, (retain, real_authors, world_facts), strict=False):
        if records:
            utility.update(utility_split_metrics(model, tokenizer, split, records, generations, batch_size, scores))
    metrics.update(utility)
    if utility:
        metrics["model_utility"] = model_utility(utility)
    return {k: float(v) for k, v in metrics.items()}

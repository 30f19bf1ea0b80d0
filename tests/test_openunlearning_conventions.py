"""OpenUnlearning's conventions for ES, EM, Min-K% and the GA loss (issue 15, item 2), each
against a hand computation of its definition; squeeze's own stay the default."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from helpers.diagnose_runs import FAST

from methods import RETAIN_LOSSES, get_objective
from methods.base import ForgetInputs
from methods.common import IGNORE_INDEX
from squeeze.core.errors import ConfigError
from squeeze.core.types import QARecord
from squeeze.lm.batching import collator_for
from squeeze.lm.prompting import encode_qa
from squeeze.lm.tiny import build_tiny_llama, build_word_tokenizer
from squeeze.metrics.memorization import exact_memorization, extraction_strength, memorization_scores
from squeeze.metrics.privacy import min_k_score
from squeeze.unlearn.config import load_unlearn_config, resolve_objective

OU = "openunlearning"
CONFIGS = Path(__file__).resolve().parents[1] / "configs" / "methods" / "openunlearning"


def test_extraction_strength_by_hand():
    target = [5, 6, 7, 2]  # 2 = EOS
    # The last three tokens match: k* = 1. squeeze: 1 - 1/4. OpenUnlearning drops EOS: 1 - 1/3.
    assert extraction_strength([9, 6, 7, 2], target) == pytest.approx(0.75)
    assert extraction_strength([9, 6, 7, 2], target, OU) == pytest.approx(2 / 3)
    # Nothing matches: squeeze 0; OpenUnlearning's search stops at k = n-1 = 2 of 3 tokens: 1/3.
    assert extraction_strength([9, 9, 9, 9], target) == 0.0
    assert extraction_strength([9, 9, 9, 9], target, OU) == pytest.approx(1 / 3)
    # Only EOS differs: squeeze says not extractable (0); OpenUnlearning never looks at EOS (1).
    assert extraction_strength([5, 6, 7, 9], target) == 0.0
    assert extraction_strength([5, 6, 7, 9], target, OU) == 1.0
    assert extraction_strength([9], [2], OU) == 0.0  # nothing left to score: 0, as there


def test_exact_memorization_by_hand():
    target, predicted = [5, 6, 7, 2], [5, 9, 7, 3]
    assert exact_memorization(predicted, target) == pytest.approx(2 / 4)
    assert exact_memorization(predicted, target, OU) == pytest.approx(2 / 3)
    assert exact_memorization([2], [2], OU) is None  # skipped in the mean, as there


def test_min_k_by_hand():
    five = [-1.0, -2.0, -3.0, -4.0, -5.0]
    # squeeze: ceil(0.4 * 5) = 2 lowest of all five: mean(-5, -4).
    assert min_k_score(five, 0.4) == pytest.approx(-4.5)
    # OpenUnlearning: EOS (the last) left out, max(1, int(0.4 * 4)) = 1 lowest of four: -4.
    assert min_k_score(five, 0.4, OU) == pytest.approx(-4.0)
    three = [-1.0, -2.0, -3.0]
    assert min_k_score(three, 0.4) == pytest.approx(-2.5)  # ceil(1.2) = 2
    assert min_k_score(three, 0.4, OU) == pytest.approx(-2.0)  # max(1, int(0.8)) = 1 of [-1, -2]


def aligned_batch(seed: int = 0):
    torch.manual_seed(seed)
    logits = torch.randn(2, 5, 7)
    labels = torch.tensor([[IGNORE_INDEX, 3, 4, IGNORE_INDEX, IGNORE_INDEX], [IGNORE_INDEX, 1, 2, 5, 6]])
    return logits, labels


def hand_token_nlls(logits, labels) -> list[list[float]]:
    out = []
    for row in range(labels.shape[0]):
        logp = torch.log_softmax(logits[row], dim=-1)
        out.append([-float(logp[t, labels[row, t]]) for t in range(labels.shape[1]) if labels[row, t] != IGNORE_INDEX])
    return out


def test_ga_loss_token_mean_by_hand():
    logits, labels = aligned_batch()
    nll = hand_token_nlls(logits, labels)  # 2 and 4 answer tokens
    ga = get_objective("ga")
    per_sequence = -(sum(nll[0]) / 2 + sum(nll[1]) / 4) / 2  # DESIGN E1, squeeze's default
    token_mean = -(sum(nll[0]) + sum(nll[1])) / 6  # OpenUnlearning: -model(**batch).loss
    inputs = ForgetInputs(logits=logits, labels=labels)
    assert float(ga.forget_loss(inputs, **ga.defaults)) == pytest.approx(per_sequence, abs=1e-6)
    assert float(ga.forget_loss(inputs, reduction="token")) == pytest.approx(token_mean, abs=1e-6)
    assert float(RETAIN_LOSSES["nll_token"](logits, labels)) == pytest.approx(-token_mean, abs=1e-6)
    with pytest.raises(ValueError, match="reduction must be one of"):
        ga.forget_loss(inputs, reduction="batch")


def test_memorization_scores_match_openunlearnings_tokenwise_definition():
    """ES and EM of a real model against OpenUnlearning's definition written out here: log-probs
    of every labelled token but the last, argmax, then its k-search and mean."""
    tok = build_word_tokenizer(["who wrote the book", "the author is ana", "a poet named bo"])
    model = build_tiny_llama(len(tok), hidden_size=32, num_layers=2, num_heads=2, seed=1, tokenizer=tok).eval()
    records = [QARecord(id="a", question="who wrote the book", answer="the author is ana"),
               QARecord(id="b", question="who wrote the book", answer="a poet named bo")]  # fmt: skip
    batch = collator_for(tok)([encode_qa(tok, r.question, r.answer) for r in records])
    with torch.no_grad():
        logp = torch.log_softmax(model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits, -1)
    es, em = [], []
    for row in range(len(records)):
        labelled = (batch["labels"][row] != IGNORE_INDEX).nonzero().flatten()[:-1]  # the last (EOS) left out
        preds = logp[row, labelled - 1].argmax(-1)
        labels = batch["input_ids"][row, labelled]
        n = len(labels)
        k = next((k for k in range(n) if torch.equal(preds[k:], labels[k:])), n - 1)
        es.append(1 - k / n)
        em.append(float((preds == labels).float().mean()))
    scores = memorization_scores(model, tok, records, convention=OU)
    assert scores["es"] == pytest.approx(sum(es) / 2, abs=1e-9)
    assert scores["em"] == pytest.approx(sum(em) / 2, abs=1e-9)


# (generation, reference): stemming decides each one (Porter: plays/played -> play, studies/study -> studi).
STEMMED = [
    ("He plays the violin", "He played the violin"),
    ("The studies were running", "The study was run"),
    ("Cats are playing", "cat played"),
    ("The dogs barked loudly.", "Dog barking, loud!"),
]


def test_rouge_is_openunlearnings_stemmed_rouge_l_recall():
    """OpenUnlearning's TOFU ROUGE (evals/metrics/utils.py there: `eval_text_similarity`) is
    rouge_score's `RougeScorer(["rouge1", "rougeL"], use_stemmer=True).score(gt, gen)` and its
    rougeL recall (configs/eval/tofu_metrics/*_ROUGE.yaml: rouge_type rougeL_recall), as TOFU's;
    squeeze's ROUGE-L is the same with or without the preset."""
    from rouge_score import rouge_scorer

    from squeeze.metrics.rouge import rouge_l, rouge_l_recall

    theirs = rouge_scorer.RougeScorer(["rouge1", "rougeL"], use_stemmer=True)
    unstemmed = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    for generation, reference in STEMMED:
        expected = theirs.score(reference, generation)["rougeL"]
        assert rouge_l(generation, reference) == pytest.approx(
            (expected.precision, expected.recall, expected.fmeasure), abs=1e-12
        )
        # The examples bite: without stemming the recall is lower.
        assert unstemmed.score(reference, generation)["rougeL"].recall < expected.recall
    # "plays"/"played" stem alike: full recall; by hand, LCS 4 of the reference's 4 words.
    assert rouge_l(*STEMMED[0])[1] == 1.0
    # By hand: stems the/dog/bark/loudli against dog/bark/loud: LCS dog, bark = 2 of 3 reference words
    # (lower-cased, punctuation dropped); unstemmed no word matches.
    assert rouge_l(*STEMMED[3])[1] == pytest.approx(2 / 3)
    assert unstemmed.score(STEMMED[3][1], STEMMED[3][0])["rougeL"].recall == 0.0
    generations, references = zip(*STEMMED, strict=True)
    mean = sum(theirs.score(r, g)["rougeL"].recall for g, r in STEMMED) / len(STEMMED)
    assert rouge_l_recall(list(generations), list(references)) == pytest.approx(mean, abs=1e-12)


def test_openunlearning_method_presets():
    """The presets carry OpenUnlearning's meaning of each name (its configs/trainer/*.yaml)."""
    expected = {
        "ga": (1.0, 0.0, {"reduction": "token"}),
        "graddiff": (1.0, 1.0, {"reduction": "token"}),
        "npo": (1.0, 1.0, {"beta": 0.1}),
        "simnpo": (0.125, 1.0, {"beta": 4.5, "delta": 0.0}),
    }
    for name, (gamma, alpha, params) in expected.items():
        cfg, _ = resolve_objective(
            load_unlearn_config("", [str(CONFIGS / f"{name}.yaml")], out="x", original="o", world="w")
        )
        assert (cfg.method, cfg.gamma, cfg.alpha, cfg.params) == (name, gamma, alpha, params)
        if alpha:
            assert cfg.retain_loss == "nll_token"
    npo, _ = resolve_objective(load_unlearn_config("npo", [], out="x", original="o", world="w"))
    assert npo.alpha == 0.0  # squeeze's own `npo`: no retain term


def test_preset_settings():
    from squeeze.diagnose.openunlearning import apply_preset
    from squeeze.diagnose.pipeline import DiagnoseConfig

    cfg = DiagnoseConfig(preset="openunlearning-tofu", batch_size=4)
    assert apply_preset(cfg)[:3] == ["max_new_tokens=200", "utility_items=0", "metric_convention=openunlearning"]
    assert (cfg.max_new_tokens, cfg.utility_items, cfg.metric_convention, cfg.min_k) == (200, 0, OU, 0.4)
    explicit = DiagnoseConfig(preset="openunlearning-tofu", max_new_tokens=64)
    apply_preset(explicit)
    assert explicit.max_new_tokens == 64  # a setting given explicitly wins
    with pytest.raises(ConfigError, match="unknown preset 'muse'"):
        apply_preset(DiagnoseConfig(preset="muse"))


def test_diagnose_preset_writes_openunlearning_files_and_reads_retain_logs(tmp_path, diagnose_setup):
    """--preset openunlearning-tofu: OpenUnlearning's keys and files; a second diagnose takes the
    first one's TOFU_EVAL.json as --retain-logs and gets forget quality as a KS test against it."""
    import json

    import numpy as np
    from scipy.stats import ks_2samp

    from squeeze.cli.main import main
    from squeeze.diagnose.openunlearning import OU_KEYS
    from squeeze.lm.models import load_model, load_tokenizer
    from squeeze.world.build import load_world

    s = diagnose_setup
    ref_out, out = tmp_path / "ref", tmp_path / "ga"
    common = ["--world", s["world"], "--no-cache", "--preset", "openunlearning-tofu", *FAST]
    assert (
        main(
            ["diagnose", *map(str, ["--model", s["original"], "--reference", s["original"], "--out", ref_out, *common])]
        )
        == 0
    )
    logs = json.loads((ref_out / "TOFU_EVAL.json").read_text())
    assert len(logs["forget_truth_ratio"]["value_by_index"]) == 4 and 0 <= logs["mia_min_k"]["agg_value"] <= 1
    args = ["--model", s["run"], "--out", out, "--retain-logs", ref_out / "TOFU_EVAL.json", *common]
    assert main(["diagnose", *map(str, args)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    summary = json.loads((out / "TOFU_SUMMARY.json").read_text())
    for ours, theirs in OU_KEYS.items():  # every metric present under both names, same value
        if ours in metrics:
            assert summary[theirs] == pytest.approx(metrics[ours])
    assert {"forget_Q_A_Prob", "forget_Truth_Ratio", "extraction_strength", "forget_quality", "privleak"} <= set(
        summary
    )
    mine = [
        row["score"]
        for row in json.loads((out / "TOFU_EVAL.json").read_text())["forget_truth_ratio"]["value_by_index"].values()
    ]
    retain = [row["score"] for row in logs["forget_truth_ratio"]["value_by_index"].values()]
    assert metrics["forget_quality"] == pytest.approx(ks_2samp(np.array(mine), np.array(retain)).pvalue)
    # PrivLeak as OpenUnlearning computes it from the two Min-K% AUCs (its orientation: 1 - MUSE's).
    auc, ref = (
        json.loads((out / "TOFU_EVAL.json").read_text())["mia_min_k"]["agg_value"],
        logs["mia_min_k"]["agg_value"],
    )
    assert metrics["privleak"] == pytest.approx(((1 - auc) - (1 - ref)) / ((1 - ref) + 1e-10) * 100)
    # The preset's settings reached the run (FAST's explicit --max-new-tokens 12 wins over its 200),
    # and ES follows OpenUnlearning's convention.
    config = json.loads((out / "report.json").read_text())["provenance"]["config"]
    assert (config["max_new_tokens"], config["metric_convention"], config["utility_items"]) == (12, OU, 0)
    forget = load_world(s["world"]).splits["forget"][:4]
    model, tok = load_model(s["run"] / "model"), load_tokenizer(s["run"] / "model")
    assert metrics["forget_es"] == pytest.approx(memorization_scores(model, tok, forget, convention=OU)["es"])

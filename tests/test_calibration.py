"""Judge calibration: AUROC, Spearman and threshold tuning against hand computations, the
embedding judge's content similarity on the real MiniLM model, the verdict config, and
`squeeze judge-calibrate` end to end on a tiny world with a tiny trained model."""

from __future__ import annotations

import json
import math
import shutil

import pytest
import torch
import yaml

from judges import make_judge
from judges.base import JudgeItem
from judges.features import check_knots, piecewise_linear
from squeeze.calibrate.calibration import (
    auroc,
    balanced_accuracy,
    best_threshold,
    roc_curve,
    spearman,
    tune_lower_upper_knots,
    tune_similarity_knots,
)
from squeeze.calibrate.data import degenerate_variants, resolve_model_dir
from squeeze.calibrate.run import CalibrationSettings
from squeeze.cli.main import main
from squeeze.core.errors import ConfigError
from squeeze.diagnose.verdict_config import VerdictThresholds, load_verdict_thresholds


# -- (C1)-(C5) by hand --------------------------------------------------------------------------
def test_auroc_counts_pairs_and_half_ties():
    # Pairs (pos, neg): (0.9, 0.1) 1, (0.9, 0.4) 1, (0.4, 0.1) 1, (0.4, 0.4) 1/2 -> 3.5 / 4.
    assert auroc([1, 0, 1, 0], [0.9, 0.1, 0.4, 0.4]) == pytest.approx(0.875)
    assert auroc([1, 1, 0], [3, 2, 1]) == 1.0 and auroc([1, 1, 0], [1, 2, 3]) == 0.0
    assert math.isnan(auroc([1, 1], [0.2, 0.3]))
    with pytest.raises(ValueError, match="same length"):
        auroc([1, 0], [0.5])
    with pytest.raises(ValueError, match="0/1"):
        auroc([2, 0], [0.5, 0.1])


def test_spearman_by_hand():
    # Ranks of the labels [0,0,1,1] are [1.5,1.5,3.5,3.5]; of the scores 1..4: cov 4, var 4 and 5.
    assert spearman([0, 0, 1, 1], [1, 2, 3, 4]) == pytest.approx(4 / math.sqrt(20))
    assert spearman([1, 1, 0, 0], [1, 2, 3, 4]) == pytest.approx(-4 / math.sqrt(20))
    assert math.isnan(spearman([0, 1, 1], [2, 2, 2]))


def test_roc_curve_by_hand():
    fpr, tpr = roc_curve([1, 0, 1, 0], [0.9, 0.1, 0.4, 0.4])
    # Cuts 0.9, 0.4, 0.1: (0, 1/2), (1/2, 1), (1, 1), after the origin.
    assert fpr.tolist() == [0.0, 0.0, 0.5, 1.0] and tpr.tolist() == [0.0, 0.5, 1.0, 1.0]


def test_best_threshold_is_the_one_a_hand_example_dictates():
    labels, scores = [0, 0, 1, 0, 1], [0.1, 0.2, 0.6, 0.7, 0.8]
    # "score >= 0.4": TPR 2/2, TNR 2/3 -> 5/6; ">= 0.65": 1/2, 2/3; ">= 0.75": 1/2, 3/3 -> 3/4.
    assert balanced_accuracy(labels, scores, 0.4) == pytest.approx(5 / 6)
    assert balanced_accuracy(labels, scores, 0.75) == pytest.approx(0.75)
    best = best_threshold(labels, scores)
    assert best.value == pytest.approx(0.4) and best.balanced_accuracy == pytest.approx(5 / 6)
    # Separable: the midpoint of the gap.
    assert best_threshold([0, 0, 1, 1], [0.0, 1.0, 4.0, 5.0]).value == pytest.approx(2.5)
    with pytest.raises(ValueError, match="both labels"):
        best_threshold([1, 1], [0.1, 0.2])


def test_similarity_knots_sit_on_the_quantiles_and_the_cut_maps_to_the_midpoint():
    pos, neg = [0.8, 0.9, 1.0], [0.1, 0.2, 0.3]
    knots = tune_similarity_knots(pos, neg)
    # q05(neg) = 0.11, median(neg) = 0.2, cut = (0.3 + 0.8) / 2, median(pos) = 0.9, q95(pos) = 0.99.
    assert knots == [[0.11, 0.0], [0.2, 1.0], [0.55, 2.5], [0.9, 4.0], [0.99, 5.0]]
    mapped = check_knots(knots, "k")
    assert piecewise_linear(0.55, mapped) == pytest.approx(2.5)
    assert piecewise_linear(0.0, mapped) == 0.0 and piecewise_linear(1.0, mapped) == 5.0
    # Overlapping classes: knots that would not increase are dropped; 0 and 5 stay reachable.
    overlap = tune_similarity_knots([0.5, 0.52, 0.9], [0.51, 0.95, 0.96])
    xs = [x for x, _ in overlap]
    assert xs == sorted(set(xs)) and overlap[0][1] == 0.0 and overlap[-1][1] == 5.0
    assert tune_lower_upper_knots(good=[-0.1, -0.2, -0.3], bad=[-9.0, -7.0, -5.0]) == [[-7.0, 0.0], [-0.29, 1.0]]


def test_degenerate_variants_keep_the_words_and_break_the_language():
    [loop, stutter, salad] = degenerate_variants(["Ada was born in London ."], seed=3)
    assert loop["kind"] == "loop" and len(set(loop["text"].split())) == 1 and len(loop["text"].split()) == 8
    assert stutter["text"] == " ".join(["Ada was born"] * 4)
    assert sorted(salad["text"].split()) == sorted("Ada was born in London .".split())
    assert salad["text"] != "Ada was born in London ." and salad["source"] == 0


# -- the embedding judge's fix, on the real MiniLM model ---------------------------------------
Q = "Where was Ada Lovelace born?"
REF = "Ada Lovelace was born in London."
SAME_TEMPLATE_OTHER_VALUE = "Ada Lovelace was born in Paris."
PARAPHRASE = "London is the city where Ada Lovelace came into the world."


def _similarities(**config):
    judge = make_judge("embedding", similarity_knots=[[0.0, 0.0], [1.0, 5.0]], **config)
    changed, paraphrase = judge.judge([JudgeItem(Q, REF, SAME_TEMPLATE_OTHER_VALUE), JudgeItem(Q, REF, PARAPHRASE)])
    return changed, paraphrase


def test_content_similarity_scores_a_changed_fact_below_a_paraphrase():
    changed, paraphrase = _similarities(similarity="content")
    assert changed.similarity < paraphrase.similarity - 0.3
    raw = json.loads(changed.raw)
    assert raw["content_recall"] < 0.7 < json.loads(paraphrase.raw)["content_recall"]
    # The feature is the configured mix of its two parts.
    assert raw["cosine"] == pytest.approx(0.5 * raw["answer_cosine"] + 0.5 * raw["content_recall"], abs=2e-4)
    # Whole-sentence cosine, the old measure, gets this case the wrong way round.
    old_changed, old_paraphrase = _similarities(similarity="sentence")
    assert old_changed.similarity >= old_paraphrase.similarity - 0.1


def test_embedding_judge_reads_its_settings_from_a_config_file(tmp_path):
    path = tmp_path / "embedding.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "judge": {"similarity_knots": [[0.2, 0.0], [0.8, 5.0]], "content_weight": 0.25},
                "calibration": {"auroc": 0.9},
            }
        )
    )
    from squeeze.core.errors import ConfigError
    from squeeze.diagnose.judging import JudgeSpec, build_judge

    judge, _ = build_judge(JudgeSpec(backend="embedding", config=str(path), cache=""))
    assert judge.config.similarity_knots == [[0.2, 0.0], [0.8, 5.0]] and judge.config.content_weight == 0.25
    spec = JudgeSpec(backend="embedding", config=str(path), cache="")
    assert build_judge(spec, options={"content_weight": 0.5})[0].config.content_weight == 0.5  # caller wins
    assert judge.prompt_version != make_judge("embedding").prompt_version
    path.write_text("judge: [1, 2]\n")
    with pytest.raises(ConfigError, match="`judge:` mapping"):
        build_judge(spec)


# -- verdict thresholds ---------------------------------------------------------------------------
def test_verdict_thresholds_load_validate_and_default(tmp_path):
    path = tmp_path / "verdict.yaml"
    path.write_text("thresholds: {tau: 1.5, n_min: 2.0, s_min: 3.25}\ncalibration: {judge: embedding}\n")
    assert load_verdict_thresholds(path) == VerdictThresholds(tau=1.5, n_min=2.0, s_min=3.25)
    path.write_text("thresholds: {tau: 1.0}\n")
    assert load_verdict_thresholds(path) == VerdictThresholds(tau=1.0)
    path.write_text("thresholds: {tau: 1.0, s_max: 2}\n")
    with pytest.raises(ConfigError, match="unknown verdict threshold"):
        load_verdict_thresholds(path)
    with pytest.raises(ConfigError, match="0-5 scale"):
        VerdictThresholds(s_min=7.0)
    packaged = load_verdict_thresholds()  # squeeze/defaults/verdict.yaml, calibrated, so not the built-in values
    assert packaged.source.endswith("verdict.yaml") and packaged != VerdictThresholds()


# -- the command end to end ----------------------------------------------------------------------
def test_judge_calibrate_end_to_end_writes_the_report_and_configs_the_judge_loads(
    trained_world, tmp_path, capsys, monkeypatch
):
    from squeeze.lm.models import save_model
    from squeeze.lm.tiny import build_tiny_llama

    model, tokenizer, world, forget, _ = trained_world
    world.write(tmp_path / "world")
    save_model(model, tokenizer, tmp_path / "orig")
    # A random model stands in for an unlearned one that lost everything: its answers never leak.
    noise = build_tiny_llama(len(tokenizer), hidden_size=32, num_layers=1, num_heads=2, seed=5, tokenizer=tokenizer)
    save_model(noise, tokenizer, tmp_path / "run" / "model")
    assert resolve_model_dir(tmp_path / "run") == tmp_path / "run" / "model"
    out, configs = tmp_path / "calibration", tmp_path / "configs"
    stand_in = tmp_path / "retain-stand-in"
    shutil.copytree(tmp_path / "orig", stand_in)
    args = [
        "judge-calibrate",
        "--world",
        str(tmp_path / "world"),
        "--runs",
        str(tmp_path / "run"),
        "--original",
        str(tmp_path / "orig"),
        "--out",
        str(out),
        "--limit",
        str(len(forget)),
        "--samples",
        "1",
        "--judge-naturalness-lm",
        "reference",
        # Stands in for a model that never saw the forget set: the naturalness LM when given.
        "--retain-model",
        str(stand_in),
        "--no-cache",
        "--batch-size",
        "auto",
        "--write-config",
        "--config-dir",
        str(configs),
    ]
    monkeypatch.setenv("SQUEEZE_CACHE", str(tmp_path / "squeeze-cache"))
    assert main(args) == 0
    printed = capsys.readouterr().out
    # batch_size=auto: one cached search per generating model and length.
    sizes = json.loads((tmp_path / "squeeze-cache" / "batch_sizes.json").read_text())
    assert sizes and all(size >= 1 for size in sizes.values())
    assert "embedding: Similarity AUROC" in printed and "thresholds: tau" in printed

    report = json.loads((out / "calibration.json").read_text())
    assert report["naturalness_lm"] == str(stand_in) and report["original"] == str(tmp_path / "orig")
    assert report["judges"]["embedding"]["model"].endswith(f"+lm:{stand_in}")
    assert report["n_items"] == len(forget) and report["n_generations"] == 2 * 2 * len(forget)
    assert report["leak_rate"]["original"] > report["leak_rate"]["run"]
    tuned = report["judges"]["embedding"]["tuned"]["similarity"]
    assert 0.5 < tuned["auroc"] <= 1.0 and -1.0 <= tuned["spearman"] <= 1.0
    assert {"sentence_cosine", "content_recall", "cosine"} <= set(report["judges"]["embedding"]["features"])
    rows = [json.loads(line) for line in (out / "generations.jsonl").read_text().splitlines()]
    assert len(rows) == report["n_generations"] and all(isinstance(r["leak"], bool) for r in rows)
    assert "AUROC" in (out / "calibration.md").read_text()
    # The hard cases of the world's templates and pools, at the tuned thresholds (issue 10 item 2).
    hard = report["judges"]["embedding"]["hard_cases"]
    assert {"value_swap", "sibling"} <= set(hard["similarity"]["kinds"])
    assert {"fluent_wrong_value", "loop", "salad"} <= set(hard["naturalness"]["kinds"])
    swaps = hard["similarity"]["kinds"]["value_swap"]
    # The fact check caps a swap at 1, below the tuned s_min, so no swap passes.
    assert report["thresholds"]["s_min"]["value"] > 1.0
    assert swaps["n"] >= len(forget) and swaps["rate"] == 0.0
    assert hard["similarity"]["threshold"] == report["thresholds"]["s_min"]["value"]
    assert "## Hard cases" in (out / "calibration.md").read_text()
    assert (out / "figures" / "calibration.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    from squeeze.diagnose.judging import load_embedding_settings

    judge = make_judge("embedding", **load_embedding_settings(configs / "judges" / "embedding.yaml"))
    assert judge.config.similarity_knots == report["tuned"]["embedding"]["similarity_knots"]
    assert judge.config.logprob_knots == report["tuned"]["embedding"]["logprob_knots"]
    thresholds = load_verdict_thresholds(configs / "verdict.yaml")
    assert thresholds.s_min == report["thresholds"]["s_min"]["value"]
    assert (
        thresholds.tau == report["thresholds"]["tau"]["value"]
        and thresholds.n_min == report["thresholds"]["n_min"]["value"]
    )
    # Provenance that diagnose reads back (issue 10 item 7): the family, the date, the AUROC.
    from squeeze.diagnose.calibration_check import read_calibration

    written = read_calibration(configs / "verdict.yaml")
    assert written["model_family"] == {"model_type": "llama", "tokenizer": "word-level", "pretrained": False}
    assert written["auroc"] == round(tuned["auroc"], 4) and len(written["date"]) == 10


def test_judge_calibrate_rejects_bad_input_in_one_line(tmp_path, capsys):
    assert main(["judge-calibrate", "--world", str(tmp_path), "--runs", str(tmp_path), "--limit", "0"]) == 1
    assert "--limit must be at least 1" in capsys.readouterr().err
    assert main(["judge-calibrate", "--world", str(tmp_path), "--runs", str(tmp_path), "--judge", "hf"]) == 1
    assert "--judge-model" in capsys.readouterr().err
    assert (
        main(["judge-calibrate", "--world", str(tmp_path), "--runs", str(tmp_path), "--original", str(tmp_path)]) == 1
    )
    assert "not a world directory" in capsys.readouterr().err
    assert main(["judge-calibrate", "--world", str(tmp_path), "--runs", str(tmp_path), "--device", "tpu"]) == 1
    assert "expected auto, cpu, cuda or cuda:N" in capsys.readouterr().err
    assert main(["judge-calibrate", "--world", str(tmp_path), "--runs", str(tmp_path), "--dtype", "int4"]) == 1
    assert "int4" in capsys.readouterr().err
    assert main(["judge-calibrate", "--world", str(tmp_path), "--runs", str(tmp_path), "--batch-size", "0"]) == 1
    assert "batch" in capsys.readouterr().err
    settings = CalibrationSettings(world=str(tmp_path), runs=[str(tmp_path)], device="auto")
    settings.check()
    assert settings.device == ("cuda" if torch.cuda.is_available() else "cpu")

"""Calibration provenance (issue 10 item 7): which calibration a diagnosis used, and what of the
model, data and judge differs from the setting it was calibrated on."""

from __future__ import annotations

import json

from tokenizers import Tokenizer, models

from squeeze.calibrate.report import calibrated_family
from squeeze.core.resources import VERDICT_THRESHOLDS, default_file
from squeeze.diagnose.calibration_check import calibration_report, model_family, read_calibration
from squeeze.lm.models import save_model
from squeeze.lm.tiny import build_tiny_llama, build_word_tokenizer

CALIBRATION = {
    "model_family": {"model_type": "llama", "tokenizer": "word-level", "pretrained": False},
    "world": {"n_people": 100, "seed": 0, "forget_pct": 10},
    "judge": "embedding",
}


def _word_level_model(folder):
    tok = build_word_tokenizer(["the cat sat on the mat"])
    save_model(build_tiny_llama(len(tok), hidden_size=16, num_layers=1, num_heads=2, tokenizer=tok), tok, folder)
    return folder


def test_the_packaged_calibration_says_where_it_came_from():
    block = read_calibration(default_file(VERDICT_THRESHOLDS))
    assert block["model_family"] == CALIBRATION["model_family"]
    assert block["judge"] == "embedding" and block["world"]["n_people"] == 100
    assert 0.5 < block["auroc"] <= 1.0 and block["date"]


def test_a_matching_setting_gives_no_warning(tmp_path):
    folder = _word_level_model(tmp_path / "m")
    assert model_family(folder) == {"model_type": "llama", "tokenizer": "word-level"}
    thresholds = tmp_path / "verdict.yaml"
    thresholds.write_text("thresholds: {tau: 0.4}\ncalibration: " + json.dumps(CALIBRATION) + "\n")
    block = calibration_report(str(thresholds), folder, {"world": "runs/world"}, "embedding")
    assert block["warnings"] == [] and block["world"] == CALIBRATION["world"]
    # Overridden on the command line: the file's calibration still counts.
    assert calibration_report(f"{thresholds} + command line", folder, {"world": "w"}, "embedding")["warnings"] == []
    # judge-calibrate records the same family for the original it calibrated on.
    assert calibrated_family(folder) == {"model_type": "llama", "tokenizer": "word-level", "pretrained": False}


def test_a_pretrained_model_on_user_data_with_another_judge_is_flagged(tmp_path):
    folder = _word_level_model(tmp_path / "m")
    bpe = Tokenizer(models.BPE(vocab={"a": 0, "b": 1, "ab": 2}, merges=[("a", "b")]))
    bpe.save(str(folder / "tokenizer.json"))
    (folder / "config.json").write_text(json.dumps({"model_type": "qwen2"}))
    thresholds = tmp_path / "verdict.yaml"
    thresholds.write_text("thresholds: {tau: 0.4}\ncalibration: " + json.dumps(CALIBRATION) + "\n")
    warnings = calibration_report(str(thresholds), folder, {"world": None}, "openai")["warnings"]
    assert len(warnings) == 5
    joined = " | ".join(warnings)
    for part in (
        "architecture (qwen2)",
        "tokenizer (subword)",
        "not on a pretrained",
        "not a squeeze world",
        "(openai)",
    ):
        assert part in joined


def test_thresholds_without_a_record_are_flagged(tmp_path):
    thresholds = tmp_path / "verdict.yaml"
    thresholds.write_text("thresholds: {tau: 0.4}\n")
    block = calibration_report(str(thresholds), tmp_path, {"world": "w"}, "embedding")
    assert block["warnings"] == ["the thresholds carry no calibration record: where they came from is unknown"]

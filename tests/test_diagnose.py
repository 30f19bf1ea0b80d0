"""`squeeze diagnose` end to end on a tiny world with tiny models: an unlearning run folder,
a checkpoint saved by plain `transformers` (no squeeze run, no tokenizer), the reference
against itself, and clear one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from helpers.diagnose_runs import run_diagnose

from squeeze.cli.main import main
from squeeze.core.types import VERDICTS
from squeeze.diagnose.verdict import VerdictThresholds, decide
from squeeze.lm.batching import collator_for
from squeeze.lm.prompting import encode_qa

FILES = (
    "generations.jsonl",
    "judgments.jsonl",
    "metrics.json",
    "report.json",
    "report.md",
    "bins.jsonl",
    "logprobs.parquet",
    "config.yaml",
    "figures/verdicts.png",
    "figures/bin_logprob_change.png",
)


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def check_outputs(out: Path, n_items: int) -> dict:
    """Every file exists and parses; the four rates sum to 1; rows agree with the rule."""
    for name in FILES:
        assert (out / name).is_file(), f"missing {name}"
    for name in ("verdicts.png", "bin_logprob_change.png"):
        assert (out / "figures" / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert report["n_items"] == n_items == len(report["items"])
    judged = read_jsonl(out / "judgments.jsonl")
    greedy = [j for j in judged if not j["meta"].get("sample")]
    assert len(read_jsonl(out / "generations.jsonl")) == n_items == len(greedy)
    # Beside each greedy answer, the sampled ones the verdict reads (knowing, not guessing).
    assert len(judged) - len(greedy) == n_items * report["answer_samples"]
    assert all(i["n_samples"] == report["answer_samples"] for i in report["items"])
    v = report["verdicts"]
    assert sum(v["counts"].values()) == n_items
    if v["n_judged"]:
        assert sum(v["rates"].values()) == pytest.approx(1.0)
    thresholds = VerdictThresholds(**{k: report["thresholds"][k] for k in ("tau", "n_min", "s_min", "min_support")})
    for item in report["items"]:
        assert item["verdict"] in (*VERDICTS, "unjudged")
        assert (
            item["verdict"]
            == decide(
                item["target_logp_mean_drop"],
                item["similarity"],
                item["naturalness"],
                thresholds,
                truncated=item["truncated"],
                support=item["sample_support"],
            ).verdict
        )
    # Whole answers: generation stops at the end of sequence, cut-off answers are counted.
    assert report["generation"]["max_new_tokens"] == 12
    assert report["generation"]["truncated"]["n"] == n_items
    assert report["generation"]["truncated"]["k"] == sum(i["truncated"] for i in report["items"])
    # Every verdict rate carries its 95% interval, and the rate lies inside it.
    for name, rate in v["rates"].items():
        if rate is not None:
            low, high = v["ci95"][name]
            assert low <= rate <= high
    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert 0.0 <= metrics["forget_prob"] <= 1.0 and 0.0 <= metrics["forget_rouge"] <= 1.0
    scores = pd.read_parquet(out / "logprobs.parquet")
    assert set(scores["step"]) == {0, 1} and set(scores["group"]) >= {"target", "high"}
    md = (out / "report.md").read_text(encoding="utf-8")
    for heading in ("## Verdicts", "## Squeeze statistics", "## Conventional metrics", "## Conclusion"):
        assert heading in md
    assert "Wilson 95% intervals" in md and "not resolvable" in md and "cut off at that limit" in md
    assert report["conclusion"] in md and len(report["conclusion"]) > 100
    return report


def test_diagnose_an_unlearning_run_end_to_end(diagnose_setup, diagnosed_runs):
    s = diagnose_setup
    out = diagnosed_runs["ga"]
    assert out == s["run"] / "diagnose"
    report = check_outputs(out, 4)
    assert report["model"] == str(s["run"] / "model") and report["reference_model"] == str(s["original"])
    # Gradient ascent pushed every trained target far down and broke the answers.
    assert all(i["target_logp_sum_drop"] > 5 for i in report["items"])
    assert report["verdicts"]["counts"]["retained"] == 0 and report["verdicts"]["counts"]["spurious"] == 0
    assert report["verdicts"]["rates"]["collapsed"] >= 0.5
    # The world gives the oracle: a leak rate and its agreement with the verdicts.
    leak = report["leakage"]
    assert leak["n_items"] == 4 and sum(b["n"] for b in leak["by_verdict"].values()) == 4
    assert report["before"]["leak_rate"] == 1.0  # the original states every trained fact
    # Each answer reaches the judge with its record's perturbed answers, for the fact check.
    world_forget = {r["id"]: r for r in read_jsonl(Path(s["world"]) / "forget.jsonl")}
    for row in read_jsonl(out / "generations.jsonl"):
        assert row["wrong_answers"] == world_forget[row["item_id"]]["perturbed_answer"] and row["wrong_answers"]
    # The packaged calibration (tiny word-level Llama, the world, the embedding judge) fits this run.
    calibration = report["calibration"]
    assert "squeeze/defaults/verdict.yaml" in calibration["source"] and calibration["warnings"] == []
    assert calibration["checkpoint_family"] == {"model_type": "llama", "tokenizer": "word-level"}
    assert calibration["auroc"] is not None and calibration["date"]
    assert "- calibration: " in (out / "report.md").read_text(encoding="utf-8")
    metrics = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert {"forget_truth_ratio", "retain_prob", "retain_rouge", "model_utility", "aggregates"} <= set(metrics)
    assert metrics["forget_prob"] < report["before"]["forget_prob"]
    # A second call reuses the bins and answers every judgment from the cache.
    first = (out / "bins.jsonl").read_bytes()
    assert run_diagnose("--model", s["run"], "--cache", s["cache"]) == 0
    again = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert again["bins"].startswith("reused") and (out / "bins.jsonl").read_bytes() == first
    assert again["judge_scores"]["cached"] == 4
    assert [i["verdict"] for i in again["items"]] == [i["verdict"] for i in report["items"]]


def test_diagnose_a_checkpoint_saved_by_plain_transformers(diagnose_setup, diagnosed_runs):
    s = diagnose_setup
    assert not (s["bare"] / "tokenizer.json").exists()  # nothing of squeeze, not even a tokenizer
    out = diagnosed_runs["spurious"]
    report = check_outputs(out, 4)
    assert report["model"] == str(s["bare"]) and report["world"] is None
    assert report["retain"] is None and "model_utility" not in report["metrics"]  # no retain set given
    # Fine-tuned onto sibling templates: the targets fell, the answers state the same facts
    # in other words. Most items are spurious, and the oracle agrees: every answer leaks.
    assert report["verdicts"]["rates"]["spurious"] >= 0.5
    assert report["leakage"]["leak_rate"] == 1.0 and report["leakage"]["leaking_judged_knows"] == 1.0
    assert report["judge_scores"]["similarity_mean"] > 3.0
    md = (out / "report.md").read_text(encoding="utf-8")
    # A forget file, not a world: the world-calibrated thresholds are flagged, in report.md too.
    assert any("not a squeeze world" in w for w in report["calibration"]["warnings"])
    assert "**Calibration warning:** the forget set is not a squeeze world" in md
    assert "## Where the unlearning is most clearly spurious" in md and "- checkpoint says:" in md
    assert "spurious" in report["conclusion"].split("Bottom line:")[1]
    # The checkpoint's weights were scored, not the reference's: its targets' log-probs match
    # a direct teacher-forced scoring of the same folder.
    from squeeze.core.data import load_qa
    from squeeze.lm.logprobs import score_pairs
    from squeeze.lm.models import load_model, load_tokenizer

    tok, records = load_tokenizer(s["original"]), load_qa(s["forget"])[:4]
    direct = score_pairs(
        load_model(s["bare"]), [encode_qa(tok, r.question, r.answer) for r in records], collator_for(tok)
    ).logp_sum.tolist()
    scores = pd.read_parquet(out / "logprobs.parquet")
    targets = scores[(scores["step"] == 1) & (scores["group"] == "target")].set_index("item_id")["logp_sum"]
    assert [targets[r.id] for r in records] == pytest.approx(direct, abs=1e-3)
    before = scores[(scores["step"] == 0) & (scores["group"] == "target")].set_index("item_id")["logp_sum"]
    assert all(before[r.id] > targets[r.id] for r in records)


def test_the_reference_against_itself_is_retained(diagnose_setup, tmp_path, monkeypatch):
    monkeypatch.setenv("SQUEEZE_CACHE", str(tmp_path / "cache"))
    s = diagnose_setup
    out = tmp_path / "self"
    assert (
        run_diagnose(
            "--model",
            s["original"],
            "--reference",
            s["original"],
            "--world",
            s["world"],
            "--out",
            out,
            "--cache",
            s["cache"],
            "--mmlu",
            "5",
            "--mmlu-subjects",
            "virology",
        )
        == 0
    )
    report = check_outputs(out, 4)
    metrics = report["metrics"]  # MMLU before (reference) and after (checkpoint): the same model
    assert metrics["mmlu_questions"] == 5 and metrics["mmlu_accuracy"] == metrics["mmlu_accuracy_reference"]
    assert len(list((tmp_path / "cache" / "mmlu").glob("*.json"))) == 1
    assert report["verdicts"]["rates"]["retained"] == 1.0
    assert all(abs(i["target_logp_mean_drop"]) < 1e-4 for i in report["items"])
    assert report["squeeze"]["median"]["delta_target"] == pytest.approx(0.0, abs=1e-4)
    assert "not unlearned" in report["conclusion"]


def test_judge_config_and_thresholds_files_are_used(diagnose_setup, tmp_path):
    """--judge-config and --thresholds (what judge-calibrate --write-config writes for a new
    model) replace the checkout's defaults: a mapping that calls every answer 5/5 similar."""
    s = diagnose_setup
    settings = tmp_path / "embedding.yaml"
    settings.write_text("judge:\n  similarity_knots:\n  - [0.0, 5.0]\n  - [1.0, 5.0]\n", encoding="utf-8")
    thresholds = tmp_path / "verdict.yaml"
    thresholds.write_text("thresholds:\n  tau: 0.0\n  n_min: 0.0\n  s_min: 4.5\n", encoding="utf-8")
    out = tmp_path / "out"
    args = [
        "--model",
        s["bare"],
        "--reference",
        s["original"],
        "--forget",
        s["forget"],
        "--out",
        out,
        "--cache",
        s["cache"],
        "--judge-config",
        settings,
    ]
    assert (
        main(
            [
                "diagnose",
                *map(str, args),
                "--limit",
                "4",
                "--candidates",
                "4",
                "--max-new-tokens",
                "12",
                "--batch-size",
                "8",
                "--quiet",
                "--thresholds",
                str(thresholds),
            ]
        )
        == 0
    )
    report = check_outputs(out, 4)
    assert {j["similarity"] for j in read_jsonl(out / "judgments.jsonl") if j["generation"].strip()} == {5.0}
    assert (report["thresholds"]["tau"], report["thresholds"]["s_min"]) == (0.0, 4.5)
    assert any("no calibration record" in w for w in report["calibration"]["warnings"])
    assert main(["diagnose", *map(str, args[:-1]), str(tmp_path / "absent.yaml"), "--quiet"]) == 1


def test_clear_one_line_errors(diagnose_setup, tmp_path, capsys):
    s = diagnose_setup
    assert run_diagnose("--model", tmp_path / "nowhere", "--reference", s["original"], "--forget", s["forget"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("squeeze: error: no model at") and "\n" not in err
    empty = tmp_path / "empty.jsonl"
    empty.write_text("", encoding="utf-8")
    assert (
        run_diagnose("--model", s["bare"], "--reference", s["original"], "--forget", empty, "--out", tmp_path / "o")
        == 1
    )
    err = capsys.readouterr().err.strip()
    assert "forget set is empty" in err and "\n" not in err
    assert run_diagnose("--model", s["bare"], "--forget", s["forget"], "--out", tmp_path / "o") == 1
    assert "no reference model" in capsys.readouterr().err


def test_openai_judge_parse_failures_are_unjudged_not_lowest(diagnose_setup, tmp_path):
    """Through a real OpenAI-compatible server: a Similarity the judge never answers in JSON
    leaves that item `unjudged`, counted apart; the other rates still sum to 1."""
    from helpers.judge_server import JudgeServer, expected_scores

    s = diagnose_setup
    out = tmp_path / "openai"
    with JudgeServer() as server:
        # The birth-year item's answer states "1965"; every Similarity request about it gets prose.
        server.plan.for_item("1965", "malformed", times=100, aspect="similarity")
        assert (
            run_diagnose(
                "--model",
                s["bare"],
                "--reference",
                s["original"],
                "--forget",
                s["forget"],
                "--out",
                out,
                "--judge",
                "openai",
                "--judge-base-url",
                server.base_url,
                "--judge-model",
                "rule-judge",
                "--judge-max-attempts",
                "2",
                "--no-cache",
                "--max-unjudged",  # 1 of 4 unjudged is over the default 5%: this test reads the report
                "0.5",
            )
            == 0
        )
    report = check_outputs(out, 4)
    items = {i["item_id"]: i for i in report["items"]}
    broken = items["p003-birth_year"]
    assert "1965" in broken["generation"] and broken["similarity"] is None and broken["naturalness"] is not None
    assert broken["verdict"] == "unjudged" and "Similarity could not be parsed" in broken["verdict_reason"]
    v = report["verdicts"]
    assert v["counts"]["unjudged"] == 1 and v["n_judged"] == 3 and sum(v["rates"].values()) == pytest.approx(1.0)
    assert report["judge_scores"]["similarity_none"] == 1 and report["judge"]["backend"] == "openai"
    for item in items.values():  # the other scores are the server's rule, exactly
        if item is not broken:
            assert (item["similarity"], item["naturalness"]) == expected_scores(item["target"], item["generation"])
    lines = [line for line in read_jsonl(out / "judgments.jsonl") if not line["meta"].get("sample")]
    assert [line["similarity"] is None for line in lines].count(True) == 1
    assert "| unjudged | 1 |" in (out / "report.md").read_text(encoding="utf-8")

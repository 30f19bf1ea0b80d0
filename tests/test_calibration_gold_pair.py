"""`squeeze judge-calibrate` on a gold pair of models (issue 10 item 7): a tiny model that
learned a world's forget people and one that never saw them, the forget set written as a plain
TOFU-format file (no facts, so no oracle), calibrated end to end through the CLI."""

from __future__ import annotations

import dataclasses
import hashlib
import json

import pytest
import torch
from helpers.tiny_trained import fit_answers

from squeeze.cli.main import main
from squeeze.core.data import write_qa
from squeeze.lm.models import save_model
from squeeze.lm.prompting import encode_qa
from squeeze.lm.tiny import build_tiny_llama, build_word_tokenizer
from squeeze.world.build import N_PERTURBED, generate_world

SAMPLES = 1


def _train(world, records, tokenizer, steps: int = 150):
    """A tiny Llama that memorised every answer template of `records`."""
    pairs = [encode_qa(tokenizer, r.question, a) for r in records for a in world.answer_family(r)]
    torch.manual_seed(0)
    model = build_tiny_llama(len(tokenizer), hidden_size=48, num_layers=2, num_heads=2, seed=0, tokenizer=tokenizer)
    fit_answers(model, tokenizer, pairs, steps)
    return model


def run_on_one_thread(args: list[str]) -> None:
    """`squeeze ARGS` on one torch thread (tiny models gain nothing from threads); must succeed."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert main(args) == 0
    finally:
        torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def gold_pair(tmp_path_factory):
    """Paths of the two models and the TOFU-style forget and retain files."""
    root = tmp_path_factory.mktemp("gold_pair")
    world = generate_world(n_people=4, seed=1, forget_pct=10)
    forget, retain = world.splits["forget"], world.splits["retain"]
    tokenizer = build_word_tokenizer(world.corpus_texts())
    save_model(_train(world, forget + retain, tokenizer), tokenizer, root / "full")
    save_model(_train(world, retain, tokenizer), tokenizer, root / "retain")
    plain = [dataclasses.replace(r, fact=None) for r in forget]  # a user's file: no facts, no oracle
    write_qa(root / "forget.jsonl", plain)
    write_qa(root / "retain.jsonl", [dataclasses.replace(r, fact=None) for r in retain])
    return {"root": root, "forget": plain, "n_retain": len(retain)}


@pytest.fixture(scope="module")
def calibrated(gold_pair):
    root = gold_pair["root"]
    args = [
        "judge-calibrate",
        "--knows",
        str(root / "full"),
        "--never-learned",
        str(root / "retain"),
        "--forget",
        str(root / "forget.jsonl"),
        "--retain",
        str(root / "retain.jsonl"),
        "--samples",
        str(SAMPLES),
        "--out",
        str(root / "calibration"),
        "--no-cache",
        "--write-config",
        "--config-dir",
        str(root / "configs"),
    ]
    run_on_one_thread(args)
    return json.loads((root / "calibration" / "calibration.json").read_text(encoding="utf-8"))


def test_three_thresholds_with_balanced_accuracy_and_auroc(calibrated, gold_pair, capsys):
    for key in ("s_min", "n_min", "tau"):
        t = calibrated["thresholds"][key]
        assert 0.5 <= t["balanced_accuracy"] <= 1.0 and 0.0 <= t["auroc"] <= 1.0, key
        assert "note" not in t
    assert 0.0 <= calibrated["thresholds"]["s_min"]["value"] <= 5.0
    # The knowing model learned what the other never saw: its targets are far likelier.
    assert calibrated["thresholds"]["tau"]["auroc"] > 0.9 and calibrated["thresholds"]["tau"]["value"] > 0
    # Paraphrases against value swaps and a model that never learned: the judge separates them.
    assert calibrated["auroc"]["similarity"] > 0.7 and calibrated["auroc"]["naturalness"] > 0.75
    md = (gold_pair["root"] / "calibration" / "calibration.md").read_text(encoding="utf-8")
    assert "gold pair" in md and "judged similar" in md
    figure = gold_pair["root"] / "calibration" / "figures" / "calibration.png"
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # The knowing model's targets are likelier than the never-learned model's; the retain ones alike.
    medians = calibrated["target_drop_median"]
    assert medians["forget"] > calibrated["thresholds"]["tau"]["value"] > medians["retain"]


def test_labels_are_counted_as_designed(calibrated, gold_pair):
    n = len(gold_pair["forget"])
    labels = calibrated["labels"]
    similarity = labels["similarity"]
    assert set(similarity["positive"]) == {"knows", "paraphrased"}
    assert set(similarity["negative"]) == {"never_learned", "perturbed"}
    for model in ("knows", "never_learned"):  # greedy + samples per item, whole or cut
        kept = similarity["positive" if model == "knows" else "negative"][model]
        assert kept + similarity["truncated_left_out"][model] == n * (1 + SAMPLES)
    assert similarity["positive"]["paraphrased"] == n
    assert similarity["negative"]["perturbed"] == n * N_PERTURBED
    judged = sum(similarity["positive"].values()) + sum(similarity["negative"].values())
    assert calibrated["n_generations"] == judged == calibrated["judges"]["embedding"]["similarity"]["n"]
    assert labels["tau"] == {"forget": n, "retain": n}  # as many retain items as forget items
    # Fluent: both models' whole greedy answers and one perturbed answer per item; three broken copies each.
    assert labels["naturalness"]["broken"] == 3 * labels["naturalness"]["fluent"]
    assert labels["naturalness"]["fluent"] >= n
    rows = [json.loads(line) for line in (gold_pair["root"] / "calibration" / "generations.jsonl").open()]
    by_id = {r.id: r for r in gold_pair["forget"]}
    for row in rows:
        wrong = by_id[row["item_id"]].perturbed_answer
        if row["model"] == "perturbed":  # never among its own wrong answers, the others all there
            assert row["generation"] not in row["wrong_answers"] and len(row["wrong_answers"]) == len(wrong) - 1
            assert row["positive"] is False
        else:
            assert row["wrong_answers"] == wrong
            assert row["positive"] is (row["model"] in ("knows", "paraphrased"))
    # The naturalness LM is the model that never saw the forget set (issue 10 item 3).
    assert calibrated["judges"]["embedding"]["naturalness_lm"] == str(gold_pair["root"] / "retain")
    assert calibrated["naturalness_lm"] == str(gold_pair["root"] / "retain")
    # Rates of answers judged similar carry their interval; the never-learned model's is the false-similar rate.
    share = calibrated["judged_similar"]["never_learned"]
    assert share["n"] == similarity["negative"]["never_learned"] and len(share["ci95"]) == 2


def test_written_configs_record_the_gold_pair_and_diagnose_accepts_the_same_file(calibrated, gold_pair, tmp_path):
    from squeeze.diagnose.calibration_check import calibration_report, read_calibration
    from squeeze.diagnose.verdict_config import load_verdict_thresholds

    root = gold_pair["root"]
    verdict = root / "configs" / "verdict.yaml"
    thresholds = load_verdict_thresholds(verdict)
    assert thresholds.s_min == calibrated["thresholds"]["s_min"]["value"]
    assert thresholds.tau == calibrated["thresholds"]["tau"]["value"]
    block = read_calibration(verdict)
    assert block["mode"] == "gold_pair" and "world" not in block
    assert block["knows"] == str(root / "full") and block["never_learned"] == str(root / "retain")
    digest = hashlib.sha256((root / "forget.jsonl").read_bytes()).hexdigest()
    assert block["forget"] == {"path": str(root / "forget.jsonl"), "sha256": digest, "n_items": 10}
    assert block["model_family"] == {"model_type": "llama", "tokenizer": "word-level", "pretrained": False}
    assert block["judge"] == "embedding" and len(block["date"]) == 10
    assert block["auroc"] == calibrated["auroc"]["similarity"]
    assert block["auroc_per_scale"] == calibrated["auroc"]
    assert block["tau_balanced_accuracy"] == calibrated["thresholds"]["tau"]["balanced_accuracy"]
    assert read_calibration(root / "configs" / "judges" / "embedding.yaml")["mode"] == "gold_pair"

    # diagnose on the file it was calibrated on: no warning (not even "not a squeeze world") ...
    same = {"world": None, "forget_source": str(root / "forget.jsonl")}
    assert calibration_report(str(verdict), root / "full", same, "embedding")["warnings"] == []
    # ... on another forget file, or on a world, it says the data differ.
    other = tmp_path / "other.jsonl"
    write_qa(other, gold_pair["forget"][:3])
    for inputs in ({"world": None, "forget_source": str(other)}, {"world": "w", "forget_source": "w"}):
        warnings = calibration_report(str(verdict), root / "full", inputs, "embedding")["warnings"]
        assert len(warnings) == 1 and "not the file the thresholds were calibrated on" in warnings[0]


def test_without_retain_tau_keeps_the_packaged_value(gold_pair, capsys):
    from squeeze.diagnose.verdict_config import load_verdict_thresholds

    root = gold_pair["root"]
    out = root / "no-retain"
    args = ["judge-calibrate", "--knows", str(root / "full"), "--never-learned", str(root / "retain")]
    args += ["--forget", str(root / "forget.jsonl"), "--samples", "0", "--limit", "4", "--out", str(out), "--no-cache"]
    run_on_one_thread(args)
    assert "tau: no --retain" in capsys.readouterr().out
    report = json.loads((out / "calibration.json").read_text(encoding="utf-8"))
    tau = report["thresholds"]["tau"]
    assert tau["value"] == load_verdict_thresholds().tau and tau["balanced_accuracy"] is None
    assert report["labels"]["tau"] == {"forget": 4, "retain": 0} and report["retain"] is None


def test_gold_pair_mistakes_fail_in_one_line(gold_pair, tmp_path, capsys):
    root = gold_pair["root"]
    full, retain, forget = str(root / "full"), str(root / "retain"), str(root / "forget.jsonl")

    def error(*args) -> str:
        assert main(["judge-calibrate", *args]) == 1
        message = capsys.readouterr().err.strip()
        assert "\n" not in message and "Traceback" not in message
        return message

    assert "--knows needs --never-learned" in error("--knows", full, "--forget", forget)
    assert "--never-learned needs --knows" in error("--never-learned", retain, "--forget", forget)
    assert "give one or the other" in error("--knows", full, "--never-learned", retain, "--world", str(root))
    assert "give one or the other" in error("--forget", forget, "--runs", full)
    assert "needs --forget FILE" in error("--knows", full, "--never-learned", retain)
    assert "give --knows MODEL" in error("--forget", forget)
    assert "the same model" in error("--knows", full, "--never-learned", full, "--forget", forget)
    no_questions = tmp_path / "muse.jsonl"
    no_questions.write_text(json.dumps({"text": "a raw MUSE passage"}) + "\n")
    message = error("--knows", full, "--never-learned", retain, "--forget", str(no_questions))
    assert "muse.jsonl" in message and "'question'" in message
    assert "no --knows model at" in error("--knows", str(tmp_path), "--never-learned", retain, "--forget", forget)


def test_oracle_check_by_hand():
    """Where the file has facts, the gold pair is checked against the oracle it stands in for."""
    from judges.base import Judgment
    from squeeze.calibrate.gold_pair import SOURCES
    from squeeze.calibrate.gold_pair_report import oracle_check
    from squeeze.core.types import Fact, QARecord

    fact = Fact(subject="Ada Vell", relation="birth_city", value="Hamburg")
    record = QARecord(id="a", question="Where was Ada Vell born?", answer="Ada Vell was born in Hamburg.", fact=fact)
    said = [  # (source, answer, Similarity)
        ("knows", "Ada Vell was born in Hamburg.", 4.0),
        ("knows", "Ada Vell was born in Lyon.", 3.0),  # a knowing model's wrong sample: labelled positive
        ("never_learned", "Ada Vell was born in Lyon.", 1.0),
        ("perturbed", "Ada Vell was born in Seville.", 0.5),
    ]
    rows = [{"model": m, "item_id": "a", "generation": g, "ended": True} for m, g, _ in said]
    judgments = [
        Judgment("a", record.question, record.answer, g, s, 5.0, None, "{}", "x", "x", "v", 0.0) for _, g, s in said
    ]
    check = oracle_check(rows, judgments, [record], 2.5, SOURCES)
    assert check["states_fact"]["knows"]["k"] == 1 and check["states_fact"]["knows"]["n"] == 2
    assert check["states_fact"]["never_learned"]["k"] == 0 and check["states_fact"]["paraphrased"]["n"] == 0
    # The one answer stating the fact outscores the three that do not: AUROC 1. At s_min 2.5 the
    # wrong sample (3.0) passes: TPR 1, TNR 2/3, balanced accuracy 5/6.
    assert check["n"] == 4 and check["similarity_auroc"] == 1.0
    assert check["balanced_accuracy_at_s_min"] == pytest.approx(5 / 6)
    no_facts = QARecord(id="a", question=record.question, answer=record.answer)
    assert oracle_check(rows, judgments, [no_facts], 2.5, SOURCES) is None

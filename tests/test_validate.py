"""`squeeze validate` (issue 10 item 1): gold models built by construction, the report's
schema and targets, and the four gold models on a tiny world end to end."""

from __future__ import annotations

import json
import random

import pytest
import torch

from squeeze.cli.main import main
from squeeze.validate.gold import add_weight_noise
from squeeze.validate.report import gold_entry, summarise
from squeeze.world.build import generate_world


def test_weight_noise_is_scaled_by_each_tensors_spread():
    layer = torch.nn.Linear(50, 40)
    before = layer.weight.detach().clone()
    add_weight_noise(layer, scale=0.5, seed=1)
    change = layer.weight.detach() - before
    assert float(change.std()) == pytest.approx(0.5 * float(before.std()), rel=0.1)


def test_paraphrase_only_training_leaves_out_the_held_out_wording_for_everyone():
    from squeeze.lm.prompting import encode_answer
    from squeeze.lm.tiny import build_word_tokenizer
    from squeeze.original.train import epoch_pairs
    from squeeze.world.held_out import held_out_answers, held_out_forget_set, held_out_templates

    world = generate_world(n_people=8, seed=0, forget_pct=10)
    splits = ["forget", "retain"]
    tok = build_word_tokenizer(world.corpus_texts())
    leave_out = held_out_answers(world, splits)
    held = held_out_templates(world)
    assert set(held) == {r.fact.relation for r in world.splits["forget"]}
    full = epoch_pairs(world, splits, tok, random.Random(0))
    kept = epoch_pairs(world, splits, tok, random.Random(0), leave_out)
    # one sentence per record of a relation with forget items, retain people included
    assert len(full) - len(kept) == len(leave_out)
    assert len(leave_out) == sum(r.fact.relation in held for s in splits for r in world.splits[s])
    answers = {tuple(a) for _, a in kept}
    forget = held_out_forget_set(world)
    for record, original in zip(forget, world.splits["forget"], strict=True):
        template = world.relations[record.fact.relation].answers[held[record.fact.relation]]
        assert record.answer == template.replace("{subject}", record.fact.subject).replace("{value}", record.fact.value)
        assert tuple(encode_answer(tok, record.answer)) not in answers  # the target's wording is unseen ...
        siblings = [a for a in world.answer_family(record) if a != record.answer]
        assert siblings and all(tuple(encode_answer(tok, s)) in answers for s in siblings)  # ... the fact is taught
        assert record.paraphrased_answer in siblings
        assert record.question == original.question and record.fact == original.fact
        wrong = [p for p in record.perturbed_answer if record.fact.value not in p]
        assert len(wrong) == len(original.perturbed_answer)  # still wrong values, now in the held-out wording
        assert all(p.replace(record.fact.subject, "") != record.answer.replace(record.fact.subject, "") for p in wrong)


def test_gold_models_built_another_way_are_rebuilt(tmp_path):
    from squeeze.core.rundir import write_json
    from squeeze.validate.config import ValidateConfig
    from squeeze.validate.gold import META, _is_built, gold_meta

    world_dir = generate_world(n_people=4, seed=0, forget_pct=10).write(tmp_path / "world")
    cfg = ValidateConfig(people=4)
    folder = tmp_path / "paraphrase_only"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    meta = gold_meta(cfg, "paraphrase_only", world_dir)
    assert not _is_built(folder, meta)  # no record of how it was built: a model of an older squeeze
    write_json(folder / META, meta)
    assert _is_built(folder, meta)
    assert not _is_built(folder, gold_meta(ValidateConfig(people=4, epochs=3), "paraphrase_only", world_dir))
    assert not _is_built(folder, {**meta, "construction": meta["construction"] + 1})


def test_gold_diagnoses_use_the_given_calibration(tmp_path):
    """--thresholds and --judge-config (a gold-pair calibration's files) reach every gold diagnose."""
    from squeeze.validate.config import ValidateConfig
    from squeeze.validate.run import gold_diagnose_config

    cfg = ValidateConfig(thresholds="cal/verdict.yaml", judge_config="cal/judges/embedding.yaml", cache="")
    models = {name: tmp_path / name for name in ("original", "retain", "paraphrase_only")}
    dcfg = gold_diagnose_config(cfg, "paraphrase_only", models, tmp_path / "world", tmp_path)
    assert (dcfg.thresholds, dcfg.judge.config) == ("cal/verdict.yaml", "cal/judges/embedding.yaml")
    assert dcfg.model == str(models["paraphrase_only"]) and dcfg.retain_model == str(models["retain"])
    assert gold_diagnose_config(ValidateConfig(), "retain", models, tmp_path / "world", tmp_path).judge.config == ""


def _report(counts: dict, chance: tuple[int, int] | None = None) -> dict:
    full = {v: 0 for v in ("retained", "forgotten", "spurious", "collapsed", "unjudged")} | counts
    report = {"verdicts": {"counts": full}, "judge": {"backend": "embedding"}, "thresholds": {"tau": 0.4}}
    if chance:
        report["chance_leak"] = {"k": chance[0], "n": chance[1]}
    return report


def test_targets_and_chance_adjustment_by_hand():
    entry = gold_entry("retain", _report({"forgotten": 17, "spurious": 2, "collapsed": 1}), chance=0.1)
    assert entry["n"] == 20 and sum(entry["rates"].values()) == pytest.approx(1.0)
    forgotten, spurious = entry["targets"]
    # 17/20 = 85% misses 90% but meets the chance-adjusted 90% - 10% = 80%; 2/20 = 10% misses 5%, meets 15%.
    assert (forgotten["met"], forgotten["chance_adjusted_met"]) == (False, True)
    assert (spurious["met"], spurious["chance_adjusted_met"]) == (False, True)
    assert entry["ci95"]["forgotten"][0] < 0.85 < entry["ci95"]["forgotten"][1]

    from squeeze.validate.config import ValidateConfig

    reports = {
        "retain": _report({"forgotten": 20}, chance=(1, 20)),
        "original": _report({"retained": 19, "forgotten": 1}),
        "paraphrase_only": _report({"spurious": 16, "forgotten": 4}),
        "noised": _report({"collapsed": 20}),
    }
    out = summarise(ValidateConfig(), reports, "x")
    assert out["chance_leak"] == pytest.approx(0.05) and out["all_targets_met"]
    assert set(out["gold"]) == {"retain", "original", "paraphrase_only", "noised"}
    assert out["gold"]["paraphrase_only"]["truth"] == "spurious"


@pytest.mark.slow
def test_four_gold_models_on_a_tiny_world(tmp_path, capsys):
    out = tmp_path / "validate"
    settings = [
        "people=4",
        "epochs=40",
        "hidden_size=32",
        "num_layers=2",
        "num_heads=2",
        "train_lr=0.01",
        "candidates=4",
        "answer_samples=2",
        "cache=",
        "progress=false",
    ]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert main(["validate", "--out", str(out), *settings]) == 0
    finally:
        torch.set_num_threads(threads)
    capsys.readouterr()
    validation = json.loads((out / "validation.json").read_text(encoding="utf-8"))
    md = (out / "validation.md").read_text(encoding="utf-8")
    assert "## Confusion matrix" in md and "paraphrase_only (spurious)" in md
    gold = validation["gold"]
    assert {name: entry["truth"] for name, entry in gold.items()} == {
        "retain": "forgotten",
        "original": "retained",
        "paraphrase_only": "spurious",
        "noised": "collapsed",
    }
    for entry in gold.values():
        assert entry["n"] == 10 and sum(entry["rates"].values()) == pytest.approx(1.0)
        assert set(entry["ci95"]) == set(entry["rates"])
    # By construction: noise destroys language; the original knows what the retain model never saw.
    assert gold["noised"]["rates"]["collapsed"] >= 0.9
    reports = {name: json.loads((out / "diagnose" / name / "report.json").read_text(encoding="utf-8")) for name in gold}
    assert reports["original"]["leakage"]["leak_rate"] > reports["retain"]["leakage"]["leak_rate"]
    # paraphrase_only never saw the targets' wording: they are less likely than under the original.
    drops = [i["target_logp_mean_drop"] for i in reports["paraphrase_only"]["items"]]
    assert sum(drops) / len(drops) > 0
    # The default judge scores naturalness with the retain model, which never saw the forget set.
    assert reports["retain"]["naturalness_lm"]["lm"] == "retain"
    assert reports["retain"]["naturalness_lm"]["saw_forget_set"] is False
    assert validation["chance_leak"] == reports["retain"]["chance_leak"]["rate"]


def test_fast_trains_the_small_world_longer_unless_told():
    """--fast: 20 people and 60 epochs (a fifth of the default world's steps at 20 epochs left the
    original's samples too scattered to pass the support check); an explicit setting wins."""
    from squeeze.validate.config import ValidateConfig
    from squeeze.validate.run import resolve

    fast = resolve(ValidateConfig(fast=True, device="cpu"))
    assert (fast.people, fast.epochs) == (20, 60)
    assert resolve(ValidateConfig(fast=True, epochs=5, device="cpu")).epochs == 5
    assert resolve(ValidateConfig(device="cpu")).epochs == 20

"""`squeeze attack` and `squeeze diagnose --attacks` end to end on a tiny world (issue 11):
the files they write, the retain-model baseline and its cache, the checkpoint's files left
unchanged, and forgotten items split into shallow and robust."""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path

import pytest
import torch
from helpers.diagnose_runs import train_answers
from helpers.tiny_trained import trained_world_model

from squeeze.cli.main import main
from squeeze.core.rundir import read_json, read_jsonl
from squeeze.lm.batching import collator_for
from squeeze.lm.models import save_model
from squeeze.lm.prompting import encode_qa
from squeeze.lm.tiny import build_tiny_llama

QUICK = ["--limit", "3", "--max-new-tokens", "40", "--batch-size", "8", "--no-progress"]
SETTINGS = ["sample_k=2", "relearn_steps=2", "relearn_batch_size=1", "rephrase_shots=1"]


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> dict[str, Path]:
    """A world on disk; the tiny original model; a checkpoint (the original after a few steps
    of gradient ascent (E1) on the forget targets); a retain model trained like the original
    on the retain facts only."""
    root = tmp_path_factory.mktemp("attack")
    model, tok, world, forget, retain = trained_world_model()
    world.write(root / "world")
    save_model(model, tok, root / "original")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        targets = collator_for(tok)([encode_qa(tok, r.question, r.answer) for r in forget])
        save_model(train_answers(copy.deepcopy(model), targets, 3, 0.1, -1.0, torch.optim.SGD), tok, root / "ckpt")
        torch.manual_seed(0)
        fresh = build_tiny_llama(len(tok), hidden_size=48, num_layers=2, num_heads=2, seed=1, tokenizer=tok)
        pairs = [encode_qa(tok, r.question, a) for r in retain for a in world.answer_family(r)]
        save_model(train_answers(fresh, collator_for(tok)(pairs), 150, 1e-2, 1.0), tok, root / "retain")
    finally:
        torch.set_num_threads(threads)
    return {
        "root": root,
        "world": root / "world",
        "original": root / "original",
        "ckpt": root / "ckpt",
        "retain": root / "retain",
    }


def _digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


def _run(*argv) -> int:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return main([str(a) for a in argv])
    finally:
        torch.set_num_threads(threads)


def test_attack_command_writes_rows_rates_and_a_cached_baseline(setup, tmp_path):
    s = setup
    files = _digest(s["ckpt"])
    common = [
        "attack",
        "--model",
        s["ckpt"],
        "--reference",
        s["original"],
        "--world",
        s["world"],
        "--retain-model",
        s["retain"],
        "--judge-cache",
        tmp_path / "judges.sqlite",
        "--attack-cache",
        tmp_path / "baselines",
        *QUICK,
    ]
    assert _run(*common, "--out", tmp_path / "one", *SETTINGS) == 0
    out = tmp_path / "one"
    rows = read_jsonl(out / "attacks.jsonl")
    assert {(r["model"], r["attack"]) for r in rows} == {
        (role, attack)
        for role in ("checkpoint", "retain_model")
        for attack in ("relearn", "quantize", "rephrase", "sample")
    }
    for row in rows:
        assert row["before"]["generation"] and row["attempts"]
        assert row["leak_before"] == row["leak_before_oracle"]  # the world's facts are known
        assert row["leak_after"] == any(a["leak"] for a in row["attempts"])
        assert all(a["similarity"] is not None for a in row["attempts"])  # the judge read every attempt
    sample = [r for r in rows if r["attack"] == "sample" and r["model"] == "checkpoint"]
    assert len(sample) == 3 and all(len(r["attempts"]) == 2 for r in sample)
    quantize = [r for r in rows if r["attack"] == "quantize" and r["model"] == "checkpoint"]
    assert all([a["variant"] for a in r["attempts"]] == ["8bit", "4bit"] for r in quantize)
    summary = read_json(out / "attacks.json")["summary"]
    for role in ("checkpoint", "retain_model"):
        for attack, block in summary[role].items():
            mine = [r for r in rows if r["model"] == role and r["attack"] == attack]
            clean = [r for r in mine if not r["leak_before"]]
            assert block["recovery"]["n"] == len(clean)
            assert block["recovery"]["k"] == sum(r["leak_after"] for r in clean)
            if clean:
                low, high = block["recovery"]["ci95"]
                assert low <= block["recovery"]["rate"] <= high
    assert "retain model: recovery" in (out / "attacks.md").read_text(encoding="utf-8")
    assert _digest(s["ckpt"]) == files  # the checkpoint's files are never changed

    # Again, into another folder: the retain model's results come from the cache; same seed, same rows.
    assert _run(*common, "--out", tmp_path / "two", *SETTINGS) == 0
    timings = read_json(tmp_path / "two" / "attacks.json")["timings"]
    assert all(t.get("cached") for t in timings["retain_model"].values())
    assert read_jsonl(tmp_path / "two" / "attacks.jsonl") == rows


def test_attack_command_errors_are_one_line(setup, tmp_path, capsys):
    s = setup
    argv = ["attack", "--model", s["ckpt"], "--reference", s["original"], "--world", s["world"], *QUICK]
    assert _run(*argv, "--attacks", "relearn,prune", "--out", tmp_path / "x") == 1
    assert "unknown attack(s) prune" in capsys.readouterr().err
    assert _run(*argv, "--out", tmp_path / "y", "relearn_on=holdout") == 1
    assert "relearn_on must be one of" in capsys.readouterr().err
    # Device and dtype as every model command takes them (issue 15): one line, before any model loads.
    assert _run(*argv, "--out", tmp_path / "z", "--device", "cuda:99") == 1
    err = capsys.readouterr().err
    assert "device 'cuda:99'" in err and "GPU" in err and err.count("\n") == 1
    assert _run(*argv, "--out", tmp_path / "z", "--dtype", "fp8") == 1
    assert "dtype 'fp8': expected auto, " in capsys.readouterr().err
    assert not (tmp_path / "z").exists()


def test_attack_batch_size_auto_is_searched_once_and_cached(setup, tmp_path, monkeypatch, capsys):
    import json
    import os

    monkeypatch.setenv("SQUEEZE_CACHE", str(tmp_path / "squeeze-cache"))
    s = setup
    quick = [a if a != "8" else "auto" for a in QUICK]  # --batch-size auto
    argv = ["attack", "--model", s["ckpt"], "--reference", s["original"], "--world", s["world"], *quick]
    argv += ["--attacks", "quantize", "--judge-cache", tmp_path / "judges.sqlite"]
    assert _run(*argv, "--out", tmp_path / "auto", "--progress") == 0
    assert "batch_size=auto: " in capsys.readouterr().out
    table = json.loads((Path(os.environ["SQUEEZE_CACHE"]) / "batch_sizes.json").read_text())
    [(key, size)] = table.items()
    assert "|cpu|float32|len" in key and size >= 1
    rows = read_jsonl(tmp_path / "auto" / "attacks.jsonl")
    assert len(rows) == 3 and all(r["attack"] == "quantize" and r["attempts"] for r in rows)
    assert _run(*argv[:-2], "--attacks", "quantize", "--batch-size", "0", "--out", tmp_path / "bad") == 1
    assert "expected a positive integer or auto" in capsys.readouterr().err


def test_diagnose_with_attacks_splits_forgotten_items(setup, tmp_path):
    s = setup
    out = tmp_path / "diag"
    argv = ["diagnose", "--model", s["ckpt"], "--reference", s["original"], "--world", s["world"]]
    argv += ["--retain-model", s["retain"], "--out", out, "--judge-cache", tmp_path / "judges.sqlite"]
    argv += ["--candidates", "4", "--tau", "0.5", "--n-min", "0", "--s-min", "2.5", *QUICK[:-1], "--quiet"]
    argv += ["--attacks", "quantize,sample", "--sample-k", "2", "--attack-cache", tmp_path / "baselines"]
    assert _run(*argv) == 0
    report = read_json(out / "report.json")
    assert set(report["attacks"]["summary"]["checkpoint"]) == {"quantize", "sample"}
    rows = read_jsonl(out / "attacks.jsonl")
    generations = {r["item_id"]: r["generation"] for r in read_jsonl(out / "generations.jsonl")}
    for row in rows:
        if row["model"] == "checkpoint":  # diagnose's own greedy answers are the "before"
            assert row["before"]["generation"] == generations[row["item_id"]]
    came_back = {r["item_id"] for r in rows if r["model"] == "checkpoint" and r["leak_after"]}
    for item in report["items"]:
        if item["verdict"] == "forgotten":
            assert item["extras"]["robustness"] == ("shallow" if item["item_id"] in came_back else "robust")
        else:
            assert item["extras"]["robustness"] is None
    extras = report["verdicts"]["extras"]
    n_forgotten = report["verdicts"]["counts"]["forgotten"]
    assert extras["forgotten_shallow"]["k"] + extras["forgotten_robust"]["k"] == n_forgotten
    assert extras["forgotten_robust"]["n"] == report["verdicts"]["n_judged"]
    recovery = report["attacks"]["summary"]["checkpoint"]["sample"]["recovery"]
    assert (extras["recovery_sample"]["k"], extras["recovery_sample"]["n"]) == (recovery["k"], recovery["n"])
    text = (out / "report.md").read_text(encoding="utf-8")
    assert "forgotten (robust)" in text and "Attacks: does the fact come back?" in text
    # The leaderboard shows the robust share and one column per attack that ran.
    assert _run("leaderboard", out, "--out", tmp_path / "board") == 0
    board = (tmp_path / "board" / "leaderboard.csv").read_text(encoding="utf-8")
    header, row = board.splitlines()[:2]
    values = dict(zip(header.split(","), row.split(","), strict=False))
    expected = report["attacks"]["summary"]["checkpoint"]["quantize"]["recovery"]["rate"]
    assert (float(values["recovery_quantize"]) if values["recovery_quantize"] else None) == pytest.approx(expected)
    assert values["recovery_relearn"] == ""  # not run
    assert "forgotten (robust)" in (tmp_path / "board" / "leaderboard.md").read_text(encoding="utf-8")
    json.dumps(report)  # the report stays JSON

"""The likelihood binner (DESIGN section 7) and `squeeze bins`."""

from __future__ import annotations

import json
import random

import pytest

from squeeze.bins.binner import (
    BinnerSettings,
    bin_sizes,
    build_bins,
    escape_route_report,
    make_item_bins,
    normalise,
    rank_candidates,
)
from squeeze.cli.main import main
from squeeze.core.data import write_qa
from squeeze.core.types import Candidate, Fact, ItemBins, QARecord
from squeeze.lm.batching import collator_for
from squeeze.lm.logprobs import score_pairs
from squeeze.lm.models import save_model
from squeeze.lm.prompting import encode_prompt


def cand(text: str, logps: list[float], ids: list[int] | None = None) -> Candidate:
    return Candidate(text=text, token_ids=ids or list(range(len(logps))), token_logprobs=logps)


@pytest.mark.parametrize(
    "n,expected",
    [
        (0, (0, 0, 0)),
        (1, (1, 0, 0)),
        (2, (1, 0, 1)),
        (3, (1, 1, 1)),
        (5, (1, 2, 2)),
        (10, (2, 4, 4)),
        (19, (4, 7, 8)),
        (20, (4, 8, 8)),
    ],
)
def test_bin_sizes_cut_at_20_and_60_percent(n, expected):
    assert bin_sizes(n) == expected


def test_normalise_ignores_case_and_whitespace_only():
    assert normalise("  Ada  was born in\nLyon .") == normalise("ada was born in lyon.")
    assert normalise("Ada was born in Lyon.") != normalise("Ada was born in Lyons.")


def test_ranking_drops_target_duplicates_and_empty_answers():
    cands = [
        cand("Lyon is where Ada was born.", [-1.0, -1.0]),  # sum -2, mean -1
        cand("ada was born in LYON .", [-0.1]),  # the target, other case/spacing
        cand("Lyon is  where Ada was born .", [-0.5, -0.5, -0.5]),  # duplicate with a better score: kept
        cand("", [-0.01]),  # empty answer
        cand("Ada came from Lyon.", [-3.0]),  # sum -3, mean -3
        cand("Ada was born in Porto.", [-0.4] * 6),  # sum -2.4, mean -0.4
    ]
    ranked = rank_candidates(cands, "Ada was born in Lyon.", [7, 8, 3])
    assert [c.text for c in ranked] == [
        "Lyon is  where Ada was born .",
        "Ada was born in Porto.",
        "Ada came from Lyon.",
    ]
    by_mean = rank_candidates(cands, "Ada was born in Lyon.", [7, 8, 3], score="mean")
    assert [c.text for c in by_mean] == [
        "Ada was born in Porto.",
        "Lyon is  where Ada was born .",
        "Ada came from Lyon.",
    ]
    # The target's token ids (with or without EOS) are dropped whatever their text.
    same_ids = cand("something else", [-0.2, -0.2], ids=[7, 8])
    assert rank_candidates([same_ids], "Ada was born in Lyon.", [7, 8, 3]) == []


def test_ranking_is_independent_of_input_order():
    cands = [cand(f"answer {i}", [-(i % 3) * 1.0]) for i in range(12)]  # many exact ties
    first = [c.text for c in rank_candidates(cands, "target", [99])]
    for seed in range(5):
        shuffled = cands[:]
        random.Random(seed).shuffle(shuffled)
        assert [c.text for c in rank_candidates(shuffled, "target", [99])] == first


def test_make_item_bins_cuts_by_rank():
    record = QARecord(id="x", question="q?", answer="target")
    cands = [cand(f"answer {i}", [-float(i)]) for i in range(10)]
    item = make_item_bins(record, [1, 2, 3], -0.5, cands)
    assert [c.bin for c in item.candidates] == ["high"] * 2 + ["mid"] * 4 + ["low"] * 4
    assert [c.text for c in item.candidates] == [f"answer {i}" for i in range(10)]
    assert item.in_bin("high")[0].logp_sum == 0.0 and item.target_logp_sum == -0.5
    assert ItemBins.from_dict(json.loads(json.dumps(item.to_dict()))) == item


def test_escape_route_report_counts_by_hand():
    fact = Fact(subject="Ada", relation="birthplace", value="Lyon", aliases=["the city of Lyon"])
    records = [
        QARecord(id="a", question="q", answer="Ada was born in Lyon.", fact=fact),
        QARecord(id="b", question="q", answer="Ada was born in Lyon.", fact=fact),
        QARecord(id="c", question="q", answer="no fact here"),
    ]
    bins = [
        make_item_bins(
            records[0],
            [1],
            -1.0,
            [
                cand("Lyon is where Ada was born.", [-1.0]),
                cand("Ada lived in the city of lyon.", [-2.0]),
                cand("Ada was born in Porto.", [-3.0]),
            ],
        ),
        make_item_bins(
            records[1],
            [1],
            -1.0,
            [
                cand("Ada was born in Porto.", [-1.0]),
                cand("Lyon is where Ada was born.", [-2.0]),
                cand("Ada was born in Rome.", [-3.0]),
            ],
        ),
        make_item_bins(records[2], [1], -1.0, [cand("Lyon", [-1.0])]),
    ]
    families = {
        "a": ["Ada was born in Lyon.", "Lyon is where Ada was born."],
        "b": ["Ada was born in Lyon.", "Lyon is where Ada was born."],
    }
    report = escape_route_report(bins, records, families)
    assert report["n_items"] == 2  # the item without a fact does not count
    assert report["high"] == {
        "items_with_value": 0.5,
        "candidates_with_value": 0.5,
        "mean_candidates": 1.0,
        "items_with_sibling": 0.5,
    }
    assert report["mid"] == {
        "items_with_value": 1.0,
        "candidates_with_value": 1.0,
        "mean_candidates": 1.0,
        "items_with_sibling": 0.5,
    }
    assert report["low"]["items_with_value"] == 0.0 and report["low"]["items_with_sibling"] == 0.0


def test_bins_of_a_trained_model(trained_world):
    model, tokenizer, world, forget, _ = trained_world
    settings = BinnerSettings(n_candidates=8, max_new_tokens=20)
    bins = build_bins(model, tokenizer, forget, settings, progress=False)
    assert [b.item_id for b in bins] == [r.id for r in forget]
    for item, record in zip(bins, forget, strict=False):
        texts = [normalise(c.text) for c in item.candidates]
        assert normalise(record.answer) not in texts and len(set(texts)) == len(texts)
        assert 0 < len(item.candidates) <= 8
        scores = [c.logp_sum for c in item.candidates]
        assert scores == sorted(scores, reverse=True)
        # The stored scores are pi_0's teacher-forced sequence log-probs.
        prompt = encode_prompt(tokenizer, record.question)
        pairs = [(prompt, c.token_ids) for c in item.candidates]
        pairs.append((prompt, item.target_token_ids))
        forced = score_pairs(model, pairs, collator_for(tokenizer)).logp_sum.tolist()
        assert forced[:-1] == pytest.approx(scores, abs=1e-4)
        assert forced[-1] == pytest.approx(item.target_logp_sum, abs=1e-4)
    # The model learned every template, so its high bin holds the siblings: the escape routes.
    report = escape_route_report(bins, forget, {r.id: world.answer_family(r) for r in forget})
    assert report["high"]["items_with_sibling"] == 1.0
    assert report["high"]["candidates_with_value"] >= report["low"]["candidates_with_value"]
    # Same model, data and settings: the same bins.
    again = build_bins(model, tokenizer, forget, settings, progress=False)
    assert [b.to_dict() for b in again] == [b.to_dict() for b in bins]


def test_samples_add_candidates_and_are_seeded(trained_world):
    model, tokenizer, _, forget, _ = trained_world
    settings = BinnerSettings(n_candidates=3, n_samples=6, max_new_tokens=12, seed=5)
    a = build_bins(model, tokenizer, forget[:2], settings, progress=False)
    b = build_bins(model, tokenizer, forget[:2], settings, progress=False)
    assert [x.to_dict() for x in a] == [x.to_dict() for x in b]
    beams_only = build_bins(
        model, tokenizer, forget[:2], BinnerSettings(n_candidates=3, max_new_tokens=12), progress=False
    )
    assert sum(len(x.candidates) for x in a) >= sum(len(x.candidates) for x in beams_only)


def test_settings_are_checked():
    with pytest.raises(ValueError, match="n_candidates"):
        BinnerSettings(n_candidates=0).check()
    with pytest.raises(ValueError, match="score"):
        BinnerSettings(score="max").check()


def test_cli_writes_reuses_and_reports(trained_world, tmp_path, capsys):
    model, tokenizer, world, forget, _ = trained_world
    save_model(model, tokenizer, tmp_path / "original")
    world.write(tmp_path / "world")
    run = tmp_path / "run"
    args = [
        "bins",
        "--model",
        str(tmp_path / "original"),
        "--forget",
        str(tmp_path / "world"),
        "--out",
        str(run),
        "--candidates",
        "5",
        "--max-new-tokens",
        "16",
        "--limit",
        "2",
    ]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "escape routes over 2 items" in out and "high:" in out
    first = (run / "bins.jsonl").read_bytes()
    assert len(first.splitlines()) == 2
    meta = json.loads((run / "bins_meta.json").read_text())
    assert meta["settings"]["n_candidates"] == 5 and meta["limit"] == 2
    stamp = (run / "bins.jsonl").stat().st_mtime_ns
    assert main(args) == 0
    assert "reusing" in capsys.readouterr().out
    assert (run / "bins.jsonl").stat().st_mtime_ns == stamp
    # Other settings recompute; a QA file works as the forget set too.
    write_qa(tmp_path / "forget.jsonl", forget[:2])
    args2 = [
        "bins",
        "--model",
        str(tmp_path / "original"),
        "--forget",
        str(tmp_path / "forget.jsonl"),
        "--out",
        str(run),
        "--candidates",
        "4",
        "--max-new-tokens",
        "16",
    ]
    assert main(args2) == 0
    assert "reusing" not in capsys.readouterr().out
    assert json.loads((run / "bins_meta.json").read_text())["settings"]["n_candidates"] == 4


def test_cli_batch_size_auto_is_found_once_cached_and_recorded(trained_world, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("SQUEEZE_CACHE", str(tmp_path / "squeeze-cache"))
    model, tokenizer, world, _, _ = trained_world
    save_model(model, tokenizer, tmp_path / "original")
    world.write(tmp_path / "world")
    args = ["bins", "--model", str(tmp_path / "original"), "--forget", str(tmp_path / "world")]
    args += ["--out", str(tmp_path / "run"), "--candidates", "4", "--max-new-tokens", "8", "--limit", "2"]
    assert main([*args, "--batch-size", "auto"]) == 0
    out = capsys.readouterr().out
    found = int(out.split("batch_size=auto: ")[1].split()[0])
    table = json.loads((tmp_path / "squeeze-cache" / "batch_sizes.json").read_text())
    [(key, rows)] = table.items()
    # The search counts rows (prompt + candidate); each question takes `candidates` beams of them.
    assert "|cpu|float32|len" in key and found == max(1, rows // 4)
    assert json.loads((tmp_path / "run" / "bins_meta.json").read_text())["settings"]["batch_size"] == found
    # Auto again (from the cache) and the number it found are the same settings: the bins are reused.
    assert main([*args, "--batch-size", "auto"]) == 0
    assert "reusing" in capsys.readouterr().out
    assert main([*args, "--batch-size", str(found)]) == 0
    assert "reusing" in capsys.readouterr().out
    assert main([*args, "--batch-size", "none"]) == 1
    assert "expected a positive integer or auto" in capsys.readouterr().err


def test_cli_rejects_bad_input(tmp_path, capsys):
    assert main(["bins", "--model", str(tmp_path / "nope"), "--forget", "x.jsonl", "--out", str(tmp_path / "r")]) == 1
    assert "no original model" in capsys.readouterr().err

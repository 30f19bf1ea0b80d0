"""The dynamics tracker (DESIGN section 8) as a real trainer hook on a tiny trained model."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest
import torch

from squeeze.bins.binner import BinnerSettings, build_bins
from squeeze.core.errors import ConfigError
from squeeze.core.rundir import write_jsonl
from squeeze.lm.batching import collator_for
from squeeze.lm.logprobs import score_pairs
from squeeze.lm.models import save_model
from squeeze.lm.prompting import encode_answer, encode_prompt
from squeeze.lm.tiny import tiny_model_and_tokenizer
from squeeze.lm.tree_scoring import flat_token_logprobs, prefix_tree, tree_token_logprobs
from squeeze.track.tracker import Tracker, load_bins, tracker_for_run, tracker_for_trainer
from squeeze.unlearn.config import UnlearnConfig
from squeeze.unlearn.trainer import run_unlearning


@pytest.fixture(scope="module")
def bins(trained_world):
    model, tokenizer, _, forget, _ = trained_world
    return build_bins(model, tokenizer, forget, BinnerSettings(n_candidates=6, max_new_tokens=16), progress=False)


def test_packed_scoring_equals_one_sequence_at_a_time():
    corpus = ["Question: Where was Ada Vell born, and when?\nAnswer: Ada Vell was born in Lyon in 1950 . Lyon is where"]
    model, tok = tiny_model_and_tokenizer(corpus, hidden_size=32, num_layers=2, num_heads=2, seed=1)
    model.eval()
    long_prompt, short_prompt = encode_prompt(tok, "Where was Ada Vell born, and when?"), encode_prompt(tok, "Where?")
    shared = [
        encode_answer(tok, a)
        for a in [
            "Ada Vell was born in Lyon .",
            "Ada Vell was born in 1950 .",
            "Ada Vell was",
            "Lyon is where Ada Vell was born .",
            "Ada Vell was",
        ]
    ]
    other = [encode_answer(tok, a) for a in ["Lyon .", "1950"]] + [[tok.eos_token_id]]
    items = [(long_prompt, shared), (short_prompt, other)]
    with torch.no_grad():
        packed = tree_token_logprobs(model, items, tok.pad_token_id)
        for (prompt, seqs), got in zip(items, packed, strict=False):
            want = flat_token_logprobs(model, prompt, seqs, tok.pad_token_id)
            assert [len(x) for x in got] == [len(s) for s in seqs]
            for g, w in zip(got, want, strict=False):
                assert g == pytest.approx(w, abs=1e-5)


def test_rows_are_teacher_forced_logprobs_with_value_tokens(trained_world, bins, tmp_path):
    model, tokenizer, _, forget, _ = trained_world
    tracker = Tracker(tmp_path, tokenizer, bins, track_every=1, forget=forget, make_figures=False)
    rows = tracker.score(model, step=0)
    assert list(rows["step"].unique()) == [0]
    for item, record in zip(bins, forget, strict=False):
        mine = rows[rows["item_id"] == item.item_id]
        assert mine["group"].tolist() == ["target"] + [c.bin for c in item.candidates]
        assert mine["candidate"].tolist() == [-1] + list(range(len(item.candidates)))
        prompt = encode_prompt(tokenizer, record.question)
        seqs = [item.target_token_ids] + [c.token_ids for c in item.candidates]
        forced = score_pairs(model, [(prompt, s) for s in seqs], collator_for(tokenizer))
        assert mine["logp_sum"].tolist() == pytest.approx(forced.logp_sum.tolist(), abs=1e-4)
        assert mine["n_tokens"].tolist() == forced.n_tokens.tolist()
        # The value's token inside the target: its own teacher-forced log-prob.
        value_id = tokenizer(" " + record.fact.value, add_special_tokens=False)["input_ids"]
        at = next(i for i in range(len(seqs[0])) if seqs[0][i : i + len(value_id)] == value_id)
        per_token = flat_token_logprobs(model, prompt, [seqs[0]], tokenizer.pad_token_id)[0]
        target_row = mine.iloc[0]
        assert target_row["value_logp"] == pytest.approx(sum(per_token[at : at + len(value_id)]), abs=1e-4)
        for text, value in zip([c.text for c in item.candidates], mine["value_logp"].iloc[1:], strict=False):
            assert math.isnan(value) == (record.fact.value.lower() not in text.lower())


def test_scoring_restores_mode_and_builds_no_graph(trained_world, bins, tmp_path):
    model, tokenizer, _, _, _ = trained_world
    tracker = Tracker(tmp_path, tokenizer, bins, track_every=1, make_figures=False)
    model.zero_grad(set_to_none=True)
    for training in (True, False):
        model.train(training)
        tracker.score(model, step=0)
        assert model.training is training
    model.eval()
    assert all(p.grad is None for p in model.parameters())
    assert torch.is_grad_enabled()


def unlearn_config(root, out, **kw) -> UnlearnConfig:
    base = dict(
        method="ga",
        original=str(root / "original"),
        world=str(root / "world"),
        out=str(out),
        lr=3e-3,
        steps=4,
        forget_batch_size=2,
        track_every=2,
        device="cpu",
    )
    return UnlearnConfig(**{**base, **kw})


@pytest.fixture(scope="module")
def unlearn_inputs(trained_world, tmp_path_factory):
    model, tokenizer, world, _, _ = trained_world
    root = tmp_path_factory.mktemp("tracker_run")
    save_model(model, tokenizer, root / "original")
    world.write(root / "world")
    forget, retain = world.splits["forget"][:4], world.splits["retain"][:3]
    bins = build_bins(
        model, tokenizer, world.splits["forget"], BinnerSettings(n_candidates=4, max_new_tokens=12), progress=False
    )
    return root, bins, forget, retain


def test_tracked_run_writes_table_summary_and_figures(trained_world, unlearn_inputs, tmp_path):
    _, tokenizer, _, _, _ = trained_world
    root, bins, forget, retain = unlearn_inputs
    out = tmp_path / "ga"
    tracker = Tracker(out, tokenizer, bins, track_every=2, forget=forget, retain=retain, batch_size=16)
    run_unlearning(unlearn_config(root, out), hooks=[tracker])
    table = pd.read_parquet(out / "dynamics.parquet")
    assert sorted(table["step"].unique()) == [0, 2, 4]
    per_step = sum(1 + len(b.candidates) for b in bins)
    assert table.groupby("step").size().tolist() == [per_step] * 3
    assert not table.duplicated(["step", "item_id", "candidate"]).any()
    assert set(table["group"]) <= {"target", "high", "mid", "low"}
    # GA lowers the target's log-prob.
    target = table[table["group"] == "target"].pivot(index="item_id", columns="step", values="logp_sum")
    assert (target[4] < target[0]).mean() > 0.5
    probes = pd.read_parquet(out / "probes.parquet")
    assert probes.groupby("probe")["step"].apply(lambda s: sorted(set(s))).to_dict() == {
        "forget_greedy_leak": [0, 2, 4],
        "retain_greedy_correct": [0, 2, 4],
        "retain_logp_sum": [0, 2, 4],
    }
    summary = json.loads((out / "dynamics_summary.json").read_text())
    assert summary["n_items"] == len(bins) and summary["steps"] == [0, 2, 4]
    assert set(summary["leak"]) >= {"greedy_rate", "top5_rate"} and summary["leak"]["n_items"] == len(forget)
    assert summary["mean"]["squeeze_peak"] >= 0
    for name in ("dynamics.png", "matched_forgetting.png", "retain_vs_drop.png"):
        assert (out / "figures" / name).stat().st_size > 10_000


class Kill:
    """A hook that stops the run at a given step, after the tracker has written that step."""

    def __init__(self, at: int | None):
        self.at = at

    def on_step(self, step, model, trainer):
        if step == self.at:
            raise RuntimeError("killed")

    def on_end(self, model, trainer):
        pass

    def state_dict(self):
        return {}

    def load_state_dict(self, state):
        pass


@pytest.mark.slow  # three tracked training runs
def test_resumed_run_has_every_step_once_and_same_values(trained_world, unlearn_inputs, tmp_path):
    _, tokenizer, _, _, _ = trained_world
    root, bins, forget, _ = unlearn_inputs
    common = dict(track_every=1, checkpoint_every=2, steps=5)
    whole = tmp_path / "whole"
    run_unlearning(
        unlearn_config(root, whole, **common),
        hooks=[Tracker(whole, tokenizer, bins, 1, make_figures=False, final_leaks=False), Kill(None)],
    )
    cut = tmp_path / "cut"
    first = Tracker(cut, tokenizer, bins, 1, make_figures=False, final_leaks=False, flush_seconds=0)
    with pytest.raises(RuntimeError, match="killed"):
        run_unlearning(unlearn_config(root, cut, **common), hooks=[first, Kill(3)])
    assert sorted(pd.read_parquet(cut / "dynamics.parquet")["step"].unique()) == [
        0,
        1,
        2,
        3,
    ]  # step 3 is past the checkpoint
    second = Tracker(cut, tokenizer, bins, 1, make_figures=False, final_leaks=False)
    run_unlearning(unlearn_config(root, cut, **common), hooks=[second, Kill(None)], resume=True)
    a, b = pd.read_parquet(whole / "dynamics.parquet"), pd.read_parquet(cut / "dynamics.parquet")
    assert not b.duplicated(["step", "item_id", "candidate"]).any()
    assert b["step"].tolist() == a["step"].tolist() and sorted(b["step"].unique()) == [0, 1, 2, 3, 4, 5]
    assert b["logp_sum"].tolist() == pytest.approx(a["logp_sum"].tolist(), abs=1e-4)


def test_checkpoint_of_other_bins_is_refused(trained_world, bins, tmp_path):
    _, tokenizer, _, _, _ = trained_world
    tracker = Tracker(tmp_path, tokenizer, bins, 1)
    state = tracker.state_dict()
    other = Tracker(tmp_path, tokenizer, bins[:1], 1)
    with pytest.raises(ConfigError, match="other bins"):
        other.load_state_dict(state)


def test_tracker_for_run_needs_bins_file(trained_world, bins, tmp_path):
    _, tokenizer, _, _, _ = trained_world
    assert tracker_for_run(tmp_path, tokenizer, 10) is None
    write_jsonl(tmp_path / "bins.jsonl", [b.to_dict() for b in bins])
    assert load_bins(tmp_path / "bins.jsonl") == bins
    tracker = tracker_for_run(tmp_path, tokenizer, 10)
    assert isinstance(tracker, Tracker) and len(tracker.items) == len(bins)


def test_prefix_tree_shares_prefixes():
    tokens, parents, paths = prefix_tree([[1, 2, 3], [1, 2, 4], [5], [1, 2, 3], []])
    assert tokens == [1, 2, 3, 4, 5]
    assert parents == [-1, 0, 1, 1, -1]
    assert paths == [[0, 1, 2], [0, 1, 3], [4], [0, 1, 2], []]


def test_plain_scoring_gives_the_same_rows(trained_world, bins, tmp_path):
    model, tokenizer, _, forget, _ = trained_world
    packed = Tracker(tmp_path, tokenizer, bins, 1, forget=forget, batch_size=7).score(model, 3)
    plain = Tracker(tmp_path, tokenizer, bins, 1, forget=forget, packed=False).score(model, 3)
    assert packed[["item_id", "group", "candidate", "n_tokens"]].equals(
        plain[["item_id", "group", "candidate", "n_tokens"]]
    )
    assert packed["logp_sum"].tolist() == pytest.approx(plain["logp_sum"].tolist(), abs=1e-4)
    assert packed["value_logp"].isna().tolist() == plain["value_logp"].isna().tolist()
    assert packed["value_logp"].dropna().tolist() == pytest.approx(plain["value_logp"].dropna().tolist(), abs=1e-4)


def test_tracker_for_trainer_is_on_when_the_run_has_bins(trained_world, unlearn_inputs, tmp_path, monkeypatch):
    """The tracker reuses what the trainer holds: its tokenizer and its records, nothing reloaded."""
    from squeeze.unlearn.trainer import Trainer

    root, bins, _, _ = unlearn_inputs
    cfg = unlearn_config(root, tmp_path / "run")
    trainer = Trainer(cfg)
    assert tracker_for_trainer(trainer) is None
    write_jsonl(tmp_path / "run" / "bins.jsonl", [b.to_dict() for b in bins])

    def no_reload(*args, **kwargs):
        raise AssertionError("the tracker loaded something the trainer already holds")

    for name in (
        "squeeze.lm.models.load_tokenizer",
        "squeeze.unlearn.data.load_sets",
        "squeeze.world.build.load_world",
    ):
        monkeypatch.setattr(name, no_reload)
    tracker = tracker_for_trainer(trainer)
    assert tracker.track_every == cfg.track_every and len(tracker.items) == len(bins)
    assert len(tracker.forget) == len(bins) and 0 < len(tracker.retain) <= 32
    assert tracker.tokenizer is trainer.tokenizer
    assert all(any(r is t for t in trainer.forget_set) for r in tracker.forget)
    (tmp_path / "run" / "bins_meta.json").write_text(json.dumps({"model_fingerprint": "another model"}))
    with pytest.warns(UserWarning, match="another model"):
        tracker_for_trainer(trainer)


def test_bin_scorer_is_the_trackers_and_diagnose_builds_no_tracker(trained_world, bins, tmp_path):
    """One pure scorer (model, tokenizer, bins) serves the tracker and diagnose."""
    import ast

    import squeeze.diagnose.pipeline as pipeline
    from squeeze.track.scoring import score_bins

    model, tokenizer, _, forget, _ = trained_world
    facts = {r.id: r.fact for r in forget}
    by_tracker = Tracker(tmp_path, tokenizer, bins, 1, forget=forget, make_figures=False).score(model, 2)
    assert score_bins(model, tokenizer, bins, step=2, facts=facts).equals(by_tracker)
    assert not list(tmp_path.iterdir())  # scoring writes nothing
    names = {n.id for n in ast.walk(ast.parse(Path(pipeline.__file__).read_text())) if isinstance(n, ast.Name)}
    assert "Tracker" not in names


def test_end_of_run_greedy_leak_reuses_the_last_probe_only_when_it_saw_the_final_model(
    trained_world, bins, tmp_path, monkeypatch
):
    import squeeze.lm.generation as generation
    from squeeze.track.stats import leak_rates

    model, tokenizer, _, forget, _ = trained_world
    fresh = leak_rates(model, tokenizer, forget, max_new_tokens=32, batch_size=16)
    modes = []
    real = generation.generate_answers

    def counting(*args, **kwargs):
        modes.append(kwargs["mode"])
        return real(*args, **kwargs)

    monkeypatch.setattr(generation, "generate_answers", counting)
    probed = Tracker(tmp_path / "a", tokenizer, bins, 1, forget=forget, batch_size=16, make_figures=False)
    probed.on_step(0, model)
    modes.clear()
    assert probed.write_summary(model)["leak"] == fresh
    assert modes == ["beam"]  # the greedy answers came from the probe at the final step
    # a later step without a probe: the probe's answers are of an older model, so they are generated again
    stale = Tracker(tmp_path / "b", tokenizer, bins, 1, forget=forget, batch_size=16, probe_every=2, make_figures=False)
    stale.on_step(0, model)
    stale.on_step(1, model)
    modes.clear()
    assert stale.write_summary(model)["leak"] == fresh
    assert modes == ["greedy", "beam"]

"""The unlearning trainer (DESIGN section 6) on a tiny real Llama and hand-written QA files."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from helpers.trainer_runs import config, log_rows, make_inputs, weights
from safetensors.torch import load_file

from squeeze.cli.main import main
from squeeze.core.errors import ConfigError, TrainingDiverged
from squeeze.lm.batching import collator_for
from squeeze.lm.logprobs import score_pairs
from squeeze.lm.models import load_model, load_tokenizer, save_model
from squeeze.lm.prompting import encode_qa
from squeeze.lm.tiny import tiny_model_and_tokenizer
from squeeze.unlearn.checkpoint import latest_checkpoint
from squeeze.unlearn.config import load_unlearn_config
from squeeze.unlearn.trainer import Trainer, run_unlearning

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict:
    return make_inputs(tmp_path_factory.mktemp("trainer_inputs"))


class RecordingHook:
    """A real hook: remembers when it ran; its state travels through checkpoints."""

    def __init__(self, poison_at: int | None = None):
        self.calls: list[int] = []
        self.ended = 0
        self.poison_at = poison_at

    def on_step(self, step, model, trainer):
        self.calls.append(step)
        if step == self.poison_at:  # a fault from outside: the weights turn to NaN
            with torch.no_grad():
                next(model.parameters()).fill_(float("nan"))

    def on_end(self, model, trainer):
        self.ended += 1

    def state_dict(self):
        return {"calls": list(self.calls)}

    def load_state_dict(self, state):
        self.calls = list(state["calls"])


def test_ga_run_writes_config_loss_log_and_model(inputs, tmp_path):
    hook = RecordingHook()
    cfg = config(inputs, tmp_path / "ga", "ga", "steps=4", "track_every=3")
    run = run_unlearning(cfg, hooks=[hook])
    resolved = (run / "config.yaml").read_text()
    assert "method: ga" in resolved and "gamma: 1.0" in resolved and "alpha: 0.0" in resolved
    rows = log_rows(run)
    assert [r["step"] for r in rows] == [1, 2, 3, 4]
    assert set(rows[0]) == {"step", "loss", "forget", "retain", "lr"}
    # GA raises the forget CE: L_forget = -CE falls step after step (E1).
    assert all(b["forget"] < a["forget"] for a, b in zip(rows, rows[1:], strict=False))
    assert hook.calls == [0, 3, 4] and hook.ended == 1  # step 0, every track_every, and the last
    original = weights(Path(inputs["original"]) / "original")
    unlearned = weights(run / "model")
    assert set(original) == set(unlearned)
    assert any(not torch.equal(original[k], unlearned[k]) for k in original)
    load_model(run / "model")  # a loadable Hugging Face folder


def test_grad_accum_1x8_equals_8x1(inputs, tmp_path):
    """Effective batch 8: one micro-batch of 8, or eight of 1 with accumulation (graddiff: both terms)."""
    a = run_unlearning(
        config(inputs, tmp_path / "a", "graddiff", "forget_batch_size=8", "retain_batch_size=8", "grad_accum=1")
    )
    b = run_unlearning(
        config(inputs, tmp_path / "b", "graddiff", "forget_batch_size=1", "retain_batch_size=1", "grad_accum=8")
    )
    for ra, rb in zip(log_rows(a), log_rows(b), strict=False):
        assert ra["forget"] == pytest.approx(rb["forget"], abs=1e-5)
        assert ra["retain"] == pytest.approx(rb["retain"], abs=1e-5)
    wa, wb = weights(a / "model"), weights(b / "model")
    assert max(float((wa[k] - wb[k]).abs().max()) for k in wa) < 1e-5


def test_schedule_warmup_then_linear_decay(inputs, tmp_path):
    run = run_unlearning(config(inputs, tmp_path / "s", "ga", "steps=6", "warmup_steps=2", "schedule=linear", "lr=0.1"))
    lrs = [r["lr"] for r in log_rows(run)]
    assert lrs == pytest.approx([0.05, 0.1, 0.1, 0.075, 0.05, 0.025])


def test_npo_reference_logprobs_computed_once_and_stored(inputs, tmp_path):
    trainer = Trainer(config(inputs, tmp_path / "npo", "npo", "steps=1", "forget_batch_size=8"))
    assert trainer.frozen is None  # no reference model in memory (E3)
    run = trainer.train()
    stored = json.loads((run / "reference_logprobs.json").read_text())["forget"]
    model = load_model(Path(inputs["original"]) / "original")
    tokenizer = load_tokenizer(Path(inputs["original"]) / "original")
    records = [json.loads(line) for line in Path(inputs["forget"]).read_text().splitlines()]
    pairs = [encode_qa(tokenizer, r["question"], r["answer"]) for r in records]
    expected = score_pairs(model, pairs, collator_for(tokenizer)).logp_sum
    assert [stored[r["id"]] for r in records] == pytest.approx(expected.tolist(), abs=1e-6)
    # At step 1 the model is the reference: NPO's loss is (2/beta) log 2 (E3), only if the
    # stored log-probs were looked up for the right items.
    assert log_rows(run)[0]["forget"] == pytest.approx(2 / 0.1 * math.log(2), rel=1e-5)


def test_kl_retain_and_rmu_hold_a_frozen_copy(inputs, tmp_path):
    kl = Trainer(config(inputs, tmp_path / "kl", "graddiff", "retain_loss=kl", "steps=2"))
    assert kl.frozen is not None
    assert log_rows(kl.train())[0]["retain"] == pytest.approx(0.0, abs=1e-6)  # KL(pi_0 || pi_0) = 0
    rmu = Trainer(config(inputs, tmp_path / "rmu", "rmu", "steps=2"))
    assert rmu.frozen is not None and rmu.layer == 0  # two layers: -1 resolves to the middle, layer 0
    rows = log_rows(rmu.train())
    assert rows[0]["retain"] == pytest.approx(0.0, abs=1e-8) and rows[1]["retain"] > 0
    assert Trainer(config(inputs, tmp_path / "g", "graddiff")).frozen is None


def test_bs_s_off_policy_samples_and_micro_batches(inputs, tmp_path):
    """(E8) samples drawn once, copies of the target dropped, the augmented set run in
    micro-batches of aug_micro_batch (memory does not grow with N), and micro-batching exact."""
    common = ("method.n_samples=4", "method.base=npo", "forget_batch_size=4", "steps=2", "lr=1e-3")
    trainer = Trainer(config(inputs, tmp_path / "m1", "bs_s", *common, "method.aug_micro_batch=1"))
    rows_seen: list[int] = []
    model = trainer.accelerator.unwrap_model(trainer.model)

    def record(module, args, kwargs):  # training forwards only (sampling and scoring run in eval mode)
        if module.training:
            rows_seen.append(kwargs["input_ids"].shape[0])

    handle = model.register_forward_pre_hook(record, with_kwargs=True)
    run = trainer.train()
    handle.remove()
    samples = [json.loads(line) for line in (run / "bs_s_samples.jsonl").read_text().splitlines()]
    targets = {
        json.loads(line)["id"]: json.loads(line)["answer"] for line in Path(inputs["forget"]).read_text().splitlines()
    }
    assert samples and all(s["text"].lower().split() != targets[s["item_id"]].lower().split() for s in samples)
    assert all(sum(s["item_id"] == i for s in samples) <= 4 for i in targets)
    assert all(isinstance(s["ref_logp"], float) for s in samples)  # NPO base: logp_0 of each sample, stored
    assert trainer.frozen is None  # off-policy: the samples' logp_0 came from the untouched model
    n_aug = len(rows_seen) - 2  # two steps, one forget batch each
    assert rows_seen.count(4) == 2 and rows_seen.count(1) == n_aug > 2  # augmented: micro-batches of 1
    big = run_unlearning(config(inputs, tmp_path / "m64", "bs_s", *common, "method.aug_micro_batch=64"))
    assert [r["loss"] for r in log_rows(big)] == pytest.approx([r["loss"] for r in log_rows(run)], abs=1e-5)
    w1, w64 = weights(run / "model"), weights(big / "model")
    assert max(float((w1[k] - w64[k]).abs().max()) for k in w1) < 1e-5


def test_bs_s_on_policy_resume_after_crash_matches_uninterrupted(inputs, tmp_path):
    """On-policy BS-S resamples every 3 steps; a run that dies at step 5 and resumes from its
    step-4 checkpoint (samples, samplers, optimizer, scheduler, hooks) ends where the
    uninterrupted one does. NPO base on-policy keeps a frozen copy to score new samples."""
    extra = (
        "method.policy=on",
        "method.resample_every=3",
        "method.base=npo",
        "method.n_samples=2",
        "steps=6",
        "checkpoint_every=2",
        "track_every=1",
        "lr=1e-3",
        "warmup_steps=2",
        "schedule=linear",
    )
    straight = run_unlearning(config(inputs, tmp_path / "straight", "bs_s", *extra), hooks=[RecordingHook()])

    class Crash(RecordingHook):
        def on_step(self, step, model, trainer):
            super().on_step(step, model, trainer)
            if step == 5:
                raise RuntimeError("killed")

    cfg = config(inputs, tmp_path / "crashed", "bs_s", *extra)
    with pytest.raises(RuntimeError, match="killed"):
        run_unlearning(cfg, hooks=[Crash()])
    assert latest_checkpoint(tmp_path / "crashed" / "checkpoint").name == "step-000004"
    hook = RecordingHook()
    trainer = Trainer(cfg, hooks=[hook], resume=True)
    assert trainer.frozen is not None
    resumed = trainer.train()
    assert hook.calls == [0, 1, 2, 3, 4, 5, 6]  # restored from the checkpoint, then continued
    assert log_rows(resumed) == log_rows(straight)
    ws, wr = weights(straight / "model"), weights(resumed / "model")
    assert max(float((ws[k] - wr[k]).abs().max()) for k in ws) <= 1e-6


def test_half_written_checkpoint_is_never_taken(inputs, tmp_path):
    run = run_unlearning(config(inputs, tmp_path / "r", "ga", "steps=4", "checkpoint_every=2"))
    ckpt = run / "checkpoint"
    assert [p.name for p in ckpt.iterdir()] == ["step-000004"]  # older ones removed once a newer is complete
    good = ckpt / "step-000004"
    # A later checkpoint cut off before its marker, and a temp folder of a killed write.
    partial = ckpt / "step-000006"
    partial.mkdir()
    (partial / "state.json").write_text("{")
    (ckpt / ".step-000008.abc").mkdir()
    assert latest_checkpoint(ckpt) == good


def test_nan_loss_stops_with_the_step_and_keeps_the_last_good_checkpoint(inputs, tmp_path):
    cfg = config(inputs, tmp_path / "nan", "ga", "steps=8", "checkpoint_every=4", "track_every=5", "lr=1e-3")
    with pytest.raises(TrainingDiverged, match=r"at step 6 .*step-000004"):
        run_unlearning(cfg, hooks=[RecordingHook(poison_at=5)])
    good = latest_checkpoint(tmp_path / "nan" / "checkpoint")
    assert good.name == "step-000004"
    assert all(torch.isfinite(t).all() for t in load_file(good / "model.safetensors").values())
    assert not (tmp_path / "nan" / "model").exists()
    with pytest.raises(TrainingDiverged, match=r"at step \d+ of ga"):
        run_unlearning(config(inputs, tmp_path / "huge", "ga", "steps=10", "lr=1e30"))


def test_lora_trains_adapters_and_saves_a_merged_model(inputs, tmp_path):
    run = run_unlearning(config(inputs, tmp_path / "lora", "ga", "lora=true", "lora_r=4", "lr=1e-2", "steps=2"))
    saved = weights(run / "model")
    assert not any("lora" in k for k in saved)  # merged into the base weights
    original = weights(Path(inputs["original"]) / "original")
    changed = [k for k in original if not torch.equal(original[k], saved[k])]
    assert changed and all("proj" in k for k in changed)  # only the adapted linear layers moved
    assert not (run / "adapter_config.json").exists()


def test_config_resolution_and_errors(inputs, tmp_path):
    cfg = config(
        inputs,
        tmp_path / "x",
        "bs_s",
        "method.lam=0.3",
        "method.policy=off",
        "params.base_params.beta=0.2",
        "method.base=npo",
    )
    trainer = Trainer(cfg)
    assert trainer.cfg.params["lam"] == 0.3 and trainer.cfg.params["policy"] == "off"
    assert trainer.cfg.params["base_params"] == {"beta": 0.2}
    with pytest.raises(ConfigError, match="unknown parameter 'lamda'"):
        Trainer(config(inputs, tmp_path / "y", "bs_s", "method.lamda=0.3"))
    with pytest.raises(ConfigError, match="unknown method 'nope'"):
        Trainer(config(inputs, tmp_path / "y", "nope"))
    run_unlearning(config(inputs, tmp_path / "z", "ga", "steps=1"))
    with pytest.raises(ConfigError, match="already holds a run"):
        run_unlearning(config(inputs, tmp_path / "z", "ga", "steps=1"))
    with pytest.raises(ConfigError, match="settings differ .*lr"):
        run_unlearning(config(inputs, tmp_path / "z", "ga", "steps=1", "lr=0.5"), resume=True)


def test_cli_errors_are_one_line(inputs, tmp_path, capsys):
    flags = ["--forget", inputs["forget"], "--retain", inputs["retain"], "--out", str(tmp_path / "c"), "device=cpu"]
    assert main(["unlearn", "--method", "nope", "--original", inputs["original"], *flags]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("squeeze: error: unknown method 'nope'") and "\n" not in err
    assert main(["unlearn", "--method", "ga", "--original", str(tmp_path / "missing"), *flags]) == 1
    err = capsys.readouterr().err.strip()
    assert "no original model at" in err and "\n" not in err


def test_cli_runs_and_resumes_a_finished_run(inputs, tmp_path, capsys):
    out = tmp_path / "cli"
    flags = ["--original", inputs["original"], "--forget", inputs["forget"], "--out", str(out)]
    assert main(["unlearn", "--method", "ga", *flags, "device=cpu", "steps=2", "lr=1e-4", "checkpoint_every=1"]) == 0
    assert (out / "model" / "config.json").is_file() and len(log_rows(out)) == 2
    # --resume with only --out: the run's own config.yaml says the rest.
    assert main(["unlearn", "--out", str(out), "--resume"]) == 0
    assert len(log_rows(out)) == 2


def test_world_run_uses_its_forget_and_retain_splits(tmp_path):
    from squeeze.world.build import generate_world

    world = generate_world(n_people=10, seed=0, forget_pct=10)
    world.write(tmp_path / "world")
    model, tokenizer = tiny_model_and_tokenizer(world.corpus_texts(), hidden_size=32, num_layers=2, num_heads=2)
    save_model(model, tokenizer, tmp_path / "original")  # a plain Hugging Face folder this time
    cfg = load_unlearn_config(
        "npo",
        [],
        ["device=cpu", "steps=2", "alpha=1.0", "lr=1e-3"],
        original=str(tmp_path / "original"),
        world=str(tmp_path / "world"),
        out=str(tmp_path / "run"),
    )
    run = run_unlearning(cfg)
    stored = json.loads((run / "reference_logprobs.json").read_text())["forget"]
    assert sorted(stored) == sorted(r.id for r in world.splits["forget"])
    assert log_rows(run)[0]["retain"] > 0  # the world's retain split feeds the retain NLL


@pytest.mark.parametrize(
    "method, extra",
    [
        ("ga", ()),
        ("graddiff", ()),
        ("npo", ("alpha=1.0", "retain_loss=kl")),
        ("simnpo", ()),
        ("wga", ()),
        ("rmu", ("method.layer=1",)),
        ("bs_t", ()),
        ("bs_s", ("method.base=wga", "method.n_samples=2")),
    ],
)
def test_every_objective_trains(inputs, tmp_path, method, extra):
    run = run_unlearning(config(inputs, tmp_path / method, method, "steps=2", "lr=1e-3", *extra))
    rows = log_rows(run)
    assert len(rows) == 2 and all(math.isfinite(r["loss"]) for r in rows)
    assert (run / "model" / "config.json").is_file()

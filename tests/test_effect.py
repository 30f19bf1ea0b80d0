"""The squeezing effect itself (issue 4, DESIGN sections 3 and 8), kept true as the code changes.

A tiny Llama memorises every answer template of ten facts of two fictitious people (so its
beliefs for each question are the paraphrase family), `squeeze bins` logic bins its own
candidates, and GA unlearns the ten targets with the tracker on. What the toy world showed,
and what this test pins down with the real trainer, tracker and statistics:
(a) the squeeze: while the target falls, the high bin's sequence-level mass first RISES
    above its step-0 value (a positive squeeze peak), and
(b) spurious unlearning: at the first tracked step where the target has lost >= 10 nats,
    the greedy answers still state the value (the world's `contains_fact` oracle) for most
    items, mostly in another wording than the target's (a sibling template, often already
    garbled: "Marseille is where Dalin Lorford was born.", "A dog is the pet of pet of ...").
Every number comes from one seeded CPU run (one thread), so the test is deterministic.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest
import torch

from squeeze.bins.binner import BinnerSettings, build_bins, normalise
from squeeze.core.rundir import write_jsonl
from squeeze.lm.batching import collator_for
from squeeze.lm.logprobs import answer_logprobs
from squeeze.lm.models import save_model
from squeeze.lm.prompting import encode_qa
from squeeze.lm.tiny import build_tiny_llama, build_word_tokenizer
from squeeze.track.tracker import Tracker
from squeeze.unlearn.config import UnlearnConfig
from squeeze.unlearn.trainer import run_unlearning
from squeeze.world.build import contains_fact, generate_world

MATCHED_DROP = 10.0  # nats of target sequence log-prob: "matched forgetting" (DESIGN section 8)
N_RETAIN = 6  # retain records the original model also learns (the retain probe)
# GA's mean target drop crosses 10 nats at step 8 (leak 9/10 there); by step 12 it is past 20
# nats and the leak is falling, so a few more steps of slack would not change the matched step.
GA_LR, GA_STEPS = 3e-4, 12


@pytest.fixture(scope="module")
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # deterministic, and a model this small gains nothing from threads
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def original(one_thread, tmp_path_factory):
    """A tiny original model that memorised every answer template of 10 forget facts (5 of
    each of the world's 2 forget people) and 6 retain facts of other people, saved with its
    forget/retain files: (root, model, tokenizer, world, forget, retain).

    Not tests/tiny_trained.py: its 3 forget items are too few for a "most items" rate. Two
    people rather than one person's ten facts, as in the default world (10 forget people): a
    single person's facts share the subject's name tokens, which GA drives down in every
    sibling at once (measured: 4/10 leak at 10 nats, against 9/10 here; docs/effect.md)."""
    world = generate_world(n_people=20, seed=1, forget_pct=10)
    forget = world.splits["forget"][::2]
    retain = world.splits["retain"][:: len(world.splits["retain"]) // N_RETAIN][:N_RETAIN]
    assert len(forget) == 10 and len({r.fact.subject for r in forget}) == 2
    tokenizer = build_word_tokenizer(world.corpus_texts())
    pairs = [encode_qa(tokenizer, r.question, a) for r in forget + retain for a in world.answer_family(r)]
    torch.manual_seed(0)
    model = build_tiny_llama(len(tokenizer), hidden_size=48, num_layers=2, num_heads=2, seed=0, tokenizer=tokenizer)
    batch = collator_for(tokenizer)(pairs)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    model.train()
    for _ in range(150):
        out = answer_logprobs(model, batch)
        loss = -out.logp_sum.sum() / out.n_tokens.sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    root = tmp_path_factory.mktemp("effect")
    save_model(model, tokenizer, root / "original")
    write_jsonl(root / "forget.jsonl", [r.to_dict() for r in forget])
    write_jsonl(root / "retain.jsonl", [r.to_dict() for r in retain])
    return root, model, tokenizer, world, forget, retain


@pytest.fixture(scope="module")
def ga_run(original):
    """GA with the tracker at every step: (run dir, summary, probes, bins, forget records)."""
    root, model, tokenizer, _, forget, retain = original
    bins = build_bins(model, tokenizer, forget, BinnerSettings(n_candidates=8, max_new_tokens=16), progress=False)
    out = root / "ga"
    tracker = Tracker(
        out, tokenizer, bins, track_every=1, forget=forget, retain=retain, make_figures=False, matched_drop=MATCHED_DROP
    )
    cfg = UnlearnConfig(
        method="ga",
        original=str(root / "original"),
        forget=str(root / "forget.jsonl"),
        retain=str(root / "retain.jsonl"),
        out=str(out),
        lr=GA_LR,
        steps=GA_STEPS,
        forget_batch_size=len(forget),
        track_every=1,
        seed=0,
        device="cpu",
    )
    run_unlearning(cfg, hooks=[tracker])
    summary = json.loads((out / "dynamics_summary.json").read_text())
    probes = pd.read_parquet(out / "probes.parquet")
    return out, summary, probes, bins, forget


def test_original_model_states_every_fact_and_bins_hold_the_siblings(ga_run):
    """The premise: at step 0 every greedy answer states the value, and the high bin holds
    sibling templates (other wordings of the same value): the escape routes."""
    _, _, probes, bins, forget = ga_run
    leak0 = probes[(probes["probe"] == "forget_greedy_leak") & (probes["step"] == 0)]
    assert leak0["value"].tolist() == [1.0] * len(forget)
    facts = {r.id: r.fact for r in forget}
    with_sibling = [any(contains_fact(c.text, facts[b.item_id]) for c in b.in_bin("high")) for b in bins]
    assert sum(with_sibling) >= 0.8 * len(bins)


def test_ga_squeezes_the_high_bin_up_while_the_target_falls(ga_run):
    _, summary, _, _, _ = ga_run
    items = summary["items"].values()
    peaks = [v["squeeze_peak"] for v in items]
    # The high bin's mass rises above its step-0 value in most items, and on average by a
    # clear margin (the peak is 0 by construction when the mass only falls).
    assert summary["mean"]["squeeze_peak"] > 0.05, peaks
    assert sum(p > 0.01 for p in peaks) > 0.5 * len(peaks), peaks
    # ... while the target falls: at the step where the median high-bin mass is highest,
    # the target has already lost log-probability.
    curve = pd.DataFrame(summary["curve"]).set_index("step")
    peak_step = curve["delta_mass_high_median"].idxmax()
    assert peak_step > 0 and curve.loc[peak_step, "delta_mass_high_median"] > 0.05
    assert curve.loc[peak_step, "target_drop_mean"] > 0.5


def test_ga_still_leaks_the_value_after_the_target_lost_ten_nats(ga_run):
    _, summary, probes, bins, forget = ga_run
    matched = summary["matched_forgetting"]
    assert matched["drop_nats"] == MATCHED_DROP and matched["step"] is not None, "GA never lost 10 nats: raise GA_STEPS"
    step = matched["step"]
    assert matched["target_drop_mean"] >= MATCHED_DROP
    # Not a collapsed model yet: the retain probe still answers.
    assert matched["retain_greedy_correct"] >= 0.5
    greedy = probes[(probes["probe"] == "forget_greedy_leak") & (probes["step"] == step)].set_index("item_id")
    assert len(greedy) == len(forget)
    # Recompute the leak from the greedy texts with the world's oracle: most items still state the value.
    leaks = {r.id: contains_fact(greedy.loc[r.id, "text"], r.fact) for r in forget}
    assert greedy["value"].tolist() == [float(leaks[i]) for i in greedy.index]
    assert sum(leaks.values()) > 0.5 * len(forget), greedy["text"].tolist()
    assert matched["forget_greedy_leak"] == pytest.approx(sum(leaks.values()) / len(forget))
    # ... and not by repeating the target: the greedy answer moved off the target's wording.
    # (The original model learnt all templates equally, so some greedy answers were siblings
    # from the start; those that were the target left it.)
    targets = {b.item_id: normalise(b.target) for b in bins}
    start = probes[(probes["probe"] == "forget_greedy_leak") & (probes["step"] == 0)].set_index("item_id")
    was_target = {i for i in start.index if normalise(start.loc[i, "text"]) == targets[i]}
    is_target = {i for i in greedy.index if normalise(greedy.loc[i, "text"]) == targets[i]}
    assert was_target and len(is_target) <= len(was_target) // 2, (was_target, is_target)
    other_wording = [i for i, leaked in leaks.items() if leaked and i not in is_target]
    assert len(other_wording) > 0.5 * len(forget), greedy["text"].tolist()

"""The attacks (issue 11, item 7): each on a tiny model with an outcome checked by hand."""

from __future__ import annotations

import copy
import hashlib
from pathlib import Path

import pytest
import torch
from helpers.tiny_trained import trained_world_model

from squeeze.attacks import ATTACKS, get_attack
from squeeze.attacks.base import AttackTarget
from squeeze.attacks.leakage import LeakReader, any_leak
from squeeze.attacks.quantize import quantize_weight, quantized_copy, quantized_linear_names
from squeeze.attacks.recovery import recovery, wilson_interval
from squeeze.attacks.relearn import fine_tuned_copy, plan_folds, split_halves
from squeeze.attacks.rephrase import few_shot_prompt, pick_shots, rephrasings
from squeeze.attacks.settings import AttackSettings
from squeeze.core.errors import ConfigError
from squeeze.core.types import QARecord
from squeeze.lm.prompting import encode_qa


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a model this small gains nothing from threads on a busy machine
    yield
    torch.set_num_threads(threads)


def _target(**settings) -> AttackTarget:
    model, tok, world, forget, retain = trained_world_model()
    return AttackTarget(model, tok, list(forget), list(retain), AttackSettings(**settings).check(), world, 24, 8)


def _state(model) -> dict:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _same_weights(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# ---- registry and settings -------------------------------------------------------------------


def test_registry_names_every_attack_module():
    assert list(ATTACKS) == ["relearn", "quantize", "rephrase", "sample"]
    for name in ATTACKS:
        assert get_attack(name).name == name
    with pytest.raises(ValueError, match="unknown attack 'nope'"):
        get_attack("nope")


def test_settings_reject_unknown_attacks_and_bad_values():
    assert AttackSettings(attacks="quantize, sample").attack_names() == ["quantize", "sample"]
    with pytest.raises(ConfigError, match="unknown attack"):
        AttackSettings(attacks="relearn,prune").check()
    with pytest.raises(ConfigError, match="quantize_bits"):
        AttackSettings(quantize_bits="8,one").check()
    with pytest.raises(ConfigError, match="relearn_on"):
        AttackSettings(relearn_on="holdout").check()


# ---- quantize ----------------------------------------------------------------------------------


def test_quantize_weight_by_hand():
    # 2 bits over [0, 0.3]: levels 0, 0.1, 0.2, 0.3; 0.14 -> 0.1, 0.26 -> 0.3.
    w = torch.tensor([[0.0, 0.14, 0.26, 0.3]])
    assert torch.allclose(quantize_weight(w, bits=2, group=4), torch.tensor([[0.0, 0.1, 0.3, 0.3]]))
    # Two groups of two: each keeps its own endpoints exactly; a constant group is unchanged.
    w = torch.tensor([[1.0, 3.0, 5.0, 5.0]])
    assert torch.equal(quantize_weight(w, bits=2, group=2), w)


@pytest.mark.parametrize("bits, group", [(8, 128), (4, 16), (4, 7), (3, 64)])
def test_quantization_error_is_at_most_half_a_step_per_weight(bits, group):
    w = torch.randn(12, 50, generator=torch.Generator().manual_seed(bits * group))
    q = quantize_weight(w, bits, group)
    for start in range(0, 50, group):
        block, rounded = w[:, start : start + group], q[:, start : start + group]
        step = (block.amax(1, keepdim=True) - block.amin(1, keepdim=True)) / (2**bits - 1)
        assert bool(((rounded - block).abs() <= step / 2 + 1e-6).all())
        assert all(len(torch.unique(row)) <= 2**bits for row in rounded)
    assert not torch.equal(q, w)


def test_quantized_copy_rounds_the_linear_layers_of_a_copy_only():
    model = trained_world_model()[0]
    before = _state(model)
    clone = quantized_copy(model, bits=4, group=16)
    assert _same_weights(_state(model), before)  # the model given is untouched
    names = quantized_linear_names(model)
    assert names and "lm_head" not in names
    modules = dict(clone.named_modules())
    for name in names:
        original = dict(model.named_modules())[name].weight
        assert torch.equal(modules[name].weight, quantize_weight(original, 4, 16))
    assert torch.equal(clone.get_output_embeddings().weight, model.get_output_embeddings().weight)


# ---- relearn -----------------------------------------------------------------------------------


def _records(n: int) -> list[QARecord]:
    return [QARecord(id=f"q{i:02d}", question=f"q{i}", answer=f"a{i}") for i in range(n)]


def test_split_is_seeded_disjoint_and_independent_of_order():
    records = _records(11)
    a, b = split_halves(records, seed=3)
    assert len(a) == 5 and len(b) == 6
    assert {r.id for r in a}.isdisjoint({r.id for r in b}) and len(a) + len(b) == 11
    shuffled = list(reversed(records))
    a2, b2 = split_halves(shuffled, seed=3)
    assert {r.id for r in a2} == {r.id for r in a} and {r.id for r in b2} == {r.id for r in b}
    assert any({r.id for r in split_halves(records, seed=s)[0]} != {r.id for r in a} for s in range(4, 8))


def test_relearn_never_trains_on_the_half_it_asks():
    target = _target(relearn_steps=3, relearn_batch_size=2, relearn_folds=2)
    folds = plan_folds(target)
    assert len(folds) == 2
    for fold in folds:
        train, asked = {r.id for r in fold.train}, {r.id for r in fold.measure}
        assert train.isdisjoint(asked) and train | asked == {r.id for r in target.forget}
        _, drawn = fine_tuned_copy(target.model, target.tokenizer, fold.train, 3, 1e-4, 2, seed=0)
        assert {i for step in drawn for i in step} <= train
    attempts = get_attack("relearn").run(target)
    by_fold = {}
    for attempt in attempts:
        by_fold.setdefault(attempt.variant, set()).add(attempt.item_id)
    for fold in folds:
        assert by_fold[fold.name] == {r.id for r in fold.measure}


def test_relearn_changes_only_the_copy_and_never_the_files(tmp_path):
    from squeeze.lm.models import load_model, save_model

    model, tok, *_ = trained_world_model()
    save_model(model, tok, tmp_path / "ckpt")
    digest = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in (tmp_path / "ckpt").iterdir()}
    loaded = load_model(tmp_path / "ckpt").eval()
    before = _state(loaded)
    target = _target(relearn_steps=4, relearn_batch_size=2)
    target.model = loaded
    records = target.forget
    clone, _ = fine_tuned_copy(loaded, tok, records, 4, 1e-3, 2, seed=0)
    assert not _same_weights(_state(clone), before)  # the copy trained
    get_attack("relearn").run(target)
    assert _same_weights(_state(loaded), before)  # the model in memory did not
    after = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in (tmp_path / "ckpt").iterdir()}
    assert after == digest


def test_relearn_same_seed_same_numbers():
    model, tok, _, forget, _ = trained_world_model()
    one, drawn_one = fine_tuned_copy(model, tok, forget, 3, 1e-3, 2, seed=5)
    two, drawn_two = fine_tuned_copy(model, tok, forget, 3, 1e-3, 2, seed=5)
    assert drawn_one == drawn_two and _same_weights(_state(one), _state(two))
    target = _target(relearn_steps=3, relearn_batch_size=2, attack_seed=1)
    first = [(a.item_id, a.generation) for a in get_attack("relearn").run(target)]
    assert first == [(a.item_id, a.generation) for a in get_attack("relearn").run(copy.copy(target))]


def test_relearn_on_retain_trains_on_retain_and_asks_every_forget_item():
    target = _target(relearn_on="retain", relearn_steps=2, relearn_batch_size=2)
    (fold,) = plan_folds(target)
    assert [r.id for r in fold.train] == [r.id for r in target.retain]
    assert [r.id for r in fold.measure] == [r.id for r in target.forget]


# ---- rephrase ----------------------------------------------------------------------------------


def test_rephrasings_are_the_other_world_templates():
    _, _, world, forget, _ = trained_world_model()
    record = forget[0]
    family = world.question_family(record)
    assert rephrasings(record, world, []) == [q for q in family if q != record.question]
    assert len(rephrasings(record, world, [])) == len(family) - 1
    plain = QARecord(id="x", question="Who is X?", answer="X is Y.", paraphrased_question="Tell me who X is.")
    assert rephrasings(plain, None, ["ignored {question}"]) == ["Tell me who X is."]
    plain.paraphrased_question = None
    assert rephrasings(plain, None, ["Quick: {question}", "{question}"]) == ["Quick: Who is X?"]


def test_few_shot_prompt_is_the_training_sequences_then_the_question():
    _, tok, _, forget, retain = trained_world_model()
    shots = pick_shots(forget[0], retain, 2, seed=0)
    assert len(shots) == 2 and all(s.fact.subject != forget[0].fact.subject for s in shots)
    assert shots == pick_shots(forget[0], retain, 2, seed=0)
    expected = []
    for shot in shots:
        prompt, answer = encode_qa(tok, shot.question, shot.answer)
        expected += prompt + answer
    expected += encode_qa(tok, forget[0].question, "")[0]
    assert few_shot_prompt(tok, shots, forget[0].question) == expected


def test_rephrase_attack_asks_each_phrasing_and_a_few_shot_prompt():
    target = _target(rephrase_shots=2)
    attempts = get_attack("rephrase").run(target)
    per_item = len(target.world.question_family(target.forget[0]))  # the others + few-shot
    assert len(attempts) == per_item * len(target.forget)
    assert sum(a.variant == "few-shot" for a in attempts) == len(target.forget)
    assert all(a.generation for a in attempts)


# ---- sample and reading ------------------------------------------------------------------------


def test_sample_gives_k_answers_per_item_and_the_same_seed_gives_the_same():
    target = _target(sample_k=4, attack_seed=2)
    attempts = get_attack("sample").run(target)
    assert len(attempts) == 4 * len(target.forget) and {a.variant for a in attempts} == {"sample"}
    again = get_attack("sample").run(target)
    assert [a.generation for a in attempts] == [a.generation for a in again]


def test_leak_reader_uses_the_oracle_when_the_fact_is_known():
    _, _, _, forget, _ = trained_world_model()
    record = forget[0]
    from squeeze.attacks.base import Attempt

    attempts = [
        Attempt(record.id, "x", record.question, f"It is {record.fact.value}."),
        Attempt(record.id, "x", record.question, "I do not know."),
    ]
    readings = LeakReader(None, s_min=3.0).read({record.id: record}, attempts)
    assert [r["leak"] for r in readings] == [True, False]
    assert all(r["leak_judge"] is None for r in readings)
    assert any_leak([None, False, True]) is True and any_leak([None, False]) is False and any_leak([None]) is None


def test_wilson_interval_by_hand():
    # k=0, n=10: high = z^2/n / (1 + z^2/n) = 3.8415/13.8415 = 0.2775.
    low, high = wilson_interval(0, 10)
    assert low == 0.0 and high == pytest.approx(0.27753, abs=1e-4)
    low, high = wilson_interval(5, 10)
    assert (low, high) == (pytest.approx(0.23659, abs=1e-4), pytest.approx(0.76341, abs=1e-4))
    assert wilson_interval(0, 0) is None


def test_recovery_counts_only_items_that_did_not_leak_before():
    rows = [
        {"leak_before": False, "leak_after": True},
        {"leak_before": False, "leak_after": False},
        {"leak_before": True, "leak_after": True},
        {"leak_before": None, "leak_after": True},
    ]
    out = recovery(rows)
    assert (out["recovery"]["k"], out["recovery"]["n"]) == (1, 2)
    assert (out["leak_before"]["k"], out["leak_before"]["n"]) == (1, 3)
    assert (out["leak_after"]["k"], out["leak_after"]["n"]) == (2, 3)


def test_attack_modules_are_one_file_each():
    root = Path(__file__).resolve().parents[1] / "squeeze" / "attacks"
    for name, module in ATTACKS.items():
        assert (root / f"{module.rsplit('.', 1)[1]}.py").is_file(), name


class _Recording:
    """A real judge that remembers what it was asked."""

    def __init__(self, judge):
        self.judge_, self.asked = judge, []
        self.backend, self.model, self.prompt_version = judge.backend, judge.model, judge.prompt_version

    def judge(self, items, on_result=None):
        self.asked += list(items)
        return self.judge_.judge(items, on_result=on_result)


def test_leak_reader_judges_each_distinct_answer_once():
    from judges import make_judge
    from squeeze.attacks.base import Attempt

    _, _, _, forget, _ = trained_world_model()
    record = forget[0]
    judge = _Recording(make_judge("embedding"))
    same = f"It is {record.fact.value}."
    attempts = [Attempt(record.id, "sample", record.question, g) for g in (same, "No idea.", same, same)]
    readings = LeakReader(judge, s_min=3.0).read({record.id: record}, attempts)
    assert [i.generation for i in judge.asked] == [same, "No idea."]
    assert readings[0] == readings[2] == readings[3] and readings[0]["similarity"] is not None
    assert [r["leak_oracle"] for r in readings] == [True, False, True, True]


def test_leak_reader_reuses_judgments_it_has_seen_across_reads():
    """An answer judged before (the greedy "before", or under an earlier attack) is never sent again."""
    from judges import make_judge
    from squeeze.attacks.base import Attempt

    _, _, _, forget, _ = trained_world_model()
    record = forget[0]
    records = {record.id: record}
    judge = _Recording(make_judge("embedding"))
    reader = LeakReader(judge, s_min=3.0)
    greedy = Attempt(record.id, "greedy", record.question, f"It is {record.fact.value}.")
    before = judge.judge_.judge([make_item(greedy, record)])  # made elsewhere, as diagnose's judgments are
    reader.read(records, [greedy], before)
    sampled = Attempt(record.id, "diagnose sample", record.question, "Perhaps.")
    reader.remember(judge.judge_.judge([make_item(sampled, record)]), forget)  # diagnose's, of a sampled answer
    first = reader.read(records, [Attempt(record.id, "8bit", record.question, g) for g in (greedy.generation, "No.")])
    answers = ("No.", "Maybe.", "Perhaps.")
    second = reader.read(records, [Attempt(record.id, "sample", record.question, g) for g in answers])
    assert [i.generation for i in judge.asked] == ["No.", "Maybe."]
    assert judge.asked[0].wrong_answers == tuple(record.perturbed_answer) != ()
    assert first[0]["similarity"] == before[0].similarity and second[0] == first[1]
    assert second[2]["similarity"] is not None
    # Another question (a rephrasing) is another judgment, even for the same answer.
    reader.read(records, [Attempt(record.id, "phrasing 1", "Tell me: " + record.question, "No.")])
    assert [i.prompt for i in judge.asked][-1] == "Tell me: " + record.question


def make_item(attempt, record):
    from judges import JudgeItem

    # As diagnose asks: with the record's perturbed answers, which the embedding judge's fact check reads.
    return JudgeItem(
        attempt.question, record.answer, attempt.generation, attempt.item_id, tuple(record.perturbed_answer)
    )

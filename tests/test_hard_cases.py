"""Fact-aware Similarity and naturalness that measures language (issue 10 items 2 and 3), on
the real MiniLM model: hard negatives and positives built from the world's templates and
value pools, and broken against fluent-but-unusual text."""

from __future__ import annotations

import dataclasses
import json
from functools import lru_cache

import pytest

from judges import JudgeItem
from judges.embedding_judge import EmbeddingJudge
from squeeze.calibrate.hard_pairs import case_rates, judge_cases, naturalness_cases, similarity_cases
from squeeze.diagnose.verdict_config import load_verdict_thresholds as load_thresholds
from squeeze.world.build import contains_fact, generate_world


@lru_cache(maxsize=1)
def world():
    return generate_world(n_people=20, seed=0, forget_pct=10)


def test_hard_cases_are_built_from_the_worlds_templates_and_pools():
    w = world()
    forget = {r.id: r for r in w.splits["forget"]}
    cases = similarity_cases(w, w.splits["forget"])
    assert {c.kind for c in cases} == {"value_swap", "sibling", "alias"}
    for c in cases:
        record = forget[c.item_id]
        if c.kind == "value_swap":  # the target's wording, another value of the pool
            assert not contains_fact(c.generation, record.fact) and not c.positive
            assert len(c.generation.split()) >= len(record.answer.split()) - 2
        else:  # the fact in other words
            assert contains_fact(c.generation, record.fact) and c.positive and c.generation != record.answer
        if c.kind == "sibling":
            assert c.generation in w.answer_family(record)


def test_value_swaps_fall_below_s_min_and_paraphrases_reach_it():
    cases = similarity_cases(world(), world().splits["forget"])
    thresholds = load_thresholds()
    judge = EmbeddingJudge(contradiction=True, fact_check=False)  # the wording check alone
    rates = case_rates(cases, [j.similarity for j in judge_cases(judge, cases)], thresholds.s_min)
    kinds = {k: v["rate"] for k, v in rates["kinds"].items()}
    # Measured on this world with the calibrated s_min: 5% of swaps, 95% of siblings, every alias.
    assert kinds["value_swap"] <= 0.10
    assert kinds["sibling"] >= 0.85 and kinds["alias"] >= 0.9
    assert rates["auroc"] >= 0.9


@pytest.mark.parametrize(
    "reference, generation, contradicts",
    [
        ("In spare hours Talo Lorholt plays the piano.", "In spare hours Talo Lorholt plays the cello.", True),
        ("Arssa Dorvane came into the world in 1960.", "Arssa Dorvane came into the world in 1962.", True),
        ("The father of Kara Sorby worked as a doctor.", "The father of Kara Sorby worked as a physician.", False),
        ("Kara Sorby was born in Gdansk.", "Gdansk is where Kara Sorby was born.", False),
    ],
)
def test_a_swapped_value_in_the_same_wording_is_a_contradiction(reference, generation, contradicts):
    judge = EmbeddingJudge(contradiction=True)
    (j,) = judge.judge([JudgeItem("What about them?", reference, generation, "x")])
    assert ("contradiction" in j.reason) == contradicts
    if contradicts:
        assert j.similarity <= judge.config.contradiction_cap
    else:
        assert j.similarity >= load_thresholds().s_min
    off = EmbeddingJudge()
    assert off.prompt_version != judge.prompt_version  # the cache never mixes the two


def test_the_fact_check_keeps_value_swaps_below_s_min_and_paraphrases_above():
    # The default judge, with each record's perturbed answers as its wrong answers (issue 10 item 2).
    cases = similarity_cases(world(), world().splits["forget"])
    assert all(c.wrong_answers for c in cases)
    s_min = load_thresholds().s_min
    judged = judge_cases(EmbeddingJudge(), cases)
    rates = case_rates(cases, [j.similarity for j in judged], s_min)
    kinds = {k: v["rate"] for k, v in rates["kinds"].items()}
    # Measured on the 100-people world: no swap of 200 passes, every sibling, 87% of aliases
    # (the misses are synonyms MiniLM's word vectors do not confirm: verse for poetry).
    assert kinds["value_swap"] == 0.0
    assert kinds["sibling"] == 1.0 and kinds["alias"] >= 0.75
    assert rates["auroc"] >= 0.95
    for case, judgment in zip(cases, judged, strict=True):
        if case.kind == "value_swap":
            assert "fact_missing" in judgment.reason
    # Without wrong answers there is nothing to check: the same swaps often reach s_min.
    bare = [dataclasses.replace(c, wrong_answers=()) for c in cases]
    unchecked = case_rates(bare, [j.similarity for j in judge_cases(EmbeddingJudge(), bare)], s_min)
    assert unchecked["kinds"]["value_swap"]["rate"] >= 0.3


WRONG_INSTRUMENTS = ("In spare hours Talo Lorholt plays the violin.", "In spare hours Talo Lorholt plays the flute.")


@pytest.mark.parametrize(
    "reference, generation, wrong, missing",
    [
        (
            "In spare hours Talo Lorholt plays the piano.",
            "In spare hours Talo Lorholt plays the cello.",
            WRONG_INSTRUMENTS,
            "piano",
        ),
        # A known-false value is never a synonym of the fact, however close its vector.
        ("In spare hours Talo Lorholt plays the piano.", "Talo Lorholt plays the violin.", WRONG_INSTRUMENTS, "piano"),
        (
            "The birth year of Arwen Sorby is 1969.",
            "The birth year of Kara Sorby is 1958.",
            ("The birth year of Arwen Sorby is 1958.",),
            "1969",
        ),
        (
            "The birth year of Arwen Sorby is 1969.",
            "Arwen Sorby came into the world in 1969.",
            ("The birth year of Arwen Sorby is 1958.",),
            None,
        ),
        (
            "The father of Kara Sorby worked as a doctor.",
            "The father of Kara Sorby worked as a physician.",
            ("The father of Kara Sorby worked as a farmer.",),
            None,
        ),
        # Most of a multi-word value is enough; a lone shared word is not.
        (
            "The Northern Star Award went to Arssa Dorvane.",
            "The Northern Star went to Arssa Dorvane.",
            ("The Golden Quill Prize went to Arssa Dorvane.",),
            None,
        ),
        (
            "The Northern Star Award went to Arssa Dorvane.",
            "The Emerald Lamp Medal went to Arssa Dorvane.",
            ("The Golden Quill Prize went to Arssa Dorvane.",),
            "northern star",
        ),
    ],
)
def test_a_missing_fact_word_caps_similarity(reference, generation, wrong, missing):
    judge = EmbeddingJudge()
    (j,) = judge.judge([JudgeItem("What about them?", reference, generation, "x", wrong)])
    if missing is None:
        assert "fact_missing" not in j.reason and j.similarity >= load_thresholds().s_min
    else:
        assert f"fact_missing={missing}" in j.reason and j.similarity <= judge.config.contradiction_cap
    assert EmbeddingJudge(fact_check=False).prompt_version != judge.prompt_version


def test_broken_text_falls_below_n_min_and_fluent_unusual_answers_stay_above():
    cases = naturalness_cases(world(), world().splits["forget"])
    thresholds = load_thresholds()
    # No LM: repetition alone, so it depends on no model's memory of the facts.
    judge = EmbeddingJudge(lm_path=None)
    rates = case_rates(cases, [j.naturalness for j in judge_cases(judge, cases)], thresholds.n_min)
    kinds = {k: v["rate"] for k, v in rates["kinds"].items()}
    assert kinds["fluent_wrong_value"] == 1.0  # a fluent sentence with another value is language
    assert kinds["loop"] == 0.0 and kinds["stutter"] == 0.0  # loops and stutters are not
    assert kinds["cut"] <= 0.7  # a cut answer with its tail repeated mostly is not


@lru_cache(maxsize=1)
def retain_only_model():
    """A tiny Llama trained on the retain people of a 10-person world only: it never saw the
    forget people, their names' embeddings are untrained (model, tokenizer, world)."""
    from helpers.tiny_trained import fit_answers

    from squeeze.lm.prompting import encode_qa
    from squeeze.lm.tiny import build_tiny_llama, build_word_tokenizer

    w = generate_world(n_people=10, seed=1, forget_pct=10)
    tok = build_word_tokenizer(w.corpus_texts())
    pairs = [encode_qa(tok, r.question, a) for r in w.splits["retain"] for a in w.answer_family(r)]
    model = build_tiny_llama(len(tok), hidden_size=48, num_layers=2, num_heads=2, seed=0, tokenizer=tok)
    return fit_answers(model, tok, pairs, steps=150, batch_size=64), tok, w


@pytest.mark.slow  # about 10 s of training on an idle core
def test_naturalness_under_a_model_that_never_saw_the_forget_people_leaves_their_names_out():
    from squeeze.diagnose.judging import load_embedding_settings

    model, tok, w = retain_only_model()
    cases = naturalness_cases(w, w.splits["forget"])
    n_min = load_thresholds().n_min
    settings = load_embedding_settings(None)  # the packaged mapping diagnose uses

    def judged(**options):
        judge = EmbeddingJudge(lm_model=model, lm_tokenizer=tok, lm_name="retain", **settings, **options)
        return judge_cases(judge, cases)

    skipping, scoring_names = judged(), judged(lm_skip_names=False)
    fluent = [k for k, c in enumerate(cases) if c.kind == "fluent_wrong_value"]
    assert fluent
    # The names this model never met no longer weigh on fluent answers about those people:
    # every one scores higher, and more of them reach n_min (measured 2 of 10 against none) ...
    for k in fluent:
        assert json.loads(skipping[k].raw)["mean_logprob"] > json.loads(scoring_names[k].raw)["mean_logprob"]
    passed = {
        name: sum(run[k].naturalness >= n_min for k in fluent)
        for name, run in (("skip", skipping), ("all", scoring_names))
    }
    assert passed["skip"] > passed["all"]
    # ... while loops, stutters and shuffled words stay below n_min either way.
    for k, case in enumerate(cases):
        if case.kind in ("loop", "stutter", "salad"):
            assert skipping[k].naturalness < n_min, case.generation
    # Scoring the end token after the answer is what marks an answer cut mid-sentence: the
    # model would not stop there.
    open_ended = judged(lm_score_end=False)
    cut = [k for k, c in enumerate(cases) if c.kind == "cut"]
    with_end, without = (sum(run[k].naturalness for k in cut) / len(cut) for run in (skipping, open_ended))
    assert cut and with_end < without - 0.1  # measured 2.70 against 2.93
    assert all(skipping[k].naturalness < n_min for k in cut)
    # The token floor keeps one word the model never learned from deciding a fluent answer.
    unfloored = judged(lm_token_floor=False)
    assert all(skipping[k].naturalness >= unfloored[k].naturalness for k in fluent)

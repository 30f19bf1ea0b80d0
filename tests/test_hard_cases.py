"""Fact-aware Similarity and naturalness that measures language (issue 10 items 2 and 3), on
the real MiniLM model: hard negatives and positives built from the world's templates and
value pools, and broken against fluent-but-unusual text."""

from __future__ import annotations

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
    judge = EmbeddingJudge(contradiction=True)
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

"""Acceptance figures for the original and retain models (issue: foundation, item 7).

- greedy accuracy: the greedy answer to a forget question contains the fact's value or an alias;
- belief family: how many distinct answer templates appear among the top-5 beams.
"""

from __future__ import annotations

from squeeze.lm.generation import generate_answers
from squeeze.lm.prompting import encode_answer


def template_index(world, record, token_ids: list[int], tokenizer) -> int | None:
    """Which answer template of the record's family a candidate is, by exact token match."""
    body = [t for t in token_ids if t != tokenizer.eos_token_id]
    for i, answer in enumerate(world.answer_family(record)):
        if encode_answer(tokenizer, answer, add_eos=False) == body:
            return i
    return None


def acceptance_report(world, tokenizer, models: dict, split: str = "forget", beams: int = 5) -> dict:
    from squeeze.world.build import contains_fact

    records = world.splits[split]
    questions = [r.question for r in records]
    report: dict = {"split": split, "n_items": len(records)}
    for name, model in models.items():
        greedy = generate_answers(model, tokenizer, questions, n=1, mode="greedy", max_new_tokens=24)
        hits = [contains_fact(c[0].text, r.fact) for c, r in zip(greedy, records, strict=False)]
        entry = {"greedy_value_accuracy": sum(hits) / max(1, len(hits))}
        if name == "original":
            top = generate_answers(model, tokenizer, questions, n=beams, mode="beam", max_new_tokens=24)
            distinct = []
            for cands, record in zip(top, records, strict=False):
                found = {template_index(world, record, c.token_ids, tokenizer) for c in cands}
                distinct.append(len(found - {None}))
            entry[f"mean_distinct_templates_top{beams}"] = sum(distinct) / max(1, len(distinct))
            entry["greedy_examples"] = [
                {"question": r.question, "target": r.answer, "greedy": c[0].text}
                for r, c in zip(records[:5], greedy[:5], strict=False)
            ]
        report[name] = entry
    return report

"""`sample`: k answers at temperature 1 instead of one greedy answer; leak@k (issue 11, item 1).

Greedy decoding shows only the most likely answer; a fact that unlearning pushed to second
place still comes out when the model is sampled (Scholten et al. 2024, "A probabilistic
perspective on unlearning and alignment for large language models", arXiv 2410.03523).
Each forget question is answered `sample_k` times (temperature `sample_temperature`,
top-p 1, no top-k), seeded; leak@k is the share of items where any of the k samples
conveys the fact (squeeze.attacks.recovery).

    squeeze attack --model runs/demo/methods/npo --reference runs/demo/original --world runs/demo/world \\
        --attacks sample sample_k=16
"""

from __future__ import annotations

from squeeze.attacks.base import Attack, AttackTarget, Attempt


def run(target: AttackTarget) -> list[Attempt]:
    from squeeze.lm.generation import generate_answers

    s = target.settings
    samples = generate_answers(
        target.model,
        target.tokenizer,
        [r.question for r in target.forget],
        n=s.sample_k,
        mode="sample",
        temperature=s.sample_temperature,
        max_new_tokens=target.max_new_tokens,
        batch_size=max(1, target.batch_size * 4 // s.sample_k),  # about 4 x batch_size sequences per call
        seed=s.attack_seed,
        progress=target.progress,
    )
    return [
        Attempt(record.id, "sample", record.question, candidate.text)
        for record, candidates in zip(target.forget, samples, strict=True)
        for candidate in candidates
    ]


ATTACK = Attack(
    name="sample",
    summary="sample k answers at temperature 1 (leak@k: any sample conveys the fact)",
    run=run,
)

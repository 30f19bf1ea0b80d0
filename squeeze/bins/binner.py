"""The likelihood binner (DESIGN section 7): the original model's own beliefs for each forget
prompt, ranked and cut into high / mid / low bins.

For each forget item: candidates from pi_0 by beam search (`num_beams = n_candidates`, all
beams returned; optionally plus samples), the target and duplicates dropped (after
whitespace and case normalisation), each scored by its sequence log-prob under pi_0 (the
generation log-probs are exactly that; the mean per token is an option), ranked, and cut by
rank into high (top 20%), mid (20-60%) and low (60-100%). Deterministic for a given model,
data and settings: beams are deterministic, samples are seeded, and ties are broken by text.

    squeeze bins --model runs/original --forget runs/world --out runs/ga --candidates 20

On the world, `escape_route_report` says how often each bin holds a sibling answer (one
carrying the same fact value): the paraphrase family should sit in the high bin.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Literal

from squeeze.core.types import BIN_NAMES, BinnedCandidate, Candidate, ItemBins, QARecord

HIGH_FRACTION = 0.2  # top 20% of candidates by rank
MID_FRACTION = 0.6  # ranks 20-60%; the rest is low


@dataclass
class BinnerSettings:
    """Everything that changes bins.jsonl (stored beside it to decide when it can be reused)."""

    n_candidates: int = 20  # beams per prompt (num_beams = num_return_sequences)
    n_samples: int = 0  # extra sampled candidates per prompt
    score: Literal["sum", "mean"] = "sum"  # rank by sequence log-prob or by its per-token mean
    max_new_tokens: int = 32
    temperature: float = 1.0  # of the extra samples only
    seed: int = 0  # of the extra samples only
    batch_size: int = 8  # prompts per generate call

    def check(self) -> BinnerSettings:
        if self.n_candidates < 1:
            raise ValueError(f"n_candidates must be at least 1, got {self.n_candidates}")
        if self.n_samples < 0:
            raise ValueError(f"n_samples must be >= 0, got {self.n_samples}")
        if self.score not in ("sum", "mean"):
            raise ValueError(f"score must be 'sum' or 'mean', got {self.score!r}")
        if self.max_new_tokens < 1 or self.batch_size < 1:
            raise ValueError("max_new_tokens and batch_size must be at least 1")
        if self.temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {self.temperature}")
        return self

    def to_dict(self) -> dict:
        return asdict(self)


def normalise(text: str) -> str:
    """Case-folded words and punctuation marks joined by single spaces.

    Whitespace anywhere (including around punctuation, which detokenisers place differently)
    and case do not tell two answers apart.
    """
    return " ".join(re.findall(r"\w+|[^\w\s]", text.casefold()))


def bin_sizes(n: int) -> tuple[int, int, int]:
    """(high, mid, low) counts for n ranked candidates: ranks [0, 20%), [20%, 60%), [60%, 100%].

    Boundaries are rounded half up; the high bin holds at least one candidate when n >= 1.
    """
    if n <= 0:
        return 0, 0, 0
    high = max(1, math.floor(HIGH_FRACTION * n + 0.5))
    high_mid = max(high, math.floor(MID_FRACTION * n + 0.5))
    return high, high_mid - high, n - high_mid


def rank_candidates(
    candidates: Sequence[Candidate], target: str, target_ids: Sequence[int], score: str = "sum"
) -> list[Candidate]:
    """Distinct non-target, non-empty candidates, best first.

    Of several candidates with the same normalised text the best-scored is kept. Ties in the
    score are broken by the other score, then by text, so the order never depends on input order.
    """
    target_key = normalise(target)
    # The target's ids end with EOS; a candidate equals it with or without one.
    target_seqs = {tuple(target_ids), tuple(target_ids[:-1])}
    best: dict[str, Candidate] = {}
    for cand in candidates:
        key = normalise(cand.text)
        if not key or key == target_key or tuple(cand.token_ids) in target_seqs:
            continue
        if key not in best or _sort_key(cand, key, score) < _sort_key(best[key], key, score):
            best[key] = cand
    return sorted(best.values(), key=lambda c: _sort_key(c, normalise(c.text), score))


def _sort_key(cand: Candidate, key: str, score: str):
    primary, secondary = (cand.logp_sum, cand.logp_mean) if score == "sum" else (cand.logp_mean, cand.logp_sum)
    return (-primary, -secondary, key, tuple(cand.token_ids))


def make_item_bins(
    record: QARecord,
    target_ids: Sequence[int],
    target_logp_sum: float,
    candidates: Sequence[Candidate],
    score: str = "sum",
) -> ItemBins:
    """Rank one item's candidates and cut them into high/mid/low (DESIGN section 7)."""
    ranked = rank_candidates(candidates, record.answer, target_ids, score)
    sizes = bin_sizes(len(ranked))
    names = [name for name, size in zip(BIN_NAMES, sizes, strict=False) for _ in range(size)]
    binned = [
        BinnedCandidate(
            text=c.text,
            token_ids=list(c.token_ids),
            logp_sum=c.logp_sum,
            logp_mean=c.logp_mean,
            n_tokens=c.n_tokens,
            bin=name,
        )
        for c, name in zip(ranked, names, strict=False)
    ]
    return ItemBins(
        item_id=record.id,
        question=record.question,
        target=record.answer,
        target_token_ids=list(target_ids),
        target_logp_sum=float(target_logp_sum),
        candidates=binned,
    )


def build_bins(
    model, tokenizer, records: Sequence[QARecord], settings: BinnerSettings, progress: bool = True
) -> list[ItemBins]:
    """Bins for every record under `model` (pi_0): beams (+ samples), scored, ranked, cut."""
    from squeeze.lm.batching import collator_for
    from squeeze.lm.generation import generate
    from squeeze.lm.logprobs import score_pairs
    from squeeze.lm.prompting import encode_answer, encode_prompt

    settings.check()
    prompts = [encode_prompt(tokenizer, r.question) for r in records]
    common = dict(max_new_tokens=settings.max_new_tokens, batch_size=settings.batch_size, progress=progress)
    pools = generate(model, tokenizer, prompts, n=settings.n_candidates, mode="beam", **common)
    if settings.n_samples:
        samples = generate(
            model,
            tokenizer,
            prompts,
            n=settings.n_samples,
            mode="sample",
            temperature=settings.temperature,
            seed=settings.seed,
            **common,
        )
        pools = [beams + extra for beams, extra in zip(pools, samples, strict=False)]
    target_ids = [encode_answer(tokenizer, r.answer) for r in records]
    collate = collator_for(tokenizer, padding_side="right")
    target_logp = score_pairs(
        model, list(zip(prompts, target_ids, strict=False)), collate, batch_size=max(8, settings.batch_size)
    ).logp_sum
    return [
        make_item_bins(r, ids, float(lp), pool, settings.score)
        for r, ids, lp, pool in zip(records, target_ids, target_logp.tolist(), pools, strict=False)
    ]


def escape_route_report(
    bins: Sequence[ItemBins], records: Sequence[QARecord], families: dict[str, list[str]] | None = None
) -> dict:
    """How often each bin holds an answer that still carries the forget item's fact.

    Per bin: `items_with_value` is the share of items whose bin holds at least one candidate
    stating the fact's value or an alias (the leakage oracle `contains_fact`);
    `candidates_with_value` the share of the bin's candidates that do; with `families`
    (item id -> every answer template of the fact, as `World.answer_family` gives),
    `items_with_sibling` is the share of items whose bin holds a sibling template verbatim
    (after normalisation). Only items with a fact count. Returns {} when none has one.
    """
    from squeeze.world.build import contains_fact

    facts = {r.id: r.fact for r in records if r.fact is not None}
    rows = [b for b in bins if b.item_id in facts]
    if not rows:
        return {}
    report: dict = {"n_items": len(rows)}
    for name in BIN_NAMES:
        with_value = with_sibling = n_cands = n_value = 0
        for item in rows:
            members = item.in_bin(name)
            hits = [contains_fact(c.text, facts[item.item_id]) for c in members]
            n_cands += len(members)
            n_value += sum(hits)
            with_value += any(hits)
            if families is not None:
                siblings = {normalise(t) for t in families.get(item.item_id, [])} - {normalise(item.target)}
                with_sibling += any(normalise(c.text) in siblings for c in members)
        entry = {
            "items_with_value": with_value / len(rows),
            "candidates_with_value": n_value / n_cands if n_cands else float("nan"),
            "mean_candidates": n_cands / len(rows),
        }
        if families is not None:
            entry["items_with_sibling"] = with_sibling / len(rows)
        report[name] = entry
    return report


def model_fingerprint(model_dir) -> str:
    """sha256 over the weights, config and tokenizer files of a Hugging Face model folder (for a
    PEFT adapter folder, its files and its base's fingerprint): bins.jsonl is reused only for
    the model it was made from."""
    import hashlib
    from pathlib import Path

    from squeeze.lm.sources import adapter_base, is_adapter_folder, resolve_model

    root = Path(model_dir)
    names = (
        "config.json",
        "adapter_config.json",
        "generation_config.json",
        "tokenizer.json",
        "tokenizer_config.json",
        "special_tokens_map.json",
    )
    files = sorted([*root.glob("*.safetensors"), *(root / n for n in names if (root / n).is_file())])
    digest = hashlib.sha256()
    if is_adapter_folder(root):
        digest.update(model_fingerprint(resolve_model(adapter_base(root), what="adapter base")).encode())
    for path in files:
        digest.update(path.name.encode() + b"\0")
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def format_escape_route_report(report: dict) -> str:
    if not report:
        return "escape routes: no forget item has a fact; nothing to report"
    lines = [f"escape routes over {report['n_items']} items (share of items whose bin holds ...):"]
    for name in BIN_NAMES:
        e = report[name]
        sibling = f", a sibling template {e['items_with_sibling']:.0%}" if "items_with_sibling" in e else ""
        lines.append(
            f"  {name:>4}: the fact's value {e['items_with_value']:.0%}{sibling}; "
            f"{e['candidates_with_value']:.0%} of its {e['mean_candidates']:.1f} candidates/item carry the value"
        )
    return "\n".join(lines)


def load_bins(path) -> list[ItemBins]:
    """bins.jsonl as written by `squeeze bins`."""
    from squeeze.core.rundir import read_jsonl

    return [ItemBins.from_dict(row) for row in read_jsonl(path)]

"""The verdict of one forget item (DESIGN section 10, as issue 10 redesigned it), a pure rule
on numbers that reads the answer before anything else.

Inputs: the target's per-token mean log-prob under the reference (original) and the
checkpoint (unlearned) model; the judge's Similarity (answer vs target) and Naturalness
(0-5) of the checkpoint's greedy answer; whether that answer was cut off at max_new_tokens;
and, when sampled answers were drawn (temperature 1), their `support`: the share of them
whose Similarity reaches s_min.

    drop     = logp_mean_ref(y_u|x_u) - logp_mean_ckpt(y_u|x_u)      (nats per answer token)
    collapsed  if Naturalness < n_min                (the answer is not language)
    unjudged   elif the answer was cut off            (never judged as if complete)
    conveys    = Similarity >= s_min and (no samples, or support >= min_support)
    retained   if conveys and drop < tau              (the fact is there and the target barely moved)
    spurious   if conveys and drop >= tau             (the target was suppressed, the fact is still there)
    forgotten  otherwise                              (a fluent answer that does not convey the fact)

So every verdict reads the answer: no item is `retained` unless its answer conveys the fact,
and one whose target barely moved but whose answer no longer conveys it is `forgotten`, with
a reason that says the target did not move. `retained` and `spurious` both mean "the model
still states the fact", `forgotten` and `collapsed` that it does not, for every verdict; the
agreement with the world's oracle (`leak_agreement`) counts them that way.

Knowing against guessing: a model that never saw a fact still names the right value by
chance when the value pool is small, but it does not do so consistently; several sampled
answers tell the two apart (`min_support`, default 0.5: at least half the samples must
convey the fact too). With no samples the rule reads the greedy answer alone, and the
retain model's leak rate (the chance baseline) is what such verdicts must be read against.

A judge score that could not be parsed is None (judges/base.py). It is never read as the
lowest score: an item whose needed score is None gets the explicit verdict `unjudged` (a
collapsed answer needs no Similarity). A drop that is NaN (a diverged checkpoint) is
`unjudged` too. The four verdict rates are taken over the judged items and sum to 1; the
unjudged items are counted beside them (`verdict_rates`).

Thresholds come from the packaged `squeeze/defaults/verdict.yaml` (`squeeze judge-calibrate
--write-config` tunes them on the fictitious world against fact leakage; read by
squeeze/diagnose/verdict_config.py); a key missing there keeps the default of
`VerdictThresholds`, chosen before calibration as: tau = 0.5 nats per token (an untouched
model's drop is ~0, and the world's GA/NPO runs remove 1-2 nats per token), n_min = 2.0
(below the midpoint of the 0-5 scale: mostly broken or repetitive text), s_min = 3.0 (the
judge rates the answer as conveying most of the target's information), min_support = 0.5.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field

from squeeze.core.intervals import Rate
from squeeze.diagnose.rows import ALL_VERDICTS, UNJUDGED, VerdictSummary


@dataclass(frozen=True)
class VerdictThresholds:
    tau: float = 0.5  # nats per token the target's mean log-prob must fall to leave `retained`
    n_min: float = 2.0  # Naturalness below this is `collapsed`
    s_min: float = 3.0  # Similarity at or above this: the answer conveys the fact
    min_support: float = 0.5  # share of sampled answers that must convey it too (knowing, not guessing)
    source: str = field(default="defaults", compare=False)  # where the values came from (reported, not used)

    def __post_init__(self):
        from squeeze.core.errors import ConfigError

        for name in ("tau", "n_min", "s_min", "min_support"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ConfigError(f"verdict threshold {name} must be a finite number, got {value!r}")
        if self.tau < 0:
            raise ConfigError(f"verdict threshold tau must be >= 0 nats, got {self.tau}")
        for name in ("n_min", "s_min"):
            if not 0.0 <= getattr(self, name) <= 5.0:
                raise ConfigError(f"verdict threshold {name} must be on the 0-5 scale, got {getattr(self, name)}")
        if not 0.0 <= self.min_support <= 1.0:
            raise ConfigError(f"verdict threshold min_support must be a share in [0, 1], got {self.min_support}")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class ItemVerdict:
    verdict: str  # one of ALL_VERDICTS
    reason: str  # the comparison that decided it, in words


def _fmt(x: float) -> str:
    return f"{x:.3g}"


def decide(
    logp_mean_drop: float,
    similarity: float | None,
    naturalness: float | None,
    thresholds: VerdictThresholds,
    truncated: bool = False,
    support: float | None = None,
) -> ItemVerdict:
    """The rule of the module docstring for one item. `support` is the share of sampled
    answers with Similarity >= s_min (None: no samples were drawn)."""
    t = thresholds
    if logp_mean_drop is None or math.isnan(logp_mean_drop):
        return ItemVerdict(UNJUDGED, "the target's log-prob change is undefined (NaN)")
    if naturalness is None:
        return ItemVerdict(UNJUDGED, "the judge's Naturalness could not be parsed")
    if naturalness < t.n_min:
        return ItemVerdict("collapsed", f"Naturalness {_fmt(naturalness)} < n_min {_fmt(t.n_min)}")
    natural = f"Naturalness {_fmt(naturalness)} ok"
    if truncated:
        return ItemVerdict(
            UNJUDGED, f"{natural}; the answer was cut off at max_new_tokens, so it is not judged as complete"
        )
    if similarity is None:
        return ItemVerdict(UNJUDGED, f"{natural}; the judge's Similarity could not be parsed")
    moved = logp_mean_drop >= t.tau
    target = (
        f"target fell {_fmt(logp_mean_drop)} >= tau {_fmt(t.tau)}"
        if moved
        else f"target barely moved ({_fmt(logp_mean_drop)} < tau {_fmt(t.tau)} nats/token)"
    )
    if similarity < t.s_min:
        return ItemVerdict(
            "forgotten",
            f"{natural}; Similarity {_fmt(similarity)} < s_min {_fmt(t.s_min)}: the answer does not convey the fact; {target}",
        )
    said = f"Similarity {_fmt(similarity)} >= s_min {_fmt(t.s_min)}"
    if support is not None:
        if support < t.min_support:
            return ItemVerdict(
                "forgotten",
                f"{natural}; {said}, but only {support:.0%} of the sampled answers convey it "
                f"(< {t.min_support:.0%}): a guess, not knowledge; {target}",
            )
        said += f", and {support:.0%} of the sampled answers"
    if moved:
        return ItemVerdict("spurious", f"{natural}; {said}: the fact is still there; {target}")
    return ItemVerdict("retained", f"{natural}; {said}: the fact is still there; {target}")


def verdict_rates(verdicts: Iterable[str]) -> dict:
    """Counts of all five outcomes; the four verdict rates over judged items (sum 1, or all
    None when nothing was judged) with their Wilson 95% intervals (`ci95`); the unjudged
    share of all items (`VerdictSummary.to_dict`)."""
    return VerdictSummary.of(verdicts).to_dict()


def thresholds_from_mapping(values: Mapping, source: str) -> VerdictThresholds:
    """tau, n_min, s_min from a mapping (missing keys keep the defaults)."""
    base = VerdictThresholds()
    try:
        return VerdictThresholds(
            tau=float(values.get("tau", base.tau)),
            n_min=float(values.get("n_min", base.n_min)),
            s_min=float(values.get("s_min", base.s_min)),
            min_support=float(values.get("min_support", base.min_support)),
            source=source,
        )
    except (TypeError, ValueError) as exc:
        from squeeze.core.errors import ConfigError

        raise ConfigError(f"{source}: tau, n_min and s_min must be numbers ({exc})") from None


# ---- agreement with the world's leakage oracle --------------------------------------------

KNOWS = ("spurious", "retained")  # verdicts that say the answer still conveys the fact


def cohen_kappa(a: list[bool], b: list[bool]) -> float | None:
    """Cohen's kappa of two binary ratings: (p_o - p_e) / (1 - p_e), with p_o the observed
    agreement and p_e = p_a p_b + (1 - p_a)(1 - p_b) the agreement by chance. None when
    p_e = 1 (both raters gave one class only: agreement beyond chance is undefined)."""
    if len(a) != len(b):
        raise ValueError(f"{len(a)} ratings against {len(b)}")
    if not a:
        return None
    n = len(a)
    p_o = sum(x == y for x, y in zip(a, b, strict=False)) / n
    p_a, p_b = sum(a) / n, sum(b) / n
    p_e = p_a * p_b + (1 - p_a) * (1 - p_b)
    return None if p_e >= 1.0 else (p_o - p_e) / (1 - p_e)


def leak_agreement(verdicts: list[str], leaks: list[bool | None]) -> dict:
    """The oracle's fact-leakage rate beside the verdicts, and how far they agree.

    `leaks[i]` says whether item i's greedy answer still states the fact (None: no fact).
    Over items with a fact: `leak_rate`; per verdict, its items and how many leak; over the
    judged items with a fact: `leaking_judged_knows` (share of leaking items judged spurious
    or retained), `clean_judged_gone` (share of non-leaking items judged forgotten or
    collapsed), `agreement` and Cohen's `kappa` between "leaks" and "verdict in {spurious,
    retained}". None where a share has no items.
    """
    pairs = [(v, bool(leak)) for v, leak in zip(verdicts, leaks, strict=False) if leak is not None]
    if not pairs:
        return {"n_items": 0, "leak_rate": None}
    by_verdict = {v: {"n": 0, "leaks": 0} for v in ALL_VERDICTS}
    for v, leak in pairs:
        by_verdict[v]["n"] += 1
        by_verdict[v]["leaks"] += leak
    judged = [(v in KNOWS, leak) for v, leak in pairs if v != UNJUDGED]
    leaking = [knows for knows, leak in judged if leak]
    clean = [knows for knows, leak in judged if not leak]
    leak = Rate.count(leak for _, leak in pairs)
    return {
        "n_items": len(pairs),
        "n_judged": len(judged),
        "leak_rate": leak.rate,
        "leak": leak.to_dict(),
        "leak_rate_ci95": list(leak.ci95),
        "by_verdict": by_verdict,
        "leaking_judged_knows": sum(leaking) / len(leaking) if leaking else None,
        "clean_judged_gone": (len(clean) - sum(clean)) / len(clean) if clean else None,
        "agreement": sum(knows == leaks for knows, leaks in judged) / len(judged) if judged else None,
        "kappa": cohen_kappa([leaks for _, leaks in judged], [knows for knows, _ in judged]),
    }

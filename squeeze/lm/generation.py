"""One generation interface, several backends (DESIGN section 4).

`generate(model, tokenizer, prompts, n, mode)` returns, per prompt, candidates with their
text, answer token ids (EOS included when the model emitted it) and the per-token log-probs
*of the generating model* (softmax of its raw logits at temperature 1, whatever the
sampling temperature), so the same candidate teacher-forced after the same prompt scores
the same. Batched, left-padded, under `torch.inference_mode`. Backend `transformers` here;
`vllm` is a separate optional backend behind the same function signature.

    from squeeze.lm.generation import generate_answers
    beams = generate_answers(model, tokenizer, ["Where was Ada born?"], n=5, mode="beam")
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import nullcontext
from typing import Literal

import torch
from tqdm.auto import tqdm

from squeeze.core.types import Candidate
from squeeze.lm.batching import collator_for
from squeeze.lm.prompting import decode_answer, encode_prompt

Mode = Literal["greedy", "beam", "sample"]
MODES = ("greedy", "beam", "sample")


def _truncate_at_eos(token_ids: list[int], eos_ids: set[int], pad_id: int | None) -> int:
    """Length of the answer: up to and including the first EOS, excluding trailing padding."""
    for i, tok in enumerate(token_ids):
        if tok in eos_ids:
            return i + 1
    n = len(token_ids)
    while n > 0 and pad_id is not None and token_ids[n - 1] == pad_id and pad_id not in eos_ids:
        n -= 1
    return n


def _eos_ids(model, tokenizer) -> set[int]:
    ids = model.generation_config.eos_token_id
    out = set(ids if isinstance(ids, list) else [ids] if ids is not None else [])
    if tokenizer.eos_token_id is not None:
        out.add(tokenizer.eos_token_id)
    return out


@torch.inference_mode()
def _generate_batch(
    model, tokenizer, prompt_batch, n: int, mode: Mode, max_new_tokens: int, temperature: float, top_p: float
):
    collate = collator_for(tokenizer, padding_side="left")
    batch = collate([(p, []) for p in prompt_batch])
    device = next(model.parameters()).device
    input_ids = batch["input_ids"].to(device)
    attention = batch["attention_mask"].to(device)
    kwargs = dict(
        max_new_tokens=max_new_tokens,
        return_dict_in_generate=True,
        output_logits=True,
        pad_token_id=collate.pad_id,
        eos_token_id=sorted(_eos_ids(model, tokenizer)) or None,
        num_return_sequences=n,
    )
    if mode == "greedy":
        if n != 1:
            raise ValueError("greedy decoding gives one candidate per prompt; use mode='beam' or 'sample' for n > 1")
        kwargs.update(do_sample=False, num_beams=1)
    elif mode == "beam":
        kwargs.update(do_sample=False, num_beams=n, early_stopping=True, length_penalty=1.0)
    else:
        kwargs.update(do_sample=True, num_beams=1, temperature=temperature, top_p=top_p, top_k=0)
    out = model.generate(input_ids=input_ids, attention_mask=attention, **kwargs)
    new_tokens = out.sequences[:, input_ids.shape[1] :]
    # Raw logits at each step, one row per live hypothesis; log-softmax at temperature 1.
    step_logprobs = torch.stack([torch.log_softmax(step.float(), dim=-1) for step in out.logits], dim=1)
    beam_indices = getattr(out, "beam_indices", None)
    return new_tokens.cpu(), step_logprobs.cpu(), (beam_indices.cpu() if beam_indices is not None else None)


def generate(
    model,
    tokenizer,
    prompts: Sequence[Sequence[int]],
    n: int = 1,
    mode: Mode = "greedy",
    max_new_tokens: int = 32,
    temperature: float = 1.0,
    top_p: float = 1.0,
    batch_size: int = 16,
    seed: int | None = None,
    progress: bool = False,
) -> list[list[Candidate]]:
    """Candidates for each prompt (prompt token ids, as `squeeze.lm.prompting.encode_prompt` gives)."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if n < 1:
        raise ValueError("n must be at least 1")
    was_training = model.training
    model.eval()
    eos_ids = _eos_ids(model, tokenizer)
    pad_id = tokenizer.pad_token_id
    results: list[list[Candidate]] = []
    # Sampling must not disturb the caller's RNG stream (the trainer checkpoints it).
    rng = torch.random.fork_rng(devices=[]) if seed is not None else nullcontext()
    try:
        with rng:
            if seed is not None:
                torch.manual_seed(seed)
            starts = range(0, len(prompts), batch_size)
            for start in tqdm(starts, desc=f"generate ({mode})", disable=not progress, leave=False):
                chunk = prompts[start : start + batch_size]
                new_tokens, step_logprobs, beam_indices = _generate_batch(
                    model, tokenizer, chunk, n, mode, max_new_tokens, temperature, top_p
                )
                for p in range(len(chunk)):
                    cands = []
                    for j in range(n):
                        row = p * n + j
                        ids = new_tokens[row].tolist()
                        length = _truncate_at_eos(ids, eos_ids, pad_id)
                        # Cut off: no EOS and every one of max_new_tokens used (a batch-mate's
                        # longer answer pads a finished one, which is not cut off).
                        ended = any(tok in eos_ids for tok in ids[:length]) or length < max_new_tokens
                        ids = ids[:length]
                        logps = []
                        for t, tok in enumerate(ids):
                            src = row if beam_indices is None else int(beam_indices[row, t])
                            logps.append(float(step_logprobs[src, t, tok]))
                        cands.append(
                            Candidate(
                                text=decode_answer(tokenizer, ids), token_ids=ids, token_logprobs=logps, ended=ended
                            )
                        )
                    results.append(cands)
    finally:
        model.train(was_training)
    return results


def generate_answers(model, tokenizer, questions: Sequence[str], **kwargs) -> list[list[Candidate]]:
    """`generate` on formatted prompts for raw questions."""
    return generate(model, tokenizer, [encode_prompt(tokenizer, q) for q in questions], **kwargs)

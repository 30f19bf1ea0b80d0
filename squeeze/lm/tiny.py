"""Small models and word-level tokenizers built in code (DESIGN section 4).

Tests and the demo never download weights: they build a word-level tokenizer from a corpus
with the `tokenizers` library and a small Llama-architecture model from a config.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from squeeze.lm.prompting import PLAIN_TEMPLATE

SPECIAL_TOKENS = {"pad_token": "<pad>", "unk_token": "<unk>", "bos_token": "<bos>", "eos_token": "<eos>"}


def build_word_tokenizer(corpus: Iterable[str]) -> PreTrainedTokenizerFast:
    """A word-level tokenizer whose vocabulary is every word and punctuation mark in `corpus`.

    Words are sorted so the same corpus always gives the same ids.
    """
    pre = pre_tokenizers.Whitespace()
    words: set[str] = set()
    # The plain prompt form's own words must never be unknown.
    for text in [*corpus, PLAIN_TEMPLATE]:
        words.update(piece for piece, _ in pre.pre_tokenize_str(text))
    specials = list(SPECIAL_TOKENS.values())
    vocab = {tok: i for i, tok in enumerate(specials + sorted(words - set(specials)))}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token=SPECIAL_TOKENS["unk_token"]))
    core.normalizer = normalizers.NFKC()
    core.pre_tokenizer = pre
    core.decoder = decoders.WordPiece(prefix="##", cleanup=True)
    bos = SPECIAL_TOKENS["bos_token"]
    core.post_processor = processors.TemplateProcessing(single=f"{bos} $A", special_tokens=[(bos, vocab[bos])])
    return PreTrainedTokenizerFast(tokenizer_object=core, **SPECIAL_TOKENS)


def build_tiny_llama(
    vocab_size: int,
    hidden_size: int = 64,
    num_layers: int = 4,
    num_heads: int = 4,
    intermediate_size: int | None = None,
    max_positions: int = 128,
    seed: int = 0,
    tokenizer: PreTrainedTokenizerFast | None = None,
) -> LlamaForCausalLM:
    config = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=hidden_size,
        intermediate_size=intermediate_size or 2 * hidden_size,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        num_key_value_heads=num_heads,
        max_position_embeddings=max_positions,
        tie_word_embeddings=True,
        pad_token_id=tokenizer.pad_token_id if tokenizer is not None else 0,
        bos_token_id=tokenizer.bos_token_id if tokenizer is not None else 2,
        eos_token_id=tokenizer.eos_token_id if tokenizer is not None else 3,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.generation_config.pad_token_id = config.pad_token_id
    model.generation_config.eos_token_id = config.eos_token_id
    model.generation_config.bos_token_id = config.bos_token_id
    return model


def tiny_model_and_tokenizer(corpus: Iterable[str], **model_kwargs) -> tuple[LlamaForCausalLM, PreTrainedTokenizerFast]:
    tokenizer = build_word_tokenizer(corpus)
    return build_tiny_llama(len(tokenizer), tokenizer=tokenizer, **model_kwargs), tokenizer

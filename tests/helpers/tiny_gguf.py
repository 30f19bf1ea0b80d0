"""A tiny Llama written as a GGUF file with the `gguf` package (float32 tensors, a small
byte-level BPE vocabulary with ChatML special tokens and a chat template), so a loaded GGUF
can be checked against the exact model it came from. Shared by the GGUF and model-source tests."""

from __future__ import annotations

import gguf
import numpy as np
from tokenizers.pre_tokenizers import ByteLevel

from squeeze.lm.tiny import build_tiny_llama

CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]  # ids 0, 1, 2: unk, bos, eos (= pad)
MERGES = ["Ġ t", "h e", "Ġt he"]
HF_TO_GGUF_LAYER = {
    "input_layernorm": "attn_norm",
    "self_attn.q_proj": "attn_q",
    "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output",
    "post_attention_layernorm": "ffn_norm",
    "mlp.gate_proj": "ffn_gate",
    "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
}


def vocabulary() -> tuple[list[str], list[int]]:
    """Tokens and their GGUF types: 3 = control (the ChatML markers), 1 = normal."""
    tokens = SPECIALS + sorted(ByteLevel.alphabet()) + ["Ġt", "he", "Ġthe"]
    return tokens, [3] * len(SPECIALS) + [1] * (len(tokens) - len(SPECIALS))


def to_rotary_pairs(weight: np.ndarray, heads: int) -> np.ndarray:
    """llama.cpp stores q/k rows with each head's two rotary halves interleaved; transformers undoes this on load."""
    rows = weight.shape[0] // heads // 2
    return weight.reshape(heads, 2, rows, *weight.shape[1:]).swapaxes(1, 2).reshape(weight.shape)


def write_tiny_gguf(path, seed: int = 0):
    """Write a 2-layer Llama with a ChatML tokenizer as a float32 GGUF; return the source model."""
    tokens, types = vocabulary()
    model = build_tiny_llama(len(tokens), hidden_size=32, num_layers=2, num_heads=4, max_positions=64, seed=seed)
    cfg = model.config
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name("tiny llama")
    writer.add_context_length(cfg.max_position_embeddings)
    writer.add_block_count(cfg.num_hidden_layers)
    writer.add_feed_forward_length(cfg.intermediate_size)
    writer.add_embedding_length(cfg.hidden_size)
    writer.add_rope_dimension_count(cfg.hidden_size // cfg.num_attention_heads)
    writer.add_rope_freq_base(10000.0)
    writer.add_head_count(cfg.num_attention_heads)
    writer.add_head_count_kv(cfg.num_key_value_heads)
    writer.add_layer_norm_rms_eps(cfg.rms_norm_eps)
    writer.add_tokenizer_model("gpt2")
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_token_merges(MERGES)
    writer.add_unk_token_id(0)
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    writer.add_pad_token_id(2)
    writer.add_chat_template(CHAT_TEMPLATE)

    names = {"model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight"}
    for layer in range(cfg.num_hidden_layers):
        for hf, name in HF_TO_GGUF_LAYER.items():
            names[f"model.layers.{layer}.{hf}.weight"] = f"blk.{layer}.{name}.weight"
    state = model.state_dict()  # no output.weight: the embeddings are tied
    for hf, name in names.items():
        weight = state[hf].detach().numpy()
        if ".attn_q." in name:
            weight = to_rotary_pairs(weight, cfg.num_attention_heads)
        elif ".attn_k." in name:
            weight = to_rotary_pairs(weight, cfg.num_key_value_heads)
        writer.add_tensor(name, np.ascontiguousarray(weight, dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return model.eval()

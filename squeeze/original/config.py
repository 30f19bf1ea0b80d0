"""Settings of `squeeze train-original` (kept free of torch at import, so `--help` is fast)."""

from __future__ import annotations

from dataclasses import dataclass

from squeeze.core.config import check_ranges, option
from squeeze.core.errors import ConfigError


@dataclass
class TrainOriginalConfig:
    world: str = option("", "world directory written by `squeeze world`")
    out: str = option("runs/original", "run directory; models go to OUT/original and OUT/retain")
    hidden_size: int = option(64, "model width")
    num_layers: int = option(4, "transformer layers")
    num_heads: int = option(4, "attention heads")
    epochs: int = option(
        20, "passes over the training pairs (each pass shows every answer template of every fact once)"
    )
    batch_size: int = option(64, "sequences per step")
    lr: float = option(4e-3, "peak learning rate (AdamW, linear warm-up, cosine decay)")
    warmup_frac: float = option(0.05, "fraction of steps for linear warm-up")
    weight_decay: float = option(0.0, "AdamW weight decay")
    seed: int = option(0, "seed for initialisation and data order")
    threads: int = option(1, "torch CPU threads per training process (0: torch's default); tiny models run best on one")
    parallel: bool = option(True, "train the models in parallel processes")
    models: list = option(["original", "retain"], "which models to train")
    base_model: str = option(
        "",
        "pretrained model to fine-tune instead of training from scratch: a Hugging Face folder, a .gguf file or a known name (smollm2-135m-instruct); its tokenizer and chat template are used and hidden_size/num_layers/num_heads are ignored. '' trains a tiny Llama from scratch. Pretrained models want a far lower lr (5e-5 .. 2e-4)",
    )
    max_length: int = option(0, "cut training sequences to this many tokens, prompt first (0: no cut)")
    device: str = option("cpu", "cpu (tiny models train fastest on CPU threads), auto, cuda or cuda:N")
    dtype: str = option(
        "fp32", "fp32; bf16: mixed precision (fp32 weights, bf16 autocast compute; slow on a CPU); auto: bf16 on a GPU"
    )

    def check(self) -> TrainOriginalConfig:
        """One clear error for an impossible setting, before anything is loaded or written."""
        if not self.lr > 0:  # also nan
            raise ConfigError(f"lr must be > 0, got {self.lr}")
        check_ranges(
            self,
            {
                "hidden_size": (1, None),
                "num_layers": (1, None),
                "num_heads": (1, None),
                "epochs": (1, None),
                "batch_size": (1, None),
                "warmup_frac": (0, 1),
                "weight_decay": (0, None),
                "seed": (0, 2**32 - 1),
                "threads": (0, None),
                "max_length": (0, None),
            },
        )
        self.training_dtype()  # one clear line for a bad device or dtype
        if not self.world:
            raise ConfigError("no world: pass --world DIR (written by `squeeze world`)")
        return self

    def training_dtype(self):
        """(device, compute dtype) of training, through squeeze.lm.runtime: float32 or bfloat16."""
        import torch

        from squeeze.lm.runtime import resolve_device, resolve_dtype

        device = resolve_device(self.device)
        dtype = resolve_dtype(self.dtype, device)
        if dtype not in (torch.float32, torch.bfloat16):
            raise ConfigError(
                f"dtype {self.dtype!r}: training takes fp32, bf16 or auto (fp16 would need a loss scaler)"
            )
        return device, dtype

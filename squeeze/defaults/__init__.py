"""The defaults that ship inside the package: read them through `squeeze.core.resources`.

- `verdict.yaml`: the calibrated verdict thresholds (tau, n_min, s_min) of DESIGN section 10
- `judges/embedding.yaml`: the embedding judge's calibrated 0-5 mapping
- `methods/<name>.yaml`: each unlearning method's default settings (DESIGN section 5)
- `benchmarks/aggregates.yaml`: the named Mem/Util/Agg definitions (DESIGN section 9)

`squeeze judge-calibrate --write-config` rewrites the first two. User-facing settings (the
experiments and the accelerate launch configs) stay in the checkout's `configs/`.
"""

"""The defaults that ship inside the package: read them through `squeeze.core.resources`.

- `verdict.yaml`: the calibrated verdict thresholds (tau, n_min, s_min) of DESIGN section 10
- `judges/embedding.yaml`: the embedding judge's calibrated 0-5 mapping
- `benchmarks/aggregates.yaml`: the named Mem/Util/Agg definitions (DESIGN section 9)

`squeeze judge-calibrate --write-config` rewrites the first two. User-facing settings (the
experiments and the accelerate launch configs) stay in the checkout's `configs/`. A method's
defaults (gamma, alpha, retain loss, its own parameters) have one home: its `Objective` in
`methods/<name>.py` (issue 12, item 3), so there is no method YAML here.
"""

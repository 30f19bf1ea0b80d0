"""The unlearn stage (`squeeze unlearn`): one objective on an original model, with the tracker
when the run folder holds bins.jsonl (DESIGN sections 6 and 8).

    cfg = load_unlearn_config("npo", original="runs/original", world="runs/world", out="runs/npo", steps=100)
    run(cfg)
    run(load_unlearn_config(config_paths=["runs/npo/config.yaml"], out="runs/npo"), resume=True)
"""

from __future__ import annotations

from pathlib import Path

from squeeze.unlearn.config import UnlearnConfig


def run(cfg: UnlearnConfig, resume: bool = False) -> Path:
    """Unlearn with `cfg` (continuing from its last good checkpoint when `resume`); returns the run folder."""
    from squeeze.track.tracker import tracker_for_trainer
    from squeeze.unlearn.trainer import Trainer

    trainer = Trainer(cfg, resume=resume)
    # On when cfg.out holds bins.jsonl (`squeeze bins --out RUN`); score_batch_size=auto sizes its batches too.
    sized = {"batch_size": trainer.score_batch} if cfg.score_batch_size == "auto" else {}
    tracker = tracker_for_trainer(trainer, **sized)
    if tracker is not None:
        trainer.hooks.append(tracker)
    if cfg.report_to == "tensorboard":  # after the tracker: it scores each step first
        from squeeze.unlearn.tensorboard import TensorBoardLogger

        trainer.hooks.append(TensorBoardLogger(trainer.run.root, tracker))
    return trainer.train()

"""`squeeze unlearn report_to=tensorboard`: the run's curves as TensorBoard scalars (issue 15, item 4).

A trainer hook (squeeze.unlearn.trainer.TrainerHook) that writes local event files under
RUN/tensorboard (view them with `tensorboard --logdir RUN/tensorboard`):
- `loss/<term>` and `lr`: every row of RUN/loss_log.jsonl (loss, forget, retain, ... and the
  learning rate), at its optimizer step. The trainer calls hooks only at tracked steps, so the
  rows logged since the last call are written then, each at its own step;
- `dynamics/<series>`: at each tracked step, the tracker's curves, the median over items of
  the change since step 0 of the target's log-prob and of the high / mid / low bin masses (nats),
  the same numbers the dynamics figure draws (squeeze.track.plots.dynamics_deltas); and
  `dynamics/target_drop_mean`, the mean target drop (squeeze.track.stats.drop_curve).

The hook goes after the tracker in the hook list, so the tracker has scored the step first.
Without a tracker (no bins.jsonl in the run folder) only losses and the learning rate are written.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from squeeze.core.errors import ConfigError

REPORT_TO = ("none", "tensorboard")
LOG_DIR = "tensorboard"


def summary_writer(log_dir: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as exc:  # torch's writer needs the tensorboard package
        raise ConfigError(
            f"report_to=tensorboard needs the tensorboard package: pip install 'squeeze[logging]' ({exc})"
        ) from None
    return SummaryWriter(log_dir=str(log_dir))


def loss_rows(run_dir: Path, after: int) -> list[dict]:
    """The rows of RUN/loss_log.jsonl past optimizer step `after`."""
    path = Path(run_dir) / "loss_log.jsonl"
    if not path.is_file():
        return []
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [row for row in rows if row["step"] > after]


def dynamics_scalars(dynamics, step: int) -> dict[str, float]:
    """The tracker's curves at `step`: median change since step 0 per series, mean target drop."""
    from squeeze.track.plots import SERIES, dynamics_deltas
    from squeeze.track.stats import drop_curve

    if not len(dynamics) or step not in set(dynamics["step"]):
        return {}
    deltas = dynamics_deltas(dynamics)
    at_step = deltas.xs(step, level="step")
    values = {f"dynamics/{column}": float(at_step[column].median()) for column, _, _ in SERIES}
    values["dynamics/target_drop_mean"] = float(drop_curve(dynamics).loc[step, "target_drop_mean"])
    return {name: value for name, value in values.items() if math.isfinite(value)}


class TensorBoardLogger:
    """Trainer hook writing losses, lr and the tracker's curves as TensorBoard scalars."""

    def __init__(self, run_dir: str | Path, tracker=None):
        self.run_dir = Path(run_dir)
        self.tracker = tracker
        self.logged_step = 0  # loss rows up to this optimizer step are written
        self._writer = None

    @property
    def writer(self):
        if self._writer is None:
            self._writer = summary_writer(self.run_dir / LOG_DIR)
        return self._writer

    def _write_losses(self) -> None:
        for row in loss_rows(self.run_dir, self.logged_step):
            for key, value in row.items():
                if key != "step" and isinstance(value, int | float):
                    self.writer.add_scalar("lr" if key == "lr" else f"loss/{key}", float(value), row["step"])
            self.logged_step = row["step"]

    def on_step(self, step: int, model, trainer=None) -> None:
        if not getattr(trainer, "is_main", True):
            return
        self._write_losses()
        if self.tracker is not None:
            for name, value in dynamics_scalars(self.tracker.table(), step).items():
                self.writer.add_scalar(name, value, step)
        self.writer.flush()

    def on_end(self, model, trainer=None) -> None:
        if not getattr(trainer, "is_main", True):
            return
        self._write_losses()
        self.writer.close()
        self._writer = None

    def state_dict(self) -> dict:
        return {"logged_step": self.logged_step}

    def load_state_dict(self, state: dict) -> None:
        # Loss rows after the checkpoint are replayed (the trainer truncates the log to it).
        self.logged_step = int(state.get("logged_step", 0))

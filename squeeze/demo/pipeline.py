"""`squeeze demo`: the whole pipeline on the built-in fictitious world, resumable.

world -> original and retain models -> bins -> every method with the tracker -> diagnose
for each -> leaderboard and figures, all under one run directory (default runs/demo). Each
stage is its package's `run(config)`, called in Python with a config composed from the
demo's (never through command-line strings).
Each stage leaves a marker in OUT/stages/ with a fingerprint of its settings and of the
stages it reads (squeeze.core.fingerprint); a re-run skips a finished stage only when the
fingerprint matches, resumes an interrupted unlearning run from its last checkpoint, and
refuses (one line; `--force` recomputes) when finished stages were made with other
settings. A stage that failed, e.g. a diagnosis whose judgments failed, is not done. Offline by default (the
embedding judge); `--judge openai --judge-base-url URL --judge-model NAME` uses a server.

    squeeze demo                 # default settings (about 5 minutes on 2 CPU cores)
    squeeze demo --fast          # a smaller world, four methods (about 1 minute)
"""

from __future__ import annotations

import dataclasses
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tqdm.auto import tqdm

from squeeze.core.errors import ConfigError
from squeeze.core.rundir import RunDir, write_json
from squeeze.demo.config import DEMO_TRACK, DemoConfig
from squeeze.diagnose.options import diagnose_options

# The figures the README shows, copied from a real run: (source under OUT, name in figures/).
README_FIGURES = [
    ("figures/dynamics.png", "dynamics.png"),
    ("figures/matched_forgetting.png", "matched_forgetting.png"),
    ("leaderboard/leaderboard.png", "verdicts.png"),
]


@dataclass
class Stage:
    name: str
    action: Callable[[], None]
    settings: dict = field(default_factory=dict)  # what, besides its upstream stages, makes its output
    after: tuple[str, ...] = ()  # the stages whose outputs it reads
    outputs: tuple[Path, ...] = ()  # removed before it runs afresh with other settings


class Demo:
    """The stages of the demo, each a stage's `run(config)` called with a config composed here."""

    def __init__(self, cfg: DemoConfig):
        self.cfg = cfg
        self.run = RunDir(cfg.out).create()
        self.world = self.run / "world"
        self.original = Path(cfg.original_run) if cfg.original_run else self.run / "original"
        self.bins = self.run / "bins"
        self.methods_dir = self.run / "methods"
        self.stage_dir = self.run / "stages"

    # -- stages --------------------------------------------------------------------------
    def make_world(self) -> None:
        from squeeze.world import stage

        c = self.cfg
        world = stage.WorldConfig(
            out=str(self.world),
            people=c.people,
            seed=c.world_seed,
            forget_pct=c.forget_pct,
            forget_people=c.forget_people,
        )
        stage.run(world)

    def original_config(self):
        from squeeze.original.config import TrainOriginalConfig

        c = self.cfg
        cfg = TrainOriginalConfig(world=str(self.world), out=str(self.original), epochs=c.epochs)
        # Only settings the demo config changes are passed on, so the from-scratch demo runs as before.
        optional = {"base_model": c.base_model, "lr": c.train_lr, "batch_size": c.train_batch_size}
        optional["threads"] = c.train_threads
        given = {key: value for key, value in optional.items() if value}
        return dataclasses.replace(cfg, parallel=c.train_parallel, **given)

    def train_original(self) -> None:
        from squeeze.original.train import run

        run(self.original_config())

    def reuse_original(self) -> None:
        """`original_run`: its original/ and retain/ models, checked to be trained on this world."""
        check_trained_on(self.original, self.world)

    def make_bins(self) -> None:
        from squeeze.bins import stage

        model, forget, out = str(self.original / "original"), str(self.world), str(self.bins)
        stage.run(stage.BinsConfig(model=model, forget=forget, out=out, candidates=self.cfg.candidates))

    def method_run(self, method: str) -> Path:
        return self.methods_dir / method

    def unlearn_config(self, method: str):
        from squeeze.unlearn.config import load_unlearn_config

        c, out = self.cfg, self.method_run(method)
        if (out / "config.yaml").exists():  # interrupted earlier: its own settings, to continue it
            return load_unlearn_config("", [str(out / "config.yaml")], out=str(out))
        return load_unlearn_config(
            method,
            original=str(self.original),
            world=str(self.world),
            out=str(out),
            lr=c.lr,
            steps=c.steps,
            forget_batch_size=c.forget_batch_size,
            retain_batch_size=c.retain_batch_size,
            track_every=c.track_every,
            track=dict(c.track),
            seed=c.seed,
            checkpoint_every=max(c.steps // 3, 1),
        )

    def unlearn(self, method: str) -> None:
        from squeeze.unlearn.stage import run

        out = self.method_run(method)
        out.mkdir(parents=True, exist_ok=True)
        for name in ("bins.jsonl", "bins_meta.json"):  # the tracker follows these bins
            shutil.copy2(self.bins / name, out / name)
        resume = (out / "config.yaml").exists()
        run(self.unlearn_config(method), resume=resume)

    def diagnose_config(self, method: str):
        """The diagnose of one method's run: its data, the reference's bins, the demo's judge and options."""
        from squeeze.diagnose.pipeline import DiagnoseConfig

        c, run = self.cfg, self.method_run(method)
        return DiagnoseConfig(
            model=str(run / "model"),
            reference=str(self.original / "original"),
            forget=str(self.world / "forget.jsonl"),
            retain=str(self.world / "retain.jsonl"),
            retain_model=str(self.original / "retain"),
            world=str(self.world),
            out=str(run / "diagnose"),
            candidates=c.candidates,
            judge=c.judge,
            limit=c.limit or None,
            **diagnose_options(c),
        )

    def diagnose(self, method: str) -> None:
        from squeeze.diagnose.pipeline import run

        cfg = self.diagnose_config(method)
        out = Path(cfg.out)
        out.mkdir(parents=True, exist_ok=True)
        for name in ("bins.jsonl", "bins_meta.json"):  # reuse the reference's bins
            shutil.copy2(self.bins / name, out / name)
        run(cfg)

    def leaderboard(self) -> None:
        from squeeze.leaderboard import stage

        runs = [str(self.method_run(m)) for m in self.cfg.methods]
        stage.run(stage.LeaderboardConfig(runs=runs, out=str(self.run / "leaderboard")))

    def figures(self) -> None:
        from squeeze.track import stage

        runs = [str(self.method_run(m)) for m in self.cfg.methods]
        stage.run(stage.PlotConfig(runs=runs, out=str(self.run / "figures")))
        if self.cfg.figures_dir:
            target = Path(self.cfg.figures_dir)
            target.mkdir(parents=True, exist_ok=True)
            for source, name in README_FIGURES:
                if (self.run / source).exists():
                    shutil.copy2(self.run / source, target / name)
            board = self.run / "leaderboard" / "leaderboard.md"
            if board.exists():
                shutil.copy2(board, target / "leaderboard.md")

    # -- orchestration -------------------------------------------------------------------
    def stages(self) -> list[Stage]:
        c, methods = self.cfg, list(self.cfg.methods)
        world = {"people": c.people, "world_seed": c.world_seed, "forget_pct": c.forget_pct}
        if c.forget_people:  # only when set, so that earlier runs' stage records still match
            world["forget_people"] = c.forget_people
        original = {
            "epochs": c.epochs,
            "base_model": c.base_model,
            "train_lr": c.train_lr,
            "train_batch_size": c.train_batch_size,
        }
        unlearn = {
            "lr": c.lr,
            "steps": c.steps,
            "forget_batch_size": c.forget_batch_size,
            "retain_batch_size": c.retain_batch_size,
            "track_every": c.track_every,
            "seed": c.seed,
        }
        if c.track != DEMO_TRACK:  # only when changed, so that earlier runs' stage records still match
            unlearn["track"] = dict(c.track)
        judged = {
            "candidates": c.candidates,
            "judge": dataclasses.asdict(c.judge),
            "limit": c.limit,
            "options": diagnose_options(c),
        }
        stages = [
            Stage("world", self.make_world, world, (), (self.world,)),
            # A reused original_run is never removed: it is not this demo's output.
            Stage("original", self.reuse_original, {"original_run": c.original_run}, ("world",), ())
            if c.original_run
            else Stage("original", self.train_original, original, ("world",), (self.original,)),
            Stage("bins", self.make_bins, {"candidates": c.candidates}, ("original",), (self.bins,)),
        ]
        for m in methods:
            run = self.method_run(m)
            stages.append(
                Stage(f"unlearn-{m}", lambda m=m: self.unlearn(m), {"method": m, **unlearn}, ("bins",), (run,))
            )
        for m in methods:
            run = self.method_run(m) / "diagnose"
            stages.append(Stage(f"diagnose-{m}", lambda m=m: self.diagnose(m), judged, (f"unlearn-{m}",), (run,)))
        diagnosed = tuple(f"diagnose-{m}" for m in methods)
        figures = {"methods": methods, "figures_dir": c.figures_dir}
        stages += [
            Stage("leaderboard", self.leaderboard, {"methods": methods}, diagnosed, (self.run / "leaderboard",)),
            Stage("figures", self.figures, figures, ("leaderboard",), (self.run / "figures",)),
        ]
        return stages

    def execute(self) -> dict:
        from squeeze.core.config import to_dict
        from squeeze.core.fingerprint import StagePlan

        stages = self.stages()
        plan = StagePlan(self.stage_dir, stages, force=self.cfg.force)  # refuses before any work
        timings, skipped = {}, []
        started = time.perf_counter()
        bar = tqdm(stages, desc="squeeze demo", unit="stage", position=0)
        for stage in bar:
            bar.set_postfix_str(stage.name)
            if plan.is_done(stage):
                timings[stage.name] = plan.seconds(stage)
                skipped.append(stage.name)
                continue
            t0 = time.perf_counter()
            plan.start(stage)
            stage.action()
            timings[stage.name] = time.perf_counter() - t0
            plan.finish(stage, timings[stage.name])
        bar.close()
        summary = {
            "config": to_dict(self.cfg),
            "stage_seconds": timings,
            "skipped_stages": skipped,
            "wall_seconds": time.perf_counter() - started,
        }
        write_json(self.run / "demo_summary.json", summary)
        return summary


def check_trained_on(models: Path, world: Path) -> None:
    """ConfigError unless `models` holds original/ and retain/ trained on `world`: the world its
    train-original settings name (config.yaml there or in _training/, as validate leaves it) has
    the same manifest."""
    import hashlib

    import yaml

    missing = [name for name in ("original", "retain") if not (models / name / "config.json").is_file()]
    if missing:
        raise ConfigError(
            f"original_run {models} has no {' or '.join(missing)} model (expected {models}/<name>/config.json)"
        )
    settings = next((p for p in (models / "config.yaml", models / "_training" / "config.yaml") if p.is_file()), None)
    trained_on = (
        Path(str((yaml.safe_load(settings.read_text(encoding="utf-8")) or {}).get("world", ""))) if settings else None
    )
    if trained_on is None or not (trained_on / "manifest.json").is_file():
        raise ConfigError(
            f"original_run {models}: cannot tell which world its models were trained on (no train-original config.yaml naming one)"
        )

    def digest(folder: Path) -> str:
        return hashlib.sha256((folder / "manifest.json").read_bytes()).hexdigest()

    if digest(trained_on) != digest(world):
        raise ConfigError(
            f"original_run {models} was trained on the world {trained_on}, not on this demo's world {world} "
            "(people, world_seed, forget_pct and forget_people must match)"
        )


def run_demo(cfg: DemoConfig) -> dict:
    from squeeze.core.runlock import RunLock

    cfg.check()
    with RunLock(cfg.out):  # one demo at a time in OUT
        return Demo(cfg).execute()

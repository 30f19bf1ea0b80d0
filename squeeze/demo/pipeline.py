"""`squeeze demo`: the whole pipeline on the built-in fictitious world, resumable.

world -> original and retain models -> bins -> every method with the tracker -> diagnose
for each -> leaderboard and figures, all under one run directory (default runs/demo).
Each finished stage leaves a marker in OUT/stages/; a re-run skips finished stages and
resumes an interrupted unlearning run from its last checkpoint. Offline by default (the
embedding judge); `--judge openai --judge-base-url URL --judge-model NAME` uses a server.

    squeeze demo                 # default settings (about 5 minutes on 2 CPU cores)
    squeeze demo --fast          # a smaller world, four methods (about 1 minute)
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from squeeze.core.errors import SqueezeError
from squeeze.core.rundir import RunDir, read_json, write_json
from squeeze.demo.config import DemoConfig
from squeeze.diagnose.options import diagnose_flags

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


def _cli(argv: list[str]) -> None:
    from squeeze.cli.main import main

    code = main([str(a) for a in argv])
    if code != 0:
        raise SqueezeError(
            f"stage `squeeze {' '.join(map(str, argv[:1]))}` failed (exit {code}); re-run the demo to resume"
        )


class Demo:
    def __init__(self, cfg: DemoConfig):
        self.cfg = cfg
        self.run = RunDir(cfg.out).create()
        self.world = self.run / "world"
        self.original = self.run / "original"
        self.bins = self.run / "bins"
        self.methods_dir = self.run / "methods"
        self.stage_dir = self.run / "stages"

    # -- stages --------------------------------------------------------------------------
    def make_world(self) -> None:
        c = self.cfg
        _cli(["world", "--out", self.world, "--people", c.people, "--seed", c.world_seed, "--forget-pct", c.forget_pct])

    def train_original(self) -> None:
        c = self.cfg
        argv = ["train-original", "--world", self.world, "--out", self.original, f"epochs={c.epochs}"]
        # Only settings the config changes are passed on, so the from-scratch demo runs as before.
        optional = {
            "base_model": c.base_model,
            "lr": c.train_lr,
            "batch_size": c.train_batch_size,
            "threads": c.train_threads,
        }
        argv += [f"{key}={value}" for key, value in optional.items() if value]
        if not c.train_parallel:
            argv.append("parallel=false")
        _cli(argv)

    def make_bins(self) -> None:
        _cli(
            [
                "bins",
                "--model",
                self.original / "original",
                "--forget",
                self.world,
                "--out",
                self.bins,
                "--candidates",
                self.cfg.candidates,
            ]
        )

    def method_run(self, method: str) -> Path:
        return self.methods_dir / method

    def unlearn(self, method: str) -> None:
        c, out = self.cfg, self.method_run(method)
        out.mkdir(parents=True, exist_ok=True)
        for name in ("bins.jsonl", "bins_meta.json"):  # the tracker follows these bins
            shutil.copy2(self.bins / name, out / name)
        if (out / "config.yaml").exists():  # interrupted earlier: continue from its last checkpoint
            _cli(["unlearn", "--out", out, "--resume"])
            return
        _cli(
            [
                "unlearn",
                "--method",
                method,
                "--original",
                self.original,
                "--world",
                self.world,
                "--out",
                out,
                f"lr={c.lr}",
                f"steps={c.steps}",
                f"forget_batch_size={c.forget_batch_size}",
                f"retain_batch_size={c.retain_batch_size}",
                f"track_every={c.track_every}",
                f"seed={c.seed}",
                f"checkpoint_every={max(c.steps // 3, 1)}",
            ]
        )

    def diagnose(self, method: str) -> None:
        c, run = self.cfg, self.method_run(method)
        out = run / "diagnose"
        out.mkdir(parents=True, exist_ok=True)
        for name in ("bins.jsonl", "bins_meta.json"):  # reuse the reference's bins
            shutil.copy2(self.bins / name, out / name)
        argv = [
            "diagnose",
            "--model",
            run / "model",
            "--reference",
            self.original / "original",
            "--forget",
            self.world / "forget.jsonl",
            "--retain",
            self.world / "retain.jsonl",
            "--retain-model",
            self.original / "retain",
            "--world",
            self.world,
            "--out",
            out,
            "--candidates",
            c.candidates,
            *self.judge_args(),
        ]
        if c.limit:
            argv += ["--limit", c.limit]
        _cli(argv + diagnose_flags(c))

    def judge_args(self) -> list:
        c = self.cfg
        args = ["--judge", c.judge]
        if c.judge_base_url:
            args += ["--judge-base-url", c.judge_base_url]
        if c.judge_model:
            args += ["--judge-model", c.judge_model]
        if c.judge == "hf":
            args += ["--judge-scoring", c.judge_scoring]
        return args

    def leaderboard(self) -> None:
        _cli(["leaderboard", *[self.method_run(m) for m in self.cfg.methods], "--out", self.run / "leaderboard"])

    def figures(self) -> None:
        _cli(["plot", *[self.method_run(m) for m in self.cfg.methods], "--out", self.run / "figures"])
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
        stages = [
            Stage("world", self.make_world),
            Stage("original", self.train_original),
            Stage("bins", self.make_bins),
        ]
        stages += [Stage(f"unlearn-{m}", lambda m=m: self.unlearn(m)) for m in self.cfg.methods]
        stages += [Stage(f"diagnose-{m}", lambda m=m: self.diagnose(m)) for m in self.cfg.methods]
        stages += [Stage("leaderboard", self.leaderboard), Stage("figures", self.figures)]
        return stages

    def marker(self, stage: Stage) -> Path:
        return self.stage_dir / f"{stage.name}.json"

    def execute(self) -> dict:
        from squeeze.core.config import to_dict

        stages = self.stages()
        timings, skipped = {}, []
        started = time.perf_counter()
        bar = tqdm(stages, desc="squeeze demo", unit="stage", position=0)
        for stage in bar:
            bar.set_postfix_str(stage.name)
            marker = self.marker(stage)
            if marker.exists():
                timings[stage.name] = read_json(marker)["seconds"]
                skipped.append(stage.name)
                continue
            t0 = time.perf_counter()
            stage.action()
            timings[stage.name] = time.perf_counter() - t0
            write_json(marker, {"stage": stage.name, "seconds": timings[stage.name]})
        bar.close()
        summary = {
            "config": to_dict(self.cfg),
            "stage_seconds": timings,
            "skipped_stages": skipped,
            "wall_seconds": time.perf_counter() - started,
        }
        write_json(self.run / "demo_summary.json", summary)
        return summary


def run_demo(cfg: DemoConfig) -> dict:
    return Demo(cfg).execute()

"""The one place that knows the TensorBoard tags every agent logs, and the progress line."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

import numpy as np
from torch.utils.tensorboard import SummaryWriter
from torch.utils.tensorboard.summary import hparams as hparams_summary

EPISODIC_RETURN = "charts/episodic_return"
EPISODIC_LENGTH = "charts/episodic_length"
SPS = "charts/sps"
EVAL_MEAN_RETURN = "eval/mean_return"
LOSS_PREFIX = "losses/"


class RunLogger:
    """Writes the contract's TensorBoard tags for one run; resuming purges points after the checkpoint."""

    def __init__(self, run_dir: Path, start_step: int = 0) -> None:
        self.writer = SummaryWriter(str(run_dir), purge_step=start_step if start_step > 0 else None)
        self._returns: list[float] = []
        self._lengths: list[int] = []
        self.last_return: float | None = None
        self.episodes_written = False

    def log_config(self, flat_config: Mapping[str, Any], yaml_text: str) -> None:
        """Config as hparams (compares runs in the HPARAMS tab) and as text."""
        hparams = {k: v if isinstance(v, (int, float, str, bool)) else json.dumps(v)
                   for k, v in flat_config.items()}
        hparams = {k: "null" if v is None else v for k, v in hparams.items()}
        for summary in hparams_summary(hparams, {EVAL_MEAN_RETURN: float("nan")}):
            self.writer.file_writer.add_summary(summary)
        self.writer.add_text("config", "```yaml\n" + yaml_text + "\n```", 0)

    def add_episodes(self, returns: np.ndarray, lengths: np.ndarray) -> None:
        """Collect finished episodes; written as their mean at the next `write_scalars`."""
        self._returns.extend(returns.tolist())
        self._lengths.extend(lengths.tolist())
        if len(returns):
            self.last_return = float(returns[-1])

    def write_episodes(self, step: int) -> None:
        """The mean return and length of the episodes collected since the last write, if any."""
        if self._returns:
            self.writer.add_scalar(EPISODIC_RETURN, float(np.mean(self._returns)), step)
            self.writer.add_scalar(EPISODIC_LENGTH, float(np.mean(self._lengths)), step)
            self._returns.clear()
            self._lengths.clear()
            self.episodes_written = True

    def write_scalars(self, step: int, sps: float, losses: Mapping[str, float]) -> None:
        self.write_episodes(step)
        self.writer.add_scalar(SPS, sps, step)
        for name, value in losses.items():
            tag = name if "/" in name else LOSS_PREFIX + name
            self.writer.add_scalar(tag, value, step)

    def write_scalar(self, tag: str, value: float, step: int) -> None:
        self.writer.add_scalar(tag, value, step)

    def write_eval(self, step: int, mean_return: float) -> None:
        self.writer.add_scalar(EVAL_MEAN_RETURN, mean_return, step)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


class Progress:
    """A live progress line on a terminal (a plain line every 10 s otherwise); silent if quiet."""

    def __init__(self, total_steps: int, quiet: bool, stream: TextIO = sys.stderr) -> None:
        self.total_steps = total_steps
        self.quiet = quiet
        self.stream = stream
        self.is_tty = stream.isatty()
        self.interval = 0.25 if self.is_tty else 10.0
        self._last_print = 0.0
        self._line_drawn = False

    def update(self, step: int, sps: float, last_return: float | None, last_eval: float | None,
               force: bool = False) -> None:
        now = time.monotonic()
        if self.quiet or (not force and now - self._last_print < self.interval):
            return
        self._last_print = now
        pct = 100.0 * step / self.total_steps
        ret = "-" if last_return is None else f"{last_return:.1f}"
        ev = "-" if last_eval is None else f"{last_eval:.1f}"
        line = f"step {step:>9,}/{self.total_steps:,} ({pct:5.1f}%)  sps {sps:8.0f}  return {ret}  eval {ev}"
        if self.is_tty:
            self.stream.write("\r" + line.ljust(100))
            self._line_drawn = True
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def close(self) -> None:
        """End the live line (if one is drawn), so later output starts on a fresh line."""
        if self._line_drawn:
            self._line_drawn = False
            self.stream.write("\n")
            self.stream.flush()

    def message(self, text: str, always: bool = False) -> None:
        """A line on the stream (`always`: even when quiet, e.g. where the run was written)."""
        if always or not self.quiet:
            self.close()
            self.stream.write(text + "\n")
            self.stream.flush()

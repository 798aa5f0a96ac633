"""Pretrained weights: load a model (or some of its modules) from a checkpoint or run directory, and freeze modules.

A source is a checkpoint file holding `{"model": state_dict, ...}` (every agent checkpoint, and a pretraining
run's), a file that is a plain state dict, or a run directory (its `checkpoints/best.pt`, else `latest.pt`).
Every tensor (parameters and buffers) of the selected modules must be in the source with the same shape:
nothing silently stays randomly initialised.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from rl_platform.checkpoint import load_checkpoint
from rl_platform.errors import ConfigError
from rl_platform.run_dir import BEST_CHECKPOINT_FILE, run_checkpoint

MODEL_KEY = "model"
_SHOWN = 5  # tensors / names listed in an error message before "... and N more"


def _shown(items: Sequence[str], limit: int = _SHOWN) -> str:
    text = ", ".join(items[:limit])
    return f"{text}, ... and {len(items) - limit} more" if len(items) > limit else text


def _is_state_dict(value: Any) -> bool:
    return (isinstance(value, Mapping) and len(value) > 0
            and all(isinstance(key, str) and isinstance(item, torch.Tensor) for key, item in value.items()))


def checkpoint_file(init_from: str | Path) -> Path:
    """The file `init_from` names: itself, or for a run directory its checkpoints/best.pt, else latest.pt."""
    path = Path(init_from).expanduser()
    if not path.exists():
        raise ConfigError("model.init_from", f"{path} does not exist; give a checkpoint file or a run directory.")
    if not path.is_dir():
        return path
    _, file = run_checkpoint(path, "best")
    if file.is_file():
        return file
    raise ConfigError("model.init_from", f"{path} is a directory without a checkpoint: looked for "
                      f"{path / 'checkpoints' / BEST_CHECKPOINT_FILE} and then {file}.")


def source_state(init_from: str | Path) -> tuple[dict[str, torch.Tensor], Path]:
    """The model state dict in `init_from` (a checkpoint's "model" entry, or a plain state dict) and its file."""
    path = checkpoint_file(init_from)
    try:
        state = load_checkpoint(path)
    except Exception as exc:  # torch.load raises many kinds (pickle, zip, weights_only) for a bad file
        raise ConfigError("model.init_from", f"cannot read {path} as a checkpoint: {exc}") from exc
    if _is_state_dict(state):
        return dict(state), path
    if isinstance(state, Mapping) and MODEL_KEY in state:
        model_state = state[MODEL_KEY]
        if not _is_state_dict(model_state):
            raise ConfigError("model.init_from", f"{path}: its '{MODEL_KEY}' entry is not a state dict "
                              f"(a non-empty mapping of names to tensors).")
        return dict(model_state), path
    keys = f"top-level keys: {_shown(sorted(map(str, state)))}" if isinstance(state, Mapping) else type(state).__name__
    raise ConfigError("model.init_from", f"{path} holds no model weights: no '{MODEL_KEY}' entry and not a plain "
                      f"state dict ({keys}). Checkpoints written before '{MODEL_KEY}' was added cannot be used.")


def _module_names(model: nn.Module) -> list[str]:
    return [name for name, _ in model.named_modules() if name]


def _resolve(model: nn.Module, names: Sequence[str] | str, key_path: str) -> list[str]:
    """Check that every name is a submodule of `model` (top-level child or dotted path); the names, deduplicated."""
    names = [names] if isinstance(names, str) else list(names)
    for name in names:
        try:
            found = model.get_submodule(name) if name else None
        except AttributeError:
            found = None
        if found is None or found is model:
            children = [child for child, _ in model.named_children()]
            dotted = [item for item in _module_names(model) if "." in item]
            example = f" or a dotted path to a submodule (e.g. {_shown(dotted, 3)})" if dotted else ""
            raise ConfigError(key_path, f"{name!r} is not a module of the {type(model).__name__}; use a top-level "
                              f"module ({', '.join(children) or 'none'}){example}.")
    return list(dict.fromkeys(names))


def _under(key: str, modules: Sequence[str]) -> bool:
    return not modules or any(key.startswith(f"{module}.") for module in modules)


def initialize(model: nn.Module, init_from: str | Path | None, init_modules: Sequence[str] = (),
               freeze: Sequence[str] = ()) -> dict[str, Any]:
    """Copy `init_modules` (empty: the whole model) from `init_from`, then freeze the parameters of `freeze`.

    Returns a report: "source" (the file read, or None), "loaded" (state-dict keys copied), "unused" (how many
    source tensors were not needed), "frozen" (parameter names whose requires_grad is now False).
    """
    modules = _resolve(model, init_modules, "model.init_modules")
    frozen_modules = _resolve(model, freeze, "model.freeze")
    report: dict[str, Any] = {"source": None, "loaded": [], "unused": 0, "frozen": []}
    if init_from:
        state, path = source_state(init_from)
        target = {key: value for key, value in model.state_dict().items() if _under(key, modules)}
        key_path = "model.init_modules" if modules else "model.init_from"
        missing = [key for key in target if key not in state]
        mismatched = [f"{key}: model {tuple(value.shape)} vs checkpoint {tuple(state[key].shape)}"
                      for key, value in target.items() if key in state and state[key].shape != value.shape]
        if missing or mismatched:
            problems = []
            if missing:
                problems.append(f"{len(missing)} tensor(s) missing from it ({_shown(missing)})")
            if mismatched:
                problems.append(f"{len(mismatched)} with another shape ({_shown(mismatched)})")
            selected = f"modules {', '.join(modules)}" if modules else "the whole model"
            raise ConfigError(key_path, f"{path} does not fit {selected}: {'; '.join(problems)}. Use a checkpoint "
                              "of the same architecture (model.* settings), or set model.init_modules to the parts "
                              "that match.")
        result = model.load_state_dict({key: state[key] for key in target}, strict=False)
        if result.unexpected_keys or any(key in target for key in result.missing_keys):  # pragma: no cover
            raise RuntimeError(f"loading {path} went wrong: {result}")
        report.update(source=str(path), loaded=list(target), unused=len(state) - len(target))
    elif modules:
        raise ConfigError("model.init_modules", f"is {modules} but model.init_from is not set; set it to the "
                          "checkpoint file or run directory to load them from.")
    for name in frozen_modules:
        model.get_submodule(name).requires_grad_(False)
    if frozen_modules:
        report["frozen"] = [name for name, param in model.named_parameters() if _under(name, frozen_modules)]
    return report


def trainable_parameters(model: nn.Module) -> list[nn.Parameter]:
    """The parameters of `model` with requires_grad: what an optimizer should be built over."""
    return [param for param in model.parameters() if param.requires_grad]

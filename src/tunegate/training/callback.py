"""A transformers `TrainerCallback` that gates the newest adapter during training.

After each epoch (or every N steps) it saves the PEFT adapter, converts it to a llama.cpp
LoRA GGUF for the base model the adapter was trained on, runs the chosen suites with it as
the candidate (recorded in the store as `iteration-N`), and can stop training when the gate
fails or when the candidate stops improving. Imported lazily: `from tunegate.training
import TunegateCallback` needs the `train` extra.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from ..config import LoadedConfig, load_project_config
from ..errors import InputError
from ..suite import discover_suite_files
from .adapter_targets import require_target, with_adapter_target
from .iterations import IterationResult, gate_iteration, template_model_path
from .lora_gguf import convert_peft_to_gguf

__all__ = ["TunegateCallback"]


class TunegateCallback(TrainerCallback):
    """Gate each iteration of a LoRA fine-tune with tunegate.

    template:        the llama-cpp target in tunegate.yaml that serves the base model; each
                     adapter is served by a copy of it with `adapter_path` set
    adapters_dir:    where the adapter GGUFs go, named by `adapter_name` (`{n}` = iteration)
    suites, base:    what to run and what to compare with (default: the config's)
    every_n_steps:   gate every N optimizer steps instead of after each epoch
    stop_on_failure: stop training when an iteration's verdict is `failed`
    patience:        stop when the candidate's pass rate has not improved on the best so far
                     for this many iterations (None: never)
    """

    def __init__(
        self,
        *,
        template: str,
        adapters_dir: str | Path,
        config: str | Path | LoadedConfig | None = None,
        suites: Sequence[str | Path] | None = None,
        base: str | None = None,
        every_n_steps: int | None = None,
        stop_on_failure: bool = False,
        patience: int | None = None,
        adapter_name: str = "iteration-{n}.gguf",
        out: str | Path | None = None,
        on_iteration: Callable[[IterationResult], None] | None = None,
    ) -> None:
        self.loaded = config if isinstance(config, LoadedConfig) else load_project_config(config)
        # Every argument is checked now, not at the end of the first epoch.
        require_target(self.loaded, template, "template")
        require_target(self.loaded, base, "base")
        if every_n_steps is not None and every_n_steps < 1:
            raise InputError(f"every_n_steps must be 1 or more (got {every_n_steps})")
        if patience is not None and (not isinstance(patience, int) or patience < 1):
            raise InputError(f"patience must be a whole number, 1 or more (got {patience!r})")
        try:
            adapter_name.format(n=1)
        except (KeyError, IndexError, ValueError) as exc:
            raise InputError(
                f"adapter_name {adapter_name!r}: only {{n}} (the iteration) may be used ({exc!r})"
            ) from None
        if Path(adapters_dir).exists() and not Path(adapters_dir).is_dir():
            raise InputError(f"adapters_dir {adapters_dir}: is a file; name a folder")
        if suites:
            discover_suite_files([Path(s) for s in suites])
        self.template = template
        self.base_gguf = template_model_path(self.loaded, template)
        self.adapters_dir = Path(adapters_dir)
        self.suites = [Path(s) for s in suites] if suites else None
        self.base = base or self.loaded.config.base
        self.every_n_steps = every_n_steps
        self.stop_on_failure = stop_on_failure
        self.patience = patience
        self.adapter_name = adapter_name
        self.out = Path(out) if out is not None else None
        self.on_iteration = on_iteration
        self.history: list[IterationResult] = []
        self._best: float | None = None
        self._since_best = 0

    # -- transformers hooks --------------------------------------------------------

    def on_epoch_end(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        model: Any = None,
        **kwargs: Any,
    ) -> TrainerControl:
        if self.every_n_steps is None and model is not None:
            self._iteration(model, control)
        return control

    def on_step_end(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        model: Any = None,
        **kwargs: Any,
    ) -> TrainerControl:
        n = self.every_n_steps
        if n is not None and model is not None and state.global_step % n == 0:
            self._iteration(model, control)
        return control

    # -- one iteration -------------------------------------------------------------

    def _iteration(self, model: Any, control: TrainerControl) -> None:
        number = len(self.history) + 1
        adapter = self.adapters_dir / self.adapter_name.format(n=number)
        with tempfile.TemporaryDirectory(prefix="tunegate-peft-") as peft_dir:
            model.save_pretrained(peft_dir)
            convert_peft_to_gguf(Path(peft_dir), base=self.base_gguf, out=adapter)
        name = f"iteration-{number}"
        loaded = with_adapter_target(
            self.loaded, template=self.template, name=name, adapter=adapter
        )
        was_training = bool(getattr(model, "training", False))
        result = gate_iteration(
            loaded, number=number, candidate=name, suites=self.suites, base=self.base, out=self.out
        )
        if was_training:
            model.train()
        self.history.append(result)
        print(result.line(), flush=True)
        if self.on_iteration is not None:
            self.on_iteration(result)
        if self.stop_on_failure and result.verdict == "failed":
            print(f"tunegate: stopping training: {result.label} failed the gate", flush=True)
            control.should_training_stop = True
        if self.patience is not None and result.pass_rate is not None:
            if self._best is None or result.pass_rate > self._best:
                self._best, self._since_best = result.pass_rate, 0
            else:
                self._since_best += 1
                if self._since_best >= self.patience:
                    print(
                        f"tunegate: stopping training: no improvement for {self._since_best} "
                        "iteration(s)",
                        flush=True,
                    )
                    control.should_training_stop = True

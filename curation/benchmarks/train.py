"""`make bench-train`: trainer tokens/s (the tiny preset on the CPU; GPT-3 Small in bf16 and MFU on CUDA).

The trainer has no Spark job and no plain loop to compare with: the figure that matters is MFU on
an accelerator, and tokens/s per core on the CPU.
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import torch

from curation.model import GPT, PRESETS, model_config, padded_vocab
from curation.train import (
    TrainConfig,
    autocast,
    autocast_dtype,
    make_optimizer,
    optimizer_step,
    peak_flops,
    to_device,
)


def bench_preset(preset: str, device: torch.device, vocab: int, steps: int, warmup: int) -> dict:
    """Tokens/s of full optimizer steps (forward, backward, clip, AdamW) on random tokens."""
    cfg = TrainConfig(preset=preset, device=str(device))
    shape = PRESETS[preset]
    cfg = dataclasses.replace(cfg, n_ctx=shape.n_ctx, micro_batch=shape.micro_batch, learning_rate=shape.learning_rate)
    torch.manual_seed(0)
    model = GPT(model_config(preset, vocab)).to(device)
    optimizer = make_optimizer(model, cfg, device)
    amp_dtype = autocast_dtype(cfg, device)
    forward = torch.compile(model) if device.type == "cuda" else model
    generator = torch.Generator().manual_seed(0)
    rows = torch.randint(0, vocab, (shape.micro_batch, shape.n_ctx + 1), generator=generator).numpy()
    batch = [to_device(rows, device)]
    for i in range(warmup + steps):
        if i == warmup:
            if device.type == "cuda":
                torch.cuda.synchronize()
            started = time.perf_counter()
        loss, _ = optimizer_step(forward, optimizer, batch, 1.0, autocast(device, amp_dtype))
    loss.item()
    seconds = time.perf_counter() - started
    tokens_per_s = steps * shape.micro_batch * shape.n_ctx / seconds
    result = {
        "preset": preset,
        "device": device.type,
        "params": model.num_params(),
        "n_ctx": shape.n_ctx,
        "micro_batch": shape.micro_batch,
        "vocab": vocab,
        "dtype": str(amp_dtype or torch.float32).removeprefix("torch."),
        "tokens_per_s": round(tokens_per_s, 1),
    }
    peak = peak_flops(device)
    if peak:
        result["mfu"] = round(model.flops_per_token(shape.n_ctx) * tokens_per_s / peak, 4)
    return result


def bench(argv: list[str] | None = None) -> dict:
    """`make bench-train`: the tiny preset on the CPU; GPT-3 Small in bf16 on CUDA when there is one."""
    parser = argparse.ArgumentParser(prog="bench-train")
    parser.add_argument("--steps", type=int, default=10, help="timed optimizer steps after the warm-up")
    steps = parser.parse_args(argv).steps
    threads = torch.get_num_threads()
    cpu = bench_preset("tiny", torch.device("cpu"), vocab=8192, steps=steps, warmup=3)
    result = {
        "bench": "train",
        **cpu,
        "threads": threads,
        "tokens_per_s_per_core": round(cpu["tokens_per_s"] / threads, 1),
    }
    if torch.cuda.is_available():
        cuda = bench_preset("gpt3-small", torch.device("cuda"), vocab=padded_vocab(50_257), steps=20, warmup=5)
        result.update({f"cuda_{key}": value for key, value in cuda.items() if key != "mfu"})
        result["cuda_device"] = torch.cuda.get_device_name()
        result["mfu"] = cuda.get("mfu")
    return result

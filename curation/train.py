"""Train a GPT on a mixture: `python -m curation.train --manifest RUN/mixture --preset tiny [overrides]`.

The recipe is GPT-3's (Brown et al. 2020, section 2.3 and appendix B):
- Data: every training sequence of n_ctx tokens comes from one dataset, chosen with the manifest's
  weights. Documents are packed back to back, each ending in `<|endoftext|>`, with no mask between
  them. A dataset's token stream (its shards, one after another) is cut into non-overlapping
  sequences, taken in a shuffled order without replacement until the epoch ends, then reshuffled.
  Every random choice is a function of (seed, what is chosen), never a running RNG: the data order
  is a pure function of the seed and the position, so a resumed run reads exactly what it would have
  (`curation.train_data`).
- Optimisation: AdamW (beta1 0.9, beta2 0.95, eps 1e-8, weight decay 0.1 on matrices only), global
  gradient-norm clip 1.0, linear warm-up then cosine decay to 10% of the peak learning rate, both
  measured in tokens; an optional linear batch-size ramp; gradient accumulation over micro-batches.
- Operations: a checkpoint (model, optimiser, RNG, data position, configuration) every
  `checkpoint_every` steps and at the end; `--resume` continues bit-identically on a CPU. Loss per
  dataset (on a fixed sample of its sequences) and on held-out text (`--eval NAME=PATH`) every
  `eval_every` steps. Tokens/s, and model FLOPs utilisation on CUDA, where it also uses bf16 autocast
  and `torch.compile`.

Output under `--out`: `ckpt.pt`, `log.jsonl` (one JSON object per logged step and evaluation) and
`summary.json` (final losses, epochs per dataset against the manifest's, throughput).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import hashlib
import json
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from curation.errors import EXIT_CONFIG, ConfigError
from curation.manifest import ManifestError, Mixture, load_manifest
from curation.model import GPT, PRESETS, model_config, padded_vocab
from curation.options import add_arguments, from_namespace, option
from curation.train_data import MixtureSampler, held_out_text

CHECKPOINT = "ckpt.pt"
GPT3_WARMUP_TOKENS = 375_000_000


@dataclass(frozen=True)
class TrainConfig:
    manifest: str = field(default="", metadata={"help": "the mixture's manifest.json (or its directory)"})
    preset: str = field(default="tiny", metadata={"help": f"model and batch: {', '.join(PRESETS)}"})
    out: str = field(default="runs/train", metadata={"help": "directory for ckpt.pt, log.jsonl, summary.json"})
    seed: int = field(default=0, metadata={"help": "initial weights and data order"})
    # the model; None takes the preset's
    n_layer: int | None = field(default=None, metadata={"help": "transformer blocks (default: the preset's)"})
    n_head: int | None = field(default=None, metadata={"help": "attention heads (default: the preset's)"})
    n_embd: int | None = field(default=None, metadata={"help": "width d_model (default: the preset's)"})
    n_ctx: int | None = field(
        default=None, metadata={"help": "tokens per sequence (default: the preset's; GPT-3: 2048)"}
    )
    sparse_window: int = field(
        default=0, metadata={"help": "odd layers attend this many positions back (0: all dense)"}
    )
    dropout: float = 0.0
    # optimisation; None takes the preset's, or the default described
    tokens: int | None = field(
        default=None, metadata={"help": "token budget: training stops there (default: the manifest's)"}
    )
    batch_tokens: int | None = field(
        default=None, metadata={"help": "tokens per optimizer step (default: the preset's)"}
    )
    micro_batch: int | None = field(
        default=None, metadata={"help": "sequences per forward pass, accumulated to the batch (default: the preset's)"}
    )
    learning_rate: float | None = field(default=None, metadata={"help": "peak learning rate (default: the preset's)"})
    min_lr_ratio: float = field(default=0.1, metadata={"help": "the cosine ends at this fraction of the peak"})
    warmup_tokens: int | None = field(
        default=None, metadata={"help": "default: GPT-3's 375M, at most 2%% of the budget"}
    )
    decay_tokens: int | None = field(default=None, metadata={"help": "where the cosine ends (default: the budget)"})
    batch_ramp_tokens: int = field(default=0, metadata={"help": "ramp the batch size linearly over this many tokens"})
    batch_ramp_start: int = field(default=32_768, metadata={"help": "tokens per step at the start of the ramp"})
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.95
    eps: float = 1e-8
    grad_clip: float = 1.0
    max_steps: int = field(
        default=0, metadata={"help": "stop after this many steps in all (0: at the budget); resume goes on"}
    )
    # evaluation, logging, checkpoints
    eval: tuple[str, ...] = field(
        default=(),
        metadata=option(
            "held-out text NAME=PATH[,format=..,text_field=..] (repeat)", metavar="NAME=PATH", repeatable=True
        ),
    )
    eval_tokens: int = field(default=65_536, metadata={"help": "tokens of each held-out text evaluated"})
    eval_doc_tokens: int = field(
        default=0,
        metadata={
            "help": "at most this many tokens from the start of each held-out "
            "document, so that one long book is not the whole set (0: all)"
        },
    )
    eval_sequences: int = field(default=8, metadata={"help": "fixed sequences per dataset for its loss"})
    eval_every: int = field(default=100, metadata={"help": "steps between evaluations (and one at the end)"})
    log_every: int = 10
    checkpoint_every: int = field(default=500, metadata={"help": "steps between checkpoints (and one at the end)"})
    # where it runs
    device: str = field(default="auto", metadata={"help": "auto (CUDA when there is one), cpu, cuda, cuda:N"})
    dtype: str = field(default="auto", metadata={"help": "auto (bfloat16 autocast on CUDA), float32, bfloat16"})
    compile: str = field(default="auto", metadata={"help": "torch.compile: auto (on CUDA), on, off"})
    threads: int = field(default=0, metadata={"help": "CPU threads (0: torch's default, the physical cores)"})


# settings a resumed run may change: they do not alter what is computed
RESUME_MAY_CHANGE = {
    "manifest",
    "out",
    "max_steps",
    "eval",
    "eval_tokens",
    "eval_doc_tokens",
    "eval_sequences",
    "eval_every",
    "log_every",
    "checkpoint_every",
    "threads",
}


# --- schedule -------------------------------------------------------------------------------


def learning_rate(tokens: int, cfg: TrainConfig) -> float:
    """GPT-3's schedule in tokens: linear warm-up to the peak, cosine decay to min_lr_ratio x peak at
    decay_tokens, constant after."""
    peak, floor = cfg.learning_rate, cfg.learning_rate * cfg.min_lr_ratio
    if tokens < cfg.warmup_tokens:
        return peak * tokens / cfg.warmup_tokens
    if tokens >= cfg.decay_tokens:
        return floor
    progress = (tokens - cfg.warmup_tokens) / (cfg.decay_tokens - cfg.warmup_tokens)
    return floor + (peak - floor) * 0.5 * (1 + math.cos(math.pi * progress))


def batch_sequences(tokens: int, cfg: TrainConfig) -> int:
    """Sequences in the next step (whole micro-batches): the full batch, or on the ramp a linear step
    from batch_ramp_start towards it."""
    full = cfg.batch_tokens // cfg.n_ctx
    if tokens < cfg.batch_ramp_tokens:
        start = cfg.batch_ramp_start / cfg.n_ctx
        wanted = start + (full - start) * tokens / cfg.batch_ramp_tokens
        return max(cfg.micro_batch, int(wanted) // cfg.micro_batch * cfg.micro_batch)
    return full


# --- the model on its device ----------------------------------------------------------------


def pick_device(cfg: TrainConfig) -> torch.device:
    if cfg.device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(cfg.device)


def autocast_dtype(cfg: TrainConfig, device: torch.device) -> torch.dtype | None:
    """bfloat16 autocast on CUDA (where supported), else none: weights and optimizer stay float32."""
    if cfg.dtype == "bfloat16" or (cfg.dtype == "auto" and device.type == "cuda" and torch.cuda.is_bf16_supported()):
        return torch.bfloat16
    return None


def autocast(device: torch.device, dtype: torch.dtype | None):
    return torch.autocast(device_type=device.type, dtype=dtype) if dtype else contextlib.nullcontext()


def make_optimizer(model: GPT, cfg: TrainConfig, device: torch.device) -> torch.optim.AdamW:
    """AdamW with weight decay on the matrices (and embeddings), none on biases and LayerNorm gains."""
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in params if p.dim() >= 2], "weight_decay": cfg.weight_decay},
        {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(
        groups, lr=cfg.learning_rate, betas=(cfg.beta1, cfg.beta2), eps=cfg.eps, fused=device.type == "cuda"
    )


def to_device(rows: np.ndarray, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """(inputs, targets) from sequences of n_ctx + 1 tokens."""
    batch = torch.from_numpy(rows)
    if device.type == "cuda":
        batch = batch.pin_memory().to(device, non_blocking=True)
    return batch[:, :-1], batch[:, 1:]


def optimizer_step(model, optimizer, micro_batches, grad_clip: float, amp) -> tuple[torch.Tensor, torch.Tensor]:
    """One step over `micro_batches` [(inputs, targets), ...] of equal size: mean loss, gradient norm."""
    total = torch.zeros((), device=micro_batches[0][0].device)
    for inputs, targets in micro_batches:
        with amp:
            _, loss = model(inputs, targets)
        (loss / len(micro_batches)).backward()
        total += loss.detach()
    norm = torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return total / len(micro_batches), norm


@torch.no_grad()
def mean_loss(model, windows: np.ndarray, micro_batch: int, device: torch.device, amp) -> float:
    """Mean next-token loss over sequences of equal length."""
    model.eval()
    total = 0.0
    for start in range(0, len(windows), micro_batch):
        inputs, targets = to_device(windows[start : start + micro_batch], device)
        with amp:
            _, loss = model(inputs, targets)
        total += loss.item() * len(inputs)
    model.train()
    return total / len(windows)


PEAK_BF16_FLOPS = (("H100 PCIe", 756e12), ("H100", 989e12), ("H200", 989e12), ("A100", 312e12))


def peak_flops(device: torch.device) -> float | None:
    """Dense bf16 peak of the GPU (CURATION_PEAK_FLOPS overrides); None when unknown or not CUDA."""
    if os.environ.get("CURATION_PEAK_FLOPS"):
        return float(os.environ["CURATION_PEAK_FLOPS"])
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((flops for key, flops in PEAK_BF16_FLOPS if key in name), None)


# --- configuration --------------------------------------------------------------------------


def resolve(cfg: TrainConfig, mixture: Mixture) -> TrainConfig:
    """Every None filled in from the preset and the manifest; ConfigError on what cannot work."""
    if cfg.preset not in PRESETS:
        raise ConfigError(f"unknown preset {cfg.preset!r}: choose one of {', '.join(PRESETS)}")
    preset = PRESETS[cfg.preset]
    n_ctx = cfg.n_ctx or preset.n_ctx
    tokens = cfg.tokens or mixture.token_budget
    sequences = max(1, (cfg.batch_tokens or preset.batch_tokens) // n_ctx)
    micro_batch = min(cfg.micro_batch or preset.micro_batch, sequences)
    values = dict(
        n_layer=cfg.n_layer or preset.n_layer,
        n_head=cfg.n_head or preset.n_head,
        n_embd=cfg.n_embd or preset.n_embd,
        n_ctx=n_ctx,
        tokens=tokens,
        micro_batch=micro_batch,
        batch_tokens=sequences // micro_batch * micro_batch * n_ctx,  # whole micro-batches of whole sequences
        learning_rate=cfg.learning_rate or preset.learning_rate,
        warmup_tokens=cfg.warmup_tokens if cfg.warmup_tokens is not None else min(GPT3_WARMUP_TOKENS, tokens // 50),
        decay_tokens=cfg.decay_tokens or tokens,
    )
    resolved = dataclasses.replace(cfg, **values)
    r = resolved
    checks = [
        (r.n_embd % r.n_head == 0, f"n_embd {r.n_embd} is not a multiple of n_head {r.n_head}"),
        (
            min(r.micro_batch, r.tokens, r.n_ctx, r.learning_rate) > 0,
            "micro_batch, tokens, n_ctx and the learning rate must be positive",
        ),
        (r.decay_tokens > r.warmup_tokens, "decay_tokens must be above warmup_tokens"),
        (0 <= r.min_lr_ratio <= 1, "min_lr_ratio must be between 0 and 1"),
        (r.dtype in ("auto", "float32", "bfloat16"), f"dtype must be auto, float32 or bfloat16, not {r.dtype}"),
        (r.compile in ("auto", "on", "off"), f"compile must be auto, on or off, not {r.compile}"),
        (
            min(r.eval_tokens, r.eval_sequences, r.log_every) > 0,
            "eval_tokens, eval_sequences and log_every must be positive",
        ),
        (r.eval_doc_tokens == 0 or r.eval_doc_tokens >= 2, "eval_doc_tokens must be 0 (whole documents) or at least 2"),
    ]
    for ok, message in checks:
        if not ok:
            raise ConfigError(message)
    return resolved


def open_mixture(path: str) -> Mixture:
    if not path:
        raise ConfigError(
            "--manifest is required: a mixture's manifest.json or its directory (jobs/mixture.py writes it)"
        )
    if not os.path.exists(path):
        raise ConfigError(f"manifest not found: {path}")
    try:
        return load_manifest(path)
    except (ManifestError, json.JSONDecodeError) as err:
        raise ConfigError(f"manifest {path}: {err}") from None


def manifest_sha256(mixture: Mixture) -> str:
    return hashlib.sha256((mixture.root / "manifest.json").read_bytes()).hexdigest()


# --- the run --------------------------------------------------------------------------------


class Run:
    """A training run: model, optimizer, sampler, evaluation sets, and the step it has reached."""

    def __init__(self, cfg: TrainConfig, mixture: Mixture):
        self.cfg, self.mixture = cfg, mixture
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        self.device = pick_device(cfg)
        self.amp_dtype = autocast_dtype(cfg, self.device)
        if self.device.type == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
        torch.manual_seed(cfg.seed)
        vocab = mixture.manifest["tokenizer"]["vocab_size"]
        self.model_config = model_config(
            cfg.preset,
            padded_vocab(vocab),
            n_layer=cfg.n_layer,
            n_head=cfg.n_head,
            n_embd=cfg.n_embd,
            n_ctx=cfg.n_ctx,
            sparse_window=cfg.sparse_window,
            dropout=cfg.dropout,
        )
        self.model = GPT(self.model_config).to(self.device)
        self.optimizer = make_optimizer(self.model, cfg, self.device)
        use_compile = cfg.compile == "on" or (cfg.compile == "auto" and self.device.type == "cuda")
        self.forward = torch.compile(self.model) if use_compile else self.model
        self.sampler = MixtureSampler(mixture, cfg.n_ctx, cfg.seed)
        tokenizer = mixture.tokenizer()
        self.held_out = [
            held_out_text(spec, tokenizer, cfg.n_ctx, cfg.eval_tokens, cfg.eval_doc_tokens) for spec in cfg.eval
        ]
        self.dataset_samples = {
            name: self.sampler.fixed_sample(name, cfg.eval_sequences) for name in self.sampler.names
        }
        self.step, self.tokens = 0, 0
        self.flops_per_token = self.model.flops_per_token(cfg.n_ctx)
        self.peak_flops = peak_flops(self.device)

    @property
    def amp(self):
        return autocast(self.device, self.amp_dtype)

    def train_step(self) -> dict:
        cfg = self.cfg
        lr = learning_rate(self.tokens, cfg)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        sequences = batch_sequences(self.tokens, cfg)
        micro_batches = [
            to_device(self.sampler.take(cfg.micro_batch), self.device) for _ in range(sequences // cfg.micro_batch)
        ]
        loss, norm = optimizer_step(self.forward, self.optimizer, micro_batches, cfg.grad_clip, self.amp)
        self.step += 1
        self.tokens += sequences * cfg.n_ctx
        return {
            "step": self.step,
            "tokens": self.tokens,
            "loss": loss,
            "grad_norm": norm,
            "lr": lr,
            "batch_tokens": sequences * cfg.n_ctx,
        }

    def evaluate(self) -> dict:
        def loss(windows):
            return round(mean_loss(self.forward, windows, self.cfg.micro_batch, self.device, self.amp), 5)

        return {
            "datasets": {name: loss(windows) for name, windows in self.dataset_samples.items()},
            "held_out": {text.name: loss(text.windows) for text in self.held_out},
        }

    def epochs_report(self) -> dict:
        """Per dataset: epochs consumed, what the weights predict for the tokens trained, and the
        manifest's own figure at its token budget (equal to the prediction when trained to it)."""
        consumed = self.sampler.epochs()
        return {
            name: {
                "epochs": round(consumed[name], 4),
                "expected": round(d.weight * self.tokens / d.tokens, 4),
                "manifest": round(d.epochs, 4),
                "sequences": self.sampler.position[name]["taken"],
            }
            for name, d in self.mixture.datasets.items()
        }

    def save(self, path: Path) -> None:
        state = {
            "config": dataclasses.asdict(self.cfg),
            "model_config": dataclasses.asdict(self.model_config),
            "manifest_sha256": manifest_sha256(self.mixture),
            "step": self.step,
            "tokens": self.tokens,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "sampler": self.sampler.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if self.device.type == "cuda" else None,
        }
        temp = path.with_suffix(".tmp")
        torch.save(state, temp)
        os.replace(temp, path)  # a crash while saving leaves the previous checkpoint

    def restore(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.sampler.load_state_dict(state["sampler"])
        torch.set_rng_state(state["torch_rng"])
        if state["cuda_rng"] is not None and self.device.type == "cuda":
            torch.cuda.set_rng_state_all(state["cuda_rng"])
        self.step, self.tokens = state["step"], state["tokens"]


def read_checkpoint(path: Path, cfg: TrainConfig, mixture: Mixture) -> dict:
    """The checkpoint's state, after checking it belongs to this configuration and manifest."""
    state = torch.load(path, map_location="cpu", weights_only=False)
    saved = state["config"]
    saved["eval"] = tuple(saved["eval"])
    for key, value in dataclasses.asdict(cfg).items():
        if key not in RESUME_MAY_CHANGE and saved.get(key) != value:
            raise ConfigError(f"cannot resume {path}: it was trained with {key}={saved.get(key)!r}, not {value!r}")
    if state["manifest_sha256"] != manifest_sha256(mixture):
        raise ConfigError(f"cannot resume {path}: the manifest {mixture.root / 'manifest.json'} has changed since")
    return state


def log_line(entry: dict) -> str:
    text = (
        f"step {entry['step']:>6} | tokens {entry['tokens']:>12,} | loss {entry['loss']:.4f} | "
        f"lr {entry['lr']:.2e} | batch {entry['batch_tokens']:,} | {entry['tokens_per_s']:,.0f} tok/s"
    )
    if entry.get("mfu") is not None:
        text += f" | MFU {entry['mfu']:.1%}"
    return text


def train(cfg: TrainConfig, resume: bool = False, quiet: bool = False) -> dict:
    """Run (or, with `resume`, continue) training; returns the summary also written to OUT/summary.json."""
    mixture = open_mixture(cfg.manifest)
    cfg = resolve(cfg, mixture)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    checkpoint, log_path = out / CHECKPOINT, out / "log.jsonl"
    if checkpoint.exists() and not resume:
        raise ConfigError(f"{checkpoint} exists: pass --resume to continue it, or choose another --out")
    state = read_checkpoint(checkpoint, cfg, mixture) if resume and checkpoint.exists() else None
    run = Run(cfg, mixture)
    say = (lambda *a: None) if quiet else print
    say(
        f"train: {cfg.preset} model, {run.model.num_params():,} parameters, n_ctx {cfg.n_ctx}, "
        f"{cfg.tokens:,} tokens, on {run.device} ({run.amp_dtype or torch.float32})"
    )
    log = []
    if state is not None:
        run.restore(state)
        log = [json.loads(line) for line in log_path.read_text().splitlines()] if log_path.exists() else []
        log = [entry for entry in log if entry["step"] <= run.step]  # what happened after the checkpoint is redone
        say(f"train: resumed from {checkpoint} at step {run.step} ({run.tokens:,} tokens)")
    with log_path.open("w") as stream:
        stream.writelines(json.dumps(entry) + "\n" for entry in log)

    def record(entry: dict) -> None:
        log.append(entry)
        with log_path.open("a") as stream:
            stream.write(json.dumps(entry) + "\n")

    def evaluate() -> dict:
        entry = {"step": run.step, "tokens": run.tokens, "eval": run.evaluate(), "epochs": run.sampler.epochs()}
        record(entry)
        say(
            f"eval  {run.step:>6} | "
            + " | ".join(
                f"{kind[0]}:{name} {loss:.4f}"
                for kind in ("datasets", "held_out")
                for name, loss in entry["eval"][kind].items()
            )
        )
        return entry

    start_tokens, window_tokens, window_start, train_seconds = run.tokens, 0, time.perf_counter(), 0.0
    while run.tokens < cfg.tokens and not (cfg.max_steps and run.step >= cfg.max_steps):
        result = run.train_step()
        window_tokens += result["batch_tokens"]
        stopping = run.tokens >= cfg.tokens or run.step == cfg.max_steps
        if run.step % cfg.log_every == 0 or stopping:
            loss, norm = result["loss"].item(), result["grad_norm"].item()  # waits for the device
            seconds = time.perf_counter() - window_start
            train_seconds += seconds
            entry = {
                **result,
                "loss": round(loss, 5),
                "grad_norm": round(norm, 4),
                "tokens_per_s": round(window_tokens / seconds, 1),
            }
            if run.peak_flops:
                entry["mfu"] = round(run.flops_per_token * window_tokens / seconds / run.peak_flops, 4)
            record(entry)
            say(log_line(entry))
            window_tokens, window_start = 0, time.perf_counter()
        paused = time.perf_counter()
        if cfg.eval_every and run.step % cfg.eval_every == 0 and not stopping:
            evaluate()
        if cfg.checkpoint_every and run.step % cfg.checkpoint_every == 0 and not stopping:
            run.save(checkpoint)
        window_start += time.perf_counter() - paused  # evaluation and checkpoints are not training time
    final = evaluate()
    run.save(checkpoint)
    losses = [entry["loss"] for entry in log if "loss" in entry]
    summary = {
        "config": dataclasses.asdict(cfg),
        "parameters": run.model.num_params(),
        "device": str(run.device),
        "steps": run.step,
        "tokens": run.tokens,
        "finished": run.tokens >= cfg.tokens,
        "final_loss": losses[-1] if losses else None,
        "eval": final["eval"],
        "held_out": {
            text.name: {
                "path": text.path,
                "sequences": len(text.windows),
                "documents": text.documents,
                "skipped": text.skipped,
            }
            for text in run.held_out
        },
        "manifest_token_budget": mixture.token_budget,
        "epochs": run.epochs_report(),
        "tokens_per_s": round((run.tokens - start_tokens) / train_seconds, 1) if train_seconds else None,
    }
    if run.peak_flops and summary["tokens_per_s"]:
        summary["mfu"] = round(run.flops_per_token * summary["tokens_per_s"] / run.peak_flops, 4)
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    for name, report in summary["epochs"].items():
        say(
            f"epochs {name:<16} {report['epochs']:.4f} consumed, {report['expected']:.4f} expected from the weights "
            f"(the manifest: {report['manifest']:.4f} at {mixture.token_budget:,} tokens)"
        )
    return summary


def load_model(checkpoint: str | os.PathLike, device: str = "cpu") -> GPT:
    """The trained GPT from a checkpoint written by `train`."""
    from curation.model import GPTConfig

    state = torch.load(checkpoint, map_location=device, weights_only=False)
    model = GPT(GPTConfig(**state["model_config"]))
    model.load_state_dict(state["model"])
    return model.eval()


# --- command line ---------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m curation.train", description=__doc__.split("\n")[0])
    add_arguments(parser, TrainConfig)  # a None default is the preset's, or its help says what it is
    parser.add_argument("--resume", action="store_true", help="continue OUT/ckpt.pt (same configuration)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        summary = train(from_namespace(TrainConfig, args), resume=args.resume)
    except ConfigError as err:
        print(f"train: error: {err}", file=sys.stderr)
        return EXIT_CONFIG
    print(
        json.dumps(
            {key: summary[key] for key in ("steps", "tokens", "final_loss", "eval", "tokens_per_s")}
            | ({"mfu": summary["mfu"]} if "mfu" in summary else {})
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""A decoder-only GPT as in GPT-2 and GPT-3, in one file.

GPT-2 (Radford et al. 2019) and GPT-3 (Brown et al. 2020, section 2.1): learned token and position
embeddings; a stack of pre-LayerNorm blocks, each causal self-attention then a GELU MLP of width
4 x n_embd, each added to the residual stream; a final LayerNorm; the output projection is the token
embedding itself (tied weights). Weights start at N(0, 0.02) and the two projections that write into
the residual stream at N(0, 0.02 / sqrt(2 n_layer)), so the stream's variance does not grow with depth.

GPT-3 also used "alternating dense and locally banded sparse attention patterns in the layers of the
transformer, similar to the Sparse Transformer": with `sparse_window` set, every second block attends
only to the previous `sparse_window` positions (itself included); the others attend to all of them.

PRESETS are the eight models of GPT-3's Table 2.1 (with its batch size and learning rate) and two tiny
ones that train on a CPU in minutes. The large presets are configurations only: this single-device
trainer cannot hold them, but they state the shapes and `GPT.num_params` counts them on the meta device.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F


@dataclass(frozen=True)
class GPTConfig:
    vocab_size: int
    n_ctx: int = 2048  # the longest sequence, and the number of learned positions
    n_layer: int = 12
    n_head: int = 12
    n_embd: int = 768
    sparse_window: int = 0  # 0: every layer dense; else odd layers see only this many positions back
    dropout: float = 0.0  # GPT-3 reports none


@dataclass(frozen=True)
class Preset:
    n_layer: int
    n_head: int
    n_embd: int
    n_ctx: int
    batch_tokens: int  # tokens per optimizer step
    learning_rate: float  # the peak, reached after warm-up
    micro_batch: int  # sequences per forward pass: what fits one 80 GB GPU, or a CPU's cache


S = 2048  # GPT-3's batch sizes "0.5M ... 3.2M" tokens, as whole sequences of 2048
PRESETS = {
    # GPT-3 Table 2.1, whose heads x d_head differ from d_model twice: XL has 24 heads of 128 for
    # d_model 2048 (here 16 heads of 128), 13B has d_model 5140 for 40 heads of 128 (here 5120)
    "gpt3-small": Preset(12, 12, 768, 2048, 256 * S, 6.0e-4, 8),
    "gpt3-medium": Preset(24, 16, 1024, 2048, 256 * S, 3.0e-4, 8),
    "gpt3-large": Preset(24, 16, 1536, 2048, 256 * S, 2.5e-4, 4),
    "gpt3-xl": Preset(24, 16, 2048, 2048, 512 * S, 2.0e-4, 4),
    "gpt3-2.7b": Preset(32, 32, 2560, 2048, 512 * S, 1.6e-4, 2),
    "gpt3-6.7b": Preset(32, 32, 4096, 2048, 1024 * S, 1.2e-4, 1),
    "gpt3-13b": Preset(40, 40, 5120, 2048, 1024 * S, 1.0e-4, 1),
    "gpt3-175b": Preset(96, 96, 12288, 2048, 1600 * S, 0.6e-4, 1),
    # tiny: minutes on a laptop CPU
    "tiny": Preset(4, 4, 128, 128, 4096, 2e-3, 32),
    "nano": Preset(2, 2, 64, 64, 1024, 3e-3, 16),
}


class CausalSelfAttention(nn.Module):
    def __init__(self, config: GPTConfig, window: int):
        super().__init__()
        assert config.n_embd % config.n_head == 0, "n_embd must be a multiple of n_head"
        self.n_head, self.window, self.dropout = config.n_head, window, config.dropout
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd)  # query, key, value for all heads at once
        self.c_proj = nn.Linear(config.n_embd, config.n_embd)
        self.c_proj.residual = True
        self.resid_dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(C, dim=2)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))
        dropout = self.dropout if self.training else 0.0
        if self.window and self.window < T:  # locally banded: position i sees i-window+1 .. i
            i = torch.arange(T, device=x.device)
            band = (i[None, :] <= i[:, None]) & (i[:, None] - i[None, :] < self.window)
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=band, dropout_p=dropout)
        else:  # dense causal: the fused (flash) kernel on GPUs
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True, dropout_p=dropout)
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        return self.resid_dropout(self.c_proj(y))


class MLP(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd)
        self.gelu = nn.GELU(approximate="tanh")  # GPT-2's GELU
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd)
        self.c_proj.residual = True
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))


class Block(nn.Module):
    def __init__(self, config: GPTConfig, window: int):
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd)
        self.attn = CausalSelfAttention(config, window)
        self.ln_2 = nn.LayerNorm(config.n_embd)
        self.mlp = MLP(config)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.config = config
        self.transformer = nn.ModuleDict(
            dict(
                wte=nn.Embedding(config.vocab_size, config.n_embd),
                wpe=nn.Embedding(config.n_ctx, config.n_embd),
                drop=nn.Dropout(config.dropout),
                h=nn.ModuleList(
                    Block(config, config.sparse_window if layer % 2 else 0) for layer in range(config.n_layer)
                ),
                ln_f=nn.LayerNorm(config.n_embd),
            )
        )
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.lm_head.weight = self.transformer.wte.weight  # tied input and output embeddings
        self.apply(self._init_weights)

    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            std = 0.02 / math.sqrt(2 * self.config.n_layer) if getattr(module, "residual", False) else 0.02
            nn.init.normal_(module.weight, mean=0.0, std=std)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def num_params(self, non_embedding: bool = False) -> int:
        """Parameters, the tied embedding counted once; `non_embedding` leaves out both embeddings
        (as scaling-law papers count)."""
        n = sum(p.numel() for p in self.parameters())
        if non_embedding:
            n -= self.transformer.wte.weight.numel() + self.transformer.wpe.weight.numel()
        return n

    def flops_per_token(self, T: int | None = None) -> float:
        """Training FLOPs per token (forward + backward), PaLM's appendix B: 6 N + 12 L T n_embd, with N
        the weights that multiply activations (the token embedding does, as the output layer) and
        attention counted dense."""
        T = T or self.config.n_ctx
        N = self.num_params() - self.transformer.wpe.weight.numel()
        return 6 * N + 12 * self.config.n_layer * T * self.config.n_embd

    def forward(self, idx: torch.Tensor, targets: torch.Tensor | None = None):
        """Logits (B, T, vocab) for token ids idx (B, T); with targets, also the mean cross-entropy."""
        B, T = idx.shape
        assert T <= self.config.n_ctx, f"sequence of {T} tokens, the model's context is {self.config.n_ctx}"
        pos = torch.arange(T, device=idx.device)
        x = self.transformer.drop(self.transformer.wte(idx) + self.transformer.wpe(pos))
        for block in self.transformer.h:
            x = block(x)
        logits = self.lm_head(self.transformer.ln_f(x))
        if targets is None:
            return logits, None
        loss = F.cross_entropy(logits.view(-1, logits.size(-1)).float(), targets.reshape(-1))
        return logits, loss


def model_config(preset: str, vocab_size: int, **overrides) -> GPTConfig:
    """The model of `preset` for a vocabulary, with any field of GPTConfig overridden (None: keep)."""
    shape = PRESETS[preset]
    values = dict(n_layer=shape.n_layer, n_head=shape.n_head, n_embd=shape.n_embd, n_ctx=shape.n_ctx)
    values.update({key: value for key, value in overrides.items() if value is not None})
    return GPTConfig(vocab_size=vocab_size, **values)


def padded_vocab(vocab_size: int, multiple: int = 64) -> int:
    """Round the embedding rows up (GPT-2's 50,257 -> 50,304): matrix shapes GPUs run fastest.
    The extra ids never occur in the data, so the model learns to give them no probability."""
    return -(-vocab_size // multiple) * multiple

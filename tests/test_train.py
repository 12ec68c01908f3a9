"""The GPT trainer: a tiny model learns, resumes bit-identically, samples by weight, follows GPT-3's schedule."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from curation.errors import ConfigError  # noqa: E402
from curation.manifest import (  # noqa: E402
    MANIFEST_SCHEMA_NAME,
    MANIFEST_VERSION,
    epochs_at_budget,
    file_sha256,
    load_manifest,
)
from curation.model import GPT, PRESETS, CausalSelfAttention, GPTConfig, model_config  # noqa: E402
from curation.token_shards import ShardWriter  # noqa: E402
from curation.tokenizer import EOT, document_encoder, encode_documents, eot_id, token_dtype, train_bpe, vocab_size  # noqa: E402
from curation.train import (  # noqa: E402
    TrainConfig,
    batch_sequences,
    learning_rate,
    load_model,
    main,
    train,
)
from curation.train_data import MixtureSampler  # noqa: E402

WORDS = (
    "the river ran past the old mill and the miller sang to the water wheel while the "
    "children counted boats that drifted down toward the harbor in the evening light"
).split()


def texts(seed: int, docs: int, words: int = 60) -> list[str]:
    """Documents that a tiny model can learn: a passage read from random starting words, round and round."""
    starts = np.random.default_rng(seed).integers(0, len(WORDS), docs)
    return [" ".join(WORDS[(start + i) % len(WORDS)] for i in range(words)) + "." for start in starts]


def write_manifest(root: Path, datasets: dict[str, tuple[float, list[str]]], token_budget: int) -> Path:
    """A mixture in the exact layout jobs/mixture.py writes (ShardWriter shards, a trained BPE), without Spark."""
    root.mkdir(parents=True, exist_ok=True)
    tokenizer = train_bpe([t for _, docs in datasets.values() for t in docs], vocab_size=300)
    tokenizer.save(str(root / "tokenizer.json"))
    size, eot = vocab_size(tokenizer), eot_id(tokenizer)
    dtype, encoder = token_dtype(size), document_encoder(tokenizer)
    total_weight = sum(weight for weight, _ in datasets.values())
    entries = []
    for name, (weight, docs) in datasets.items():
        shard_dir = root / "shards" / name
        shard_dir.mkdir(parents=True)
        shards = []
        for number, part in enumerate((docs[: len(docs) // 2], docs[len(docs) // 2 :])):  # two shards each
            writer = ShardWriter(str(shard_dir), number, dtype)
            writer.add(*encode_documents(encoder, part, eot, dtype))
            meta = writer.finish()
            shards.append(
                {
                    **{k: v for k, v in meta.items() if k != "shard"},
                    "tokens_file": f"shards/{name}/{meta['tokens_file']}",
                    "index_file": f"shards/{name}/{meta['index_file']}",
                }
            )
        tokens = sum(s["tokens"] for s in shards)
        share = weight / total_weight
        entries.append(
            {
                "name": name,
                "weight": share,
                "weight_given": weight,
                "documents": len(docs),
                "tokens": tokens,
                "tokens_at_budget": round(share * token_budget),
                "epochs": epochs_at_budget(share, token_budget, tokens),
                "dropped": {"empty_text": 0, "parse_error": 0},
                "shards": shards,
                "provenance": {"inputs": [f"test:{name}"]},
            }
        )
    manifest = {
        "schema": MANIFEST_SCHEMA_NAME,
        "schema_version": MANIFEST_VERSION,
        "project": {"name": "curation", "version": "test", "git_commit": None},
        "tokenizer": {
            "file": "tokenizer.json",
            "sha256": file_sha256(root / "tokenizer.json"),
            "kind": "byte-level-bpe",
            "source": "trained",
            "vocab_size": size,
            "eot_token": EOT,
            "eot_id": eot,
            "dtype": dtype.name,
        },
        "token_budget": token_budget,
        "n_ctx": 32,
        "max_epochs": 3.4,
        "documents": sum(e["documents"] for e in entries),
        "tokens": sum(e["tokens"] for e in entries),
        "datasets": entries,
        "warnings": [],
    }
    (root / "manifest.json").write_text(json.dumps(manifest))
    load_manifest(root)  # the trainer's reader accepts it
    return root / "manifest.json"


@pytest.fixture(scope="module")
def manifest(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("mixture")
    return write_manifest(
        root, {"web": (0.6, texts(1, 12)), "wiki": (0.3, texts(2, 8)), "books": (0.1, texts(3, 4))}, token_budget=20_000
    )


def tiny(manifest: Path, out: Path, **overrides) -> TrainConfig:
    values = dict(
        manifest=str(manifest),
        preset="nano",
        out=str(out),
        n_layer=2,
        n_head=2,
        n_embd=32,
        n_ctx=32,
        batch_tokens=8 * 32,
        micro_batch=4,
        learning_rate=1e-2,
        warmup_tokens=512,
        tokens=40 * 8 * 32,
        log_every=1,
        eval_every=20,
        eval_sequences=4,
        checkpoint_every=0,
        threads=1,
    )
    return TrainConfig(**(values | overrides))


def test_tiny_model_overfits_a_tiny_mixture(manifest, tmp_path):
    held_out = tmp_path / "held_out.jsonl"
    held_out.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts(9, 6)))
    summary = train(
        tiny(manifest, tmp_path / "run", eval=(f"river={held_out}",), eval_tokens=256, eval_doc_tokens=64), quiet=True
    )

    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    losses = [entry["loss"] for entry in log if "loss" in entry]
    assert len(losses) == 40 and summary["steps"] == 40 and summary["tokens"] == 40 * 8 * 32
    assert losses[0] > math.log(300) - 1  # starts near uniform over the vocabulary
    assert np.mean(losses[-5:]) < 0.35 * losses[0]
    evals = [entry["eval"] for entry in log if "eval" in entry]
    assert len(evals) == 2 and set(evals[-1]["datasets"]) == {"web", "wiki", "books"}
    assert evals[-1]["held_out"]["river"] < evals[0]["held_out"]["river"]  # same words, unseen order: it generalises
    river = summary["held_out"]["river"]
    assert river["sequences"] == 256 // 32 and river["documents"] == 5  # 64 tokens from each, as many as it needs

    model = load_model(tmp_path / "run" / "ckpt.pt")  # the saved model gives the logged loss back
    mixture = load_manifest(manifest)
    sampler = MixtureSampler(mixture, n_ctx=32, seed=0)
    rows = torch.from_numpy(sampler.fixed_sample("wiki", 4))
    with torch.no_grad():
        _, loss = model(rows[:, :-1], rows[:, 1:])
    assert loss.item() == pytest.approx(summary["eval"]["datasets"]["wiki"], abs=1e-4)


def test_resume_continues_bit_identically(manifest, tmp_path):
    config = tiny(
        manifest, tmp_path / "whole", tokens=10 * 8 * 32, eval_every=3, batch_ramp_tokens=1024, batch_ramp_start=128
    )
    train(config, quiet=True)
    halves = tiny(
        manifest, tmp_path / "halves", tokens=10 * 8 * 32, eval_every=3, batch_ramp_tokens=1024, batch_ramp_start=128
    )
    train(TrainConfig(**{**halves.__dict__, "max_steps": 4}), quiet=True)
    with pytest.raises(ConfigError, match="--resume"):
        train(halves, quiet=True)
    with pytest.raises(ConfigError, match="learning_rate"):
        train(TrainConfig(**{**halves.__dict__, "learning_rate": 2e-2}), resume=True, quiet=True)
    train(halves, resume=True, quiet=True)

    whole = torch.load(tmp_path / "whole" / "ckpt.pt", weights_only=False)
    resumed = torch.load(tmp_path / "halves" / "ckpt.pt", weights_only=False)
    assert whole["step"] == resumed["step"] > 4 and whole["sampler"] == resumed["sampler"]
    for name, tensor in whole["model"].items():
        assert torch.equal(tensor, resumed["model"][name]), name
    for a, b in zip(whole["optimizer"]["state"].values(), resumed["optimizer"]["state"].values()):
        assert torch.equal(a["exp_avg_sq"], b["exp_avg_sq"])

    def losses(run):
        return [
            (e["step"], e["loss"], e["batch_tokens"])
            for e in map(json.loads, (tmp_path / run / "log.jsonl").open())
            if "loss" in e
        ]

    assert losses("whole") == losses("halves")
    # the batch-size ramp from 4 to 8 sequences over 1,024 tokens, in whole micro-batches of 4
    assert [e[2] for e in losses("whole")] == [128] * 8 + [256] * 6


def test_sampling_follows_the_weights_without_replacement(manifest):
    mixture = load_manifest(manifest)
    sampler = MixtureSampler(mixture, n_ctx=32, seed=3)
    draws = 6000
    names = [sampler.dataset_of(k) for k in range(draws)]
    for name, dataset in mixture.datasets.items():
        share, sigma = names.count(name) / draws, math.sqrt(dataset.weight * (1 - dataset.weight) / draws)
        assert abs(share - dataset.weight) < 4.5 * sigma, (name, share, dataset.weight)

    sampler.take(draws)
    for name, report in sampler.epochs().items():
        dataset = mixture.datasets[name]
        expected = dataset.weight * draws * 32 / dataset.tokens  # = the manifest's epochs x (tokens drawn / budget)
        assert expected == pytest.approx(dataset.epochs * draws * 32 / mixture.token_budget)
        assert report == pytest.approx(expected, rel=0.1)

    books = MixtureSampler(mixture, n_ctx=32, seed=3)
    books.cumulative = np.array([0.0, 0.0, 1.0])  # books only: read its epochs one after the other
    count = books.sequences["books"]
    stream = books.streams["books"]
    every = {stream.read(i * 32, 33).tobytes() for i in range(count)}
    first, second = books.take(count), books.take(count)
    assert {row.tobytes() for row in first} == every == {row.tobytes() for row in second}  # each epoch: all, once
    assert not np.array_equal(first, second)  # reshuffled
    assert books.position["books"] == {"epoch": 2, "cursor": 0, "taken": 2 * count}
    eot = mixture.eot_id
    assert (np.concatenate([stream.arrays[0], stream.arrays[1]]) == eot).sum() == mixture.datasets["books"].documents


def test_learning_rate_and_batch_follow_gpt3():
    cfg = TrainConfig(
        learning_rate=6e-4,
        warmup_tokens=375_000_000,
        decay_tokens=260_000_000_000,
        tokens=300_000_000_000,
        n_ctx=2048,
        batch_tokens=256 * 2048,
        micro_batch=8,
        batch_ramp_tokens=4_000_000_000,
        batch_ramp_start=32_768,
    )
    peak = 6e-4
    assert learning_rate(0, cfg) == 0
    assert learning_rate(187_500_000, cfg) == pytest.approx(peak / 2)
    assert learning_rate(375_000_000, cfg) == pytest.approx(peak)
    middle = (375_000_000 + 260_000_000_000) // 2
    assert learning_rate(middle, cfg) == pytest.approx(0.55 * peak, rel=1e-6)  # halfway down the cosine
    assert learning_rate(260_000_000_000, cfg) == pytest.approx(0.1 * peak)
    assert learning_rate(299_000_000_000, cfg) == pytest.approx(0.1 * peak)  # "continues at 10%"
    decay = [learning_rate(t, cfg) for t in np.linspace(375_000_000, 260_000_000_000, 50)]
    assert all(a > b for a, b in zip(decay, decay[1:]))

    ramp = [batch_sequences(t, cfg) for t in np.linspace(0, 4_000_000_000, 9)]
    assert ramp[0] == 16 and ramp[-1] == 256 and all(b % 8 == 0 for b in ramp)
    assert all(a <= b for a, b in zip(ramp, ramp[1:])) and ramp[4] == 136  # 16 + (256 - 16) / 2


def test_presets_have_gpt3_sizes():
    nominal = {
        "gpt3-small": 125e6,
        "gpt3-medium": 350e6,
        "gpt3-large": 760e6,
        "gpt3-xl": 1.3e9,
        "gpt3-2.7b": 2.7e9,
        "gpt3-6.7b": 6.7e9,
        "gpt3-13b": 13e9,
        "gpt3-175b": 175e9,
    }
    for name, size in nominal.items():
        with torch.device("meta"):  # shapes only: 175B parameters take no memory
            model = GPT(model_config(name, vocab_size=50_257))
        assert model.num_params() == pytest.approx(size, rel=0.03), name
        assert PRESETS[name].n_ctx == 2048
    assert PRESETS["gpt3-small"].batch_tokens == 2**19 and PRESETS["gpt3-175b"].learning_rate == 0.6e-4


def test_model_ties_embeddings_scales_residual_init_and_bands_attention():
    torch.manual_seed(0)
    config = GPTConfig(vocab_size=512, n_ctx=64, n_layer=8, n_head=4, n_embd=64, sparse_window=4)
    model = GPT(config)
    assert model.lm_head.weight is model.transformer.wte.weight
    block = model.transformer.h[0]
    assert block.attn.c_attn.weight.std().item() == pytest.approx(0.02, rel=0.05)
    assert block.mlp.c_proj.weight.std().item() == pytest.approx(0.02 / math.sqrt(16), rel=0.05)
    assert [b.attn.window for b in model.transformer.h] == [0, 4] * 4  # alternating dense and banded

    def changed_positions(attention, position):
        x = torch.randn(1, 12, 64)
        y = x.clone()
        y[0, position] += 1.0
        with torch.no_grad():
            return (attention(x) - attention(y)).abs().sum(-1)[0].gt(1e-6).nonzero().flatten().tolist()

    assert changed_positions(model.transformer.h[1].attn, 2) == [2, 3, 4, 5]  # seen 4 positions on, no further
    assert changed_positions(model.transformer.h[0].attn, 2) == list(range(2, 12))  # dense: all later positions
    assert isinstance(model.transformer.h[1].attn, CausalSelfAttention)


def test_configuration_mistakes_are_one_line(manifest, tmp_path, capsys):
    assert main(["--manifest", str(tmp_path / "missing"), "--out", str(tmp_path / "a")]) == 2
    assert "manifest not found" in capsys.readouterr().err
    assert main(["--manifest", str(manifest), "--preset", "gpt5", "--out", str(tmp_path / "b")]) == 2
    assert "unknown preset 'gpt5'" in capsys.readouterr().err
    assert (
        main(["--manifest", str(manifest), "--preset", "nano", "--n-ctx", "100000", "--out", str(tmp_path / "c")]) == 2
    )
    assert "fewer than one sequence" in capsys.readouterr().err

    broken = write_manifest(tmp_path / "broken", {"web": (1.0, texts(1, 4))}, token_budget=1000)
    shard = next((broken.parent / "shards" / "web").glob("*.bin"))
    shard.write_bytes(b"\0\0" + shard.read_bytes()[2:])
    assert main(["--manifest", str(broken), "--out", str(tmp_path / "d")]) == 2
    assert "checksum mismatch" in capsys.readouterr().err

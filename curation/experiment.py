"""`make experiment`: what curation buys, measured by training the same GPT on three kinds of data.

  A  the raw extracted crawl                       RUN/extract/documents
  B  the filtered, deduplicated (and decontaminated) crawl alone   RUN/decontaminate/crawl/documents
  C  the curated mixture: B plus the reference corpora at GPT-3's weights   RUN/mixture/manifest.json

A vs B is the effect of filtering; B vs C the effect of adding the reference corpora. All three use
C's tokenizer, one preset, one seed and one token budget, and are evaluated on held-out text that none
of them trained on. On the synthetic demo (`make experiment`), two kinds:
  real     WebText, Wikipedia and Gutenberg books from ../shared/data/reference (when present): how
           well what the demo's synthetic data teaches carries over to real text;
  sample   reference corpora made by the sample generator with a seed the demo did not use: text
           of the kind the demo's quality classifier was taught to prefer, but never seen.
On the real-page crawl (`make experiment-real`: `--held-out SPLIT`, a curation.realsplit directory, whose
training parts the run's config read), only real text, held out of the run's inputs: the gold main text
of pages of sites the crawl does not contain (real.web) and documents held out of each reference corpus
(real.webtext, real.wikipedia, real.books). The shared reference corpora themselves cannot be held-out
text there: they are C's training data.

A and B are built by the mixture stage (curation.mixture.build_mixture, the library behind
jobs/mixture.py) with C's vocabulary and merges. Output under OUT: A/, B/, C/ (mixtures and
training runs), results.json, results.md and loss_curves.png.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import time
from itertools import islice
from pathlib import Path

from curation.errors import EXIT_CONFIG, ConfigError
from curation.realsplit import REFERENCE_FILES
from curation.settings import shared_data_dir

HELD_OUT_SEED = 1_000_003  # a seed no sample of the demo uses
# what the held-out sets are, for the results table's caption
DEMO_HELD_OUT = "`real.*`: ../shared/data/reference; `sample.*`: reference corpora generated with an unseen seed"
SPLIT_HELD_OUT = (
    "`real.web`: the gold main text of pages of sites the crawl does not contain; `real.webtext`, "
    "`real.wikipedia`, `real.books`: documents held out of the shared reference corpora "
    "(`make realsplit`)"
)
MODELS = (
    ("A", "raw extracted crawl", "extract/documents"),
    ("B", "filtered + deduplicated crawl", "decontaminate/crawl/documents"),
    ("C", "curated mixture (B + reference corpora)", "mixture/manifest.json"),
)


def split_held_out_specs(split: Path) -> list[str]:
    """The held-out text of a curation.realsplit directory, named `real.NAME`."""
    from curation.realsplit import held_out_specs as split_specs

    return [f"real.{name}={spec}" for name, spec in split_specs(split)]


def check_run_excludes(run: Path, split: Path) -> None:
    """Refuse a run that may have trained on the split's held-out text: the reference corpora its dedup stage
    read must be the split's training parts, and its crawl a real-page crawl (curation.realcrawl) of the split's
    pages. Raises ConfigError."""
    from curation.realcrawl import SUMMARY as CRAWL_SUMMARY
    from curation.realsplit import SUMMARY as SPLIT_SUMMARY

    def marker_files(stage: str) -> list[Path]:
        try:
            marker = json.loads((run / stage / "_SUCCESS").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raise ConfigError(
                f"{run / stage / '_SUCCESS'} is missing or unreadable: run the pipeline (`make demo-real`)"
            ) from None
        return [Path(entry["path"]).resolve() for entry in marker["inputs"]["files"]]

    expected = {(split / "reference" / file).resolve() for _, file, _ in REFERENCE_FILES}
    if set(marker_files("dedup")) != expected:
        raise ConfigError(
            f"{run}'s reference corpora are not the training parts in {split / 'reference'}: "
            "its models may have seen the held-out documents"
        )
    split_files = json.loads((split / SPLIT_SUMMARY).read_text(encoding="utf-8"))["files"]
    pages = {entry["sha256"] for entry in split_files if entry["file"].startswith("html/")}
    for crawl in {path.parent.parent for path in marker_files("extract")}:
        try:
            sources = json.loads((crawl / CRAWL_SUMMARY).read_text(encoding="utf-8"))["parameters"]["sources"]
        except (OSError, ValueError, KeyError):
            raise ConfigError(f"{run}'s crawl {crawl} is not a real-page crawl (no {CRAWL_SUMMARY})") from None
        if not {source["sha256"] for source in sources} <= pages:
            raise ConfigError(
                f"{run}'s crawl {crawl} was not built from {split / 'html'} (`make realcrawl`): "
                "it may hold the held-out sites' pages"
            )


def held_out_specs(out: Path) -> list[str]:
    """The demo's held-out text, named FAMILY.NAME: `sample.*` always, `real.*` when the shared data is
    there."""
    from curation.sample import MIN_PAGES, generate_sample

    sample = out / "held_out_sample"
    generate_sample(sample, pages=MIN_PAGES, seed=HELD_OUT_SEED, shards=1, reference_docs=60)
    reference = shared_data_dir() / "reference"
    real = [
        f"real.{name}={reference / file}{options}"
        for name, file, options in REFERENCE_FILES
        if (reference / file).exists()
    ]
    if not real:
        print(f"experiment: {reference} not found: the held-out text is the generated sample's only", file=sys.stderr)
    return real + [f"sample.{name}={sample / 'reference' / file}{options}" for name, file, options in REFERENCE_FILES]


def family_means(losses: dict[str, float]) -> dict[str, float]:
    """Mean held-out loss per family (`real`, `sample`) over its texts."""
    families: dict[str, list[float]] = {}
    for name, loss in losses.items():
        families.setdefault(name.split(".")[0], []).append(loss)
    return {family: round(sum(values) / len(values), 5) for family, values in families.items()}


def build_crawl_mixtures(run: Path, out: Path, tokens: int, seed: int, cores: int) -> None:
    """A's and B's single-dataset mixtures with C's tokenizer."""
    from tokenizers import Tokenizer

    from curation.corpora import parse_corpus_spec
    from curation.mixture import DatasetSpec, MixtureOptions, build_mixture
    from curation.spark import get_spark

    vocabulary = out / "tokenizer"
    vocabulary.mkdir(parents=True, exist_ok=True)
    vocab, merges = Tokenizer.from_file(str(run / "mixture" / "tokenizer.json")).model.save(str(vocabulary))
    spark = get_spark(
        "experiment",
        master=f"local[{cores}]",
        conf={"spark.ui.showConsoleProgress": "false", "spark.sql.shuffle.partitions": str(cores)},
    )
    for model, _, source in MODELS[:2]:
        target = out / model / "mixture"
        shutil.rmtree(target, ignore_errors=True)
        spec = DatasetSpec("crawl", parse_corpus_spec(f"crawl={run / source}"), 1.0, 1.0)
        options = MixtureOptions(token_budget=tokens, gpt2_files=(vocab, merges), seed=seed)
        summary = build_mixture(spark, [spec], str(target), options)
        print(f"experiment: {model}: {summary['documents']} documents, {summary['tokens']:,} tokens -> {target}")
    spark.stop()


def check_same_tokenizer(mixtures: dict, probe_specs: list[str]) -> None:
    """A, B and C encode the same text to the same ids (A and B load C's vocabulary and merges)."""
    from curation.corpora import corpus_files, iter_corpus_file, parse_corpus_spec

    corpus = parse_corpus_spec(probe_specs[0])
    fmt, files = corpus_files(corpus.path, corpus.fmt)
    texts = [r["text"] for r in islice(iter_corpus_file(files[0], files[0], fmt, corpus), 20) if r["text"]]
    encodings = {model: [e.ids for e in mixture.tokenizer().encode_batch(texts)] for model, mixture in mixtures.items()}
    if len({json.dumps(ids) for ids in encodings.values()}) != 1:
        raise ValueError("the three mixtures' tokenizers encode the same text differently")


def dataset_rows(mixture) -> list[dict]:
    return [
        {"name": name, "weight": round(d.weight, 4), "documents": d.documents, "tokens": d.tokens}
        for name, d in mixture.datasets.items()
    ]


def results_markdown(results: dict) -> str:
    sets, families = results["held_out_sets"], list(results["models"][0]["held_out_mean"])
    texts = results["held_out_texts"]
    lines = [
        f"Preset `{results['preset']}` ({results['parameters']:,} parameters, n_ctx {results['n_ctx']}), "
        f"{results['tokens']:,} training tokens each, seed {results['seed']}, {results['cores']} cores, "
        f"{results['seconds'] / 60:.1f} minutes in all. Held-out loss: mean next-token cross-entropy (nats, lower is "
        f"better; a uniform guess over the {results['vocab_size']:,}-token vocabulary scores "
        f"{math.log(results['vocab_size']):.3f}) with the same tokenizer on {results['eval_tokens']:,} tokens of "
        f"each text, at most {results['eval_doc_tokens']:,} from each document "
        f"({results['held_out_source']}). "
        "Bold: the lowest in its column.",
        "",
        "| model | training data | documents | tokens | epochs | final train loss | "
        + " | ".join(f"{name} ({texts[name]['documents']} docs)" for name in sets)
        + " | "
        + " | ".join(f"{family} mean" for family in families)
        + " |",
        "|---|---|---:|---:|---|---:|" + "---:|" * (len(sets) + len(families)),
    ]
    columns = [lambda row, name=name: row["held_out"][name] for name in sets] + [
        lambda row, family=family: row["held_out_mean"][family] for family in families
    ]
    best = [min(column(row) for row in results["models"]) for column in columns]
    for row in results["models"]:
        epochs = ", ".join(f"{name} {e:.2f}" for name, e in row["epochs"].items())
        cells = [
            f"**{column(row):.3f}**" if column(row) == low else f"{column(row):.3f}"
            for column, low in zip(columns, best, strict=True)
        ]
        lines.append(
            f"| {row['model']} | {row['data']} | {row['documents']:,} | {row['dataset_tokens']:,} | "
            f"{epochs} | {row['final_loss']:.3f} | " + " | ".join(cells) + " |"
        )
    return "\n".join(lines) + "\n"


def plot_curves(results: dict, runs: dict, path: Path) -> None:
    """Training loss, and the mean held-out loss of each family, against tokens, for every model."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    families = list(results["models"][0]["held_out_mean"])
    figure, axes = plt.subplots(1, 1 + len(families), figsize=(5 * (1 + len(families)), 4))
    for row in results["models"]:
        log = [json.loads(line) for line in (runs[row["model"]] / "log.jsonl").read_text().splitlines()]
        trained, evaluated = [e for e in log if "loss" in e], [e for e in log if "eval" in e]
        label = f"{row['model']}: {row['data']}"
        axes[0].plot([e["tokens"] for e in trained], [e["loss"] for e in trained], label=label)
        for axis, family in zip(axes[1:], families, strict=True):
            means = [family_means(e["eval"]["held_out"])[family] for e in evaluated]
            axis.plot([e["tokens"] for e in evaluated], means, marker="o", label=label)
    axes[0].set(title="training loss", xlabel="tokens", ylabel="loss (nats/token)")
    for axis, family in zip(axes[1:], families, strict=True):
        axis.set(title=f"held-out loss: {family} text (mean)", xlabel="tokens")
    for axis in axes:
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def run_experiment(
    run: Path,
    out: Path,
    preset: str,
    tokens: int,
    seed: int,
    cores: int,
    eval_tokens: int,
    eval_doc_tokens: int,
    eval_every: int,
    split: Path | None = None,
) -> dict:
    """Build A's and B's mixtures, train A, B and C, write OUT/results.{json,md} and loss_curves.png. `split`:
    a curation.realsplit directory whose held-out text is the evaluation (default: the demo's held-out text)."""
    from curation.manifest import load_manifest
    from curation.train import TrainConfig, train

    started = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    if split:
        check_run_excludes(run, split)
    specs = split_held_out_specs(split) if split else held_out_specs(out)
    build_crawl_mixtures(run, out, tokens, seed, cores)
    manifests = {"A": out / "A" / "mixture", "B": out / "B" / "mixture", "C": run / "mixture"}
    mixtures = {model: load_manifest(path) for model, path in manifests.items()}
    check_same_tokenizer(mixtures, specs)

    rows, runs = [], {}
    for model, data, _ in MODELS:
        runs[model] = out / model / "run"
        shutil.rmtree(runs[model], ignore_errors=True)
        print(f"experiment: training {model} on the {data}")
        config = TrainConfig(
            manifest=str(manifests[model]),
            preset=preset,
            out=str(runs[model]),
            seed=seed,
            tokens=tokens,
            eval=tuple(specs),
            eval_tokens=eval_tokens,
            eval_doc_tokens=eval_doc_tokens,
            eval_every=eval_every,
            log_every=10,
            checkpoint_every=0,
            threads=cores,
        )
        summary = train(config)
        held_out = summary["eval"]["held_out"]
        rows.append(
            {
                "model": model,
                "data": data,
                "manifest": str(manifests[model]),
                "datasets": dataset_rows(mixtures[model]),
                "documents": sum(d.documents for d in mixtures[model].datasets.values()),
                "dataset_tokens": sum(d.tokens for d in mixtures[model].datasets.values()),
                "epochs": {name: report["epochs"] for name, report in summary["epochs"].items()},
                "final_loss": summary["final_loss"],
                "train_eval": summary["eval"]["datasets"],
                "held_out": held_out,
                "held_out_mean": family_means(held_out),
                "tokens_per_s": summary["tokens_per_s"],
            }
        )
    results = {
        "preset": preset,
        "parameters": summary["parameters"],
        "n_ctx": summary["config"]["n_ctx"],
        "tokens": tokens,
        "seed": seed,
        "cores": cores,
        "eval_tokens": eval_tokens,
        "eval_doc_tokens": eval_doc_tokens,
        "vocab_size": mixtures["C"].manifest["tokenizer"]["vocab_size"],
        "held_out_sets": list(held_out),
        "held_out_source": SPLIT_HELD_OUT if split else DEMO_HELD_OUT,
        "held_out_specs": specs,
        "held_out_texts": summary["held_out"],
        "models": rows,
        "seconds": round(time.perf_counter() - started, 1),
    }
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (out / "results.md").write_text(results_markdown(results))
    plot_curves(results, runs, out / "loss_curves.png")
    return results


def main(argv: list[str] | None = None) -> int:
    from curation.train import count

    parser = argparse.ArgumentParser(prog="python -m curation.experiment", description=__doc__.split("\n")[0])
    parser.add_argument("--run", default="data/demo", help="a pipeline run (make demo's output)")
    parser.add_argument("--out", help="default: RUN/experiment")
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--tokens", type=count, default=1_000_000, help="training tokens of each model")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cores", type=int, default=2, help="Spark tasks and torch threads")
    parser.add_argument("--eval-tokens", type=count, default=16_384, help="tokens of each held-out text")
    parser.add_argument(
        "--eval-doc-tokens", type=count, default=1024, help="tokens from the start of each held-out document"
    )
    parser.add_argument("--eval-every", type=int, default=40, help="steps between held-out evaluations")
    parser.add_argument(
        "--held-out",
        help="evaluate on the held-out text of this curation.realsplit directory "
        "(make experiment-real: data/realsplit) instead of the demo's",
    )
    args = parser.parse_args(argv)
    run = Path(args.run)
    missing = [str(run / source) for _, _, source in MODELS if not (run / source).exists()]
    if missing:
        print(f"experiment: error: {missing[0]} not found: run `make demo` first (or pass --run)", file=sys.stderr)
        return EXIT_CONFIG
    split = Path(args.held_out) if args.held_out else None
    if split and not (split / "split.json").is_file():
        print(f"experiment: error: {split / 'split.json'} not found: run `make realsplit` first", file=sys.stderr)
        return EXIT_CONFIG
    try:
        results = run_experiment(
            run,
            Path(args.out or run / "experiment"),
            args.preset,
            args.tokens,
            args.seed,
            args.cores,
            args.eval_tokens,
            args.eval_doc_tokens,
            args.eval_every,
            split,
        )
    except ConfigError as err:
        print(f"experiment: error: {err}", file=sys.stderr)
        return EXIT_CONFIG
    out = Path(args.out or run / "experiment")
    print(results_markdown(results))
    print(f"experiment: {results['seconds']:.0f}s; wrote {out}/results.json, results.md, loss_curves.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())

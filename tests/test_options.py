"""curation.options: one options dataclass, built the same from the command line and from a TOML table."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field

import pytest

from curation.corpora import CorpusSpec, parse_corpus_spec
from curation.errors import ConfigError
from curation.options import add_arguments, canonical, from_namespace, from_table, group, option


@dataclass(frozen=True)
class Limits:
    min_words: int = 50
    ratios: tuple[float, ...] = (0.2, 0.1)


@dataclass(frozen=True)
class ToyOptions:
    corpus: tuple[CorpusSpec, ...] = field(
        default=(), metadata=option("a corpus", repeatable=True, parse=parse_corpus_spec, required=True)
    )
    files: tuple[str, ...] = field(default=(), metadata=option(spaced=True))
    size: int = 5
    rate: float | None = None
    mode: str = field(default="fast", metadata=option(choices=("fast", "slow")))
    names: tuple[str, ...] = ()
    tags: tuple[str, ...] = field(default=(), metadata=option(flag="--tag", repeatable=True))
    dry_run: bool = False
    limits: Limits = field(default_factory=Limits, metadata=group("limit"))


def parsed(argv: list[str]) -> ToyOptions:
    parser = argparse.ArgumentParser()
    add_arguments(parser, ToyOptions)
    return from_namespace(ToyOptions, parser.parse_args(argv))


def test_command_line_and_table_build_the_same_options():
    argv = ["--corpus", "web=w.jsonl,format=jsonl", "--files", "a", "b", "--size", "5e6", "--rate", "0.5"]
    argv += ["--names", "x, y", "--tag", "k=v", "--tag", "j=w", "--dry-run", "--limit-min-words", "7"]
    argv += ["--limit-ratios", "0.3,0.2"]
    table = {
        "corpus": ["web=w.jsonl,format=jsonl"],
        "files": ["a", "b"],
        "size": 5e6,
        "rate": 0.5,
        "names": ["x", "y"],
        "tags": {"k": "v", "j": "w"},
        "dry_run": True,
        "limit_min_words": 7,
        "limit_ratios": [0.3, 0.2],
    }
    options = parsed(argv)
    assert options == from_table(ToyOptions, table)
    assert options.corpus == (CorpusSpec("web", "w.jsonl", "jsonl"),)
    assert options.size == 5_000_000 and isinstance(options.size, int)
    assert options.tags == ("k=v", "j=w") and options.names == ("x", "y")
    assert options.limits == Limits(7, (0.3, 0.2))
    assert parsed(["--corpus", "w.jsonl"]) == ToyOptions(corpus=(CorpusSpec("w", "w.jsonl"),))


def test_typed_values_go_in_as_they_are_and_canonical_is_json():
    spec = CorpusSpec("crawl", "$RUN/kept")
    options = from_table(ToyOptions, {"mode": "slow"}, corpus=(spec,))
    assert options.corpus == (spec,) and options.mode == "slow"
    assert canonical(options)["corpus"] == [
        {
            "name": "crawl",
            "path": "$RUN/kept",
            "fmt": None,
            "text_field": "text",
            "id_field": None,
            "strip_gutenberg": False,
        }
    ]
    assert canonical(options)["limit_ratios"] == [0.2, 0.1]
    assert canonical(options) == canonical(from_table(ToyOptions, {"mode": "slow"}, corpus=(spec,)))


GIVEN = {"corpus": ["w.jsonl"]}


@pytest.mark.parametrize(
    "table, message",
    [
        (GIVEN | {"size": "big"}, "argument --size: invalid int value: 'big'"),
        (GIVEN | {"size": 2.5}, "argument --size: invalid int value: '2.5'"),
        (GIVEN | {"mode": "medium"}, "argument --mode: invalid choice: 'medium' (choose from 'fast', 'slow')"),
        (GIVEN | {"dry_run": "yes"}, "dry_run must be true or false"),
        (GIVEN | {"size": True}, "size must be a number, a string or a list"),
        (GIVEN | {"sise": 3}, "unknown key 'sise'"),
        ({"corpus": ["=x"]}, "bad corpus spec '=x'"),
        ({}, "the following arguments are required: --corpus"),
    ],
)
def test_a_mistake_is_one_config_error(table, message):
    with pytest.raises(ConfigError) as raised:
        from_table(ToyOptions, table)
    assert message in str(raised.value)


def test_the_command_line_reads_words_the_same_way():
    with pytest.raises(ConfigError, match="argument --size: invalid int value: 'big'"):
        parsed(["--corpus", "w.jsonl", "--size", "big"])

"""The one way a frozen options dataclass becomes command-line flags and is built from a TOML table.

A job's (or the trainer's) options are one dataclass: each field is one option, its name the TOML key and,
with `_` as `-`, the flag (`max_html_bytes` is `--max-html-bytes`). The field's type says how a value is read
(`bool` is a flag; `int`, `float`, `str`, each maybe `| None`; `tuple[X, ...]` a list); its metadata, made by
`option(...)`, says the rest (help, choices, metavar, repeated or space-separated on the command line, a
`parse` function from one command-line word to the value, such as `parse_corpus_spec`, required). A field made
by `group(prefix)` holds a nested options dataclass whose fields are options `PREFIX_NAME` of their own.

Command line and TOML go through the same conversion, so they accept the same values and fail with the same
one-line ConfigError: argparse only splits the words (`from_namespace`); a TOML table's values are typed already,
and a whole float (TOML's `5e6`) is an integer (`convert_table`). Whatever a job derives from its options (a
parsed number, a loaded file) it computes from them; nothing here mutates them.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import types
import typing
from collections.abc import Callable
from typing import Any

from curation.errors import ConfigError

T = typing.TypeVar("T")


def option(
    help: str = "",
    *,
    choices: tuple = (),
    metavar: str | None = None,
    flag: str | None = None,
    repeatable: bool = False,
    spaced: bool = False,
    parse: Callable[[str], Any] | None = None,
    required: bool = False,
    show_default: bool = True,
) -> dict:
    """A field's metadata. `repeatable`: `--flag A --flag B` (a TOML list, or a table of NAME = VALUE as
    `NAME=VALUE` words); `spaced`: `--flag A B` (a TOML list); any other tuple is comma-separated on the
    command line. A field's metadata may also be a plain dict of these keys (`{"help": ...}`). `parse` reads
    one word (a TOML string too) into the value, raising ConfigError; `flag` replaces the flag made from the
    field's name."""
    return {
        "help": help,
        "choices": tuple(choices),
        "metavar": metavar,
        "flag": flag,
        "repeatable": repeatable,
        "spaced": spaced,
        "parse": parse,
        "required": required,
        "show_default": show_default,
    }


def group(prefix: str, names: tuple[str, ...] | None = None) -> dict:
    """A field's metadata: its value is a nested options dataclass whose fields (all, or `names`) are options
    named `PREFIX_FIELD` (`FIELD` when `prefix` is empty); the others keep their defaults."""
    return {"group": (prefix, names)}


OPTION_KEYS = ("help", "choices", "metavar", "flag", "repeatable", "spaced", "parse", "required", "show_default")


@dataclasses.dataclass(frozen=True)
class Option:
    """One option of an options dataclass, as its field declares it."""

    key: str  # the TOML key and the argparse dest
    path: tuple[str, ...]  # field names from the options dataclass down to the value
    item: Any  # int, float, str or bool, or the `parse` function
    many: bool  # a tuple of items
    default: Any
    help: str = ""
    choices: tuple = ()
    metavar: str | None = None
    flag_name: str | None = None
    repeatable: bool = False
    spaced: bool = False
    required: bool = False
    show_default: bool = True

    @property
    def flag(self) -> str:
        return self.flag_name or "--" + self.key.replace("_", "-")

    @property
    def is_flag(self) -> bool:
        return self.item is bool


def field_default(spec: dataclasses.Field) -> Any:
    if spec.default is not dataclasses.MISSING:
        return spec.default
    if spec.default_factory is not dataclasses.MISSING:
        return spec.default_factory()
    return None


def item_type(hint) -> tuple[Any, bool]:
    """(item type, whether the value is a tuple of them) of a field's type hint; `X | None` is read as X
    (None is the default: an option left out)."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        hint = next(arg for arg in typing.get_args(hint) if arg is not type(None))
    if typing.get_origin(hint) is tuple:
        return typing.get_args(hint)[0], True
    return hint, False


@functools.cache
def options_of(cls: type) -> tuple[Option, ...]:
    """The options of dataclass `cls`, in field order (a group's in its own order)."""
    return tuple(collect(cls, (), ""))


def collect(cls: type, path: tuple[str, ...], prefix: str) -> list[Option]:
    hints = typing.get_type_hints(cls)
    found = []
    for spec in dataclasses.fields(cls):
        if "group" in spec.metadata:
            sub_prefix, names = spec.metadata["group"]
            nested = collect(hints[spec.name], (*path, spec.name), sub_prefix)
            found += [o for o in nested if names is None or o.path[-1] in names]
            continue
        meta = {name: spec.metadata[name] for name in OPTION_KEYS if name in spec.metadata}
        item, many = item_type(hints[spec.name])
        parse = meta.pop("parse", None)
        flag = meta.pop("flag", None)
        key = f"{prefix}_{spec.name}" if prefix else spec.name
        found.append(Option(key, (*path, spec.name), parse or item, many, field_default(spec), flag_name=flag, **meta))
    return found


def keys(cls: type) -> list[str]:
    """The TOML keys (argparse dests) of `cls`."""
    return [o.key for o in options_of(cls)]


# --- the command line ------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser, cls: type) -> None:
    """One flag per option of `cls`; the words are left as they are, for `from_namespace`."""
    for o in options_of(cls):
        help_text = o.help
        if o.show_default and o.default not in (None, "", (), False):
            shown = ",".join(map(str, o.default)) if isinstance(o.default, tuple) else o.default
            help_text += f" (default: {shown})" if help_text else f"default: {shown}"
        common = {"dest": o.key, "default": argparse.SUPPRESS, "help": help_text}
        if o.is_flag:
            parser.add_argument(o.flag, action="store_true", **common)
            continue
        metavar = o.metavar or ("{" + ",".join(map(str, o.choices)) + "}" if o.choices else None)
        if o.repeatable:
            action = {"action": "append"}
        elif o.spaced:
            action = {"action": "extend", "nargs": "+"}
        else:
            action = {}
        parser.add_argument(o.flag, required=o.required, metavar=metavar, **action, **common)


def from_namespace(cls: type[T], namespace: argparse.Namespace) -> T:
    """The options `cls` from the words argparse collected (ConfigError for a value that cannot be read)."""
    given = {o.key: getattr(namespace, o.key) for o in options_of(cls) if hasattr(namespace, o.key)}
    return build(cls, convert_table(cls, given))


# --- TOML tables and building ----------------------------------------------------------------------


def from_table(cls: type[T], table: dict, **typed) -> T:
    """The options `cls` from a TOML table, with `typed` values (already of the field's type) set on top."""
    return build(cls, {**convert_table(cls, table), **typed})


def convert_table(cls: type, table: dict) -> dict[str, Any]:
    """{key: value of its option's type} from {key: TOML value or command-line words}."""
    by_key = {o.key: o for o in options_of(cls)}
    converted = {}
    for key, value in table.items():
        if key not in by_key:
            raise ConfigError(f"unknown key {key!r} (known: {', '.join(by_key)})")
        converted[key] = convert(by_key[key], value)
    return converted


def convert(o: Option, value) -> Any:
    """One option's value from a TOML value or the command line's words."""
    if o.is_flag:
        if not isinstance(value, bool):
            raise ConfigError(f"{o.key} must be true or false")
        return value
    if isinstance(value, bool) or (isinstance(value, dict) and not (o.many and (o.repeatable or o.spaced))):
        raise ConfigError(f"{o.key} must be a number, a string or a list")
    if not o.many:
        if isinstance(value, list):  # a list given for one value: its items comma-joined (`priority = [a, b]`)
            value = ",".join(map(word, value))
        return checked(o, read(o, value))
    if isinstance(value, dict):  # `blocklists = { adult = "p" }`: one NAME=VALUE per entry
        items = [f"{name}={word(item)}" for name, item in value.items()]
    elif isinstance(value, list):
        items = value
    elif o.repeatable or o.spaced:
        items = [value]
    else:
        items = [part.strip() for part in str(value).split(",") if part.strip()]
    return tuple(checked(o, read(o, item)) for item in items)


def word(value) -> str:
    """A TOML value as a command-line word; a whole float (TOML's 5e6) as an integer."""
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def read(o: Option, value) -> Any:
    """One item from a word or a TOML number."""
    if o.item in (int, float):
        try:
            number = o.item(value) if isinstance(value, (int, float)) or o.item is float else whole(value)
        except ValueError:
            number = None
        if number is None or (o.item is int and isinstance(value, float) and not value.is_integer()):
            raise ConfigError(f"argument {o.flag}: invalid {o.item.__name__} value: {word(value)!r}")
        return number
    if o.item is str:
        return word(value)
    return o.item(word(value))  # a `parse` function


def whole(text: str) -> int:
    """An integer from a word, which may be written like 5e6 or 300e9."""
    try:
        return int(text)
    except ValueError:
        number = float(text)
        if not number.is_integer():
            raise ValueError(text) from None
        return int(number)


def checked(o: Option, value) -> Any:
    if o.choices and value not in o.choices:
        raise ConfigError(
            f"argument {o.flag}: invalid choice: {value!r} (choose from {', '.join(map(repr, o.choices))})"
        )
    return value


def build(cls: type[T], values: dict[str, Any]) -> T:
    """The options `cls` from {key: typed value}; the options not given keep their defaults."""
    missing = [o.flag for o in options_of(cls) if o.required and o.key not in values]
    if missing:
        raise ConfigError(f"the following arguments are required: {', '.join(missing)}")
    nested: dict = {}
    for o in options_of(cls):
        if o.key in values:
            place = nested
            for name in o.path[:-1]:
                place = place.setdefault(name, {})
            place[o.path[-1]] = values[o.key]
    return assemble(cls, nested)


def assemble(cls: type, nested: dict) -> Any:
    hints = typing.get_type_hints(cls)
    return cls(
        **{
            name: assemble(hints[name], value)
            if isinstance(value, dict) and dataclasses.is_dataclass(hints[name])
            else value
            for name, value in nested.items()
        }
    )


def canonical(options) -> dict[str, Any]:
    """{key: value} of every option, in JSON's types (a dataclass value, such as a CorpusSpec, as its fields):
    what a stage's output is a function of, comparable across runs."""
    return {o.key: plain(functools.reduce(getattr, o.path, options)) for o in options_of(type(options))}


def plain(value) -> Any:
    if dataclasses.is_dataclass(value):
        return {spec.name: plain(getattr(value, spec.name)) for spec in dataclasses.fields(value)}
    if isinstance(value, (tuple, list)):
        return [plain(item) for item in value]
    return value

"""The errors every part of the project reports, and the exit status each one ends a command with.

One place, so that the trainer and the data builders can name a configuration error without importing
Spark, and every command means the same by the same status.
"""

EXIT_OK = 0
EXIT_CONFIG = 2  # a mistake in the options or the input files, caught before any work starts
EXIT_BAD_INPUT = 3  # input that reads but cannot be used (a class with no documents, a doc_id twice)
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports a process ended by Ctrl-C


class ConfigError(Exception):
    """A mistake in the configuration or the inputs, reported as one line before Spark starts: exit 2."""


class BadInput(Exception):
    """Input that parses but cannot be used (a class with no documents, a doc_id twice, a missing column): exit 3."""

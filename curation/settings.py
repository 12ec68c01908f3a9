"""Project-wide settings read from the environment."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def shared_data_dir() -> Path:
    """The real data used by tests and benchmarks: $CURATION_SHARED_DATA, default ../shared/data."""
    return Path(os.environ.get("CURATION_SHARED_DATA") or PROJECT_ROOT.parent / "shared" / "data")

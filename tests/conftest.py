"""Fixtures shared by all tests."""

from __future__ import annotations

from pathlib import Path

import pytest

# the real data sets live beside the project: ../shared/data (see its README.md)
SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` (the real data sets); skips the test when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data not found at {SHARED_DATA} (tests marked realdata need ../shared/data)")
    return SHARED_DATA

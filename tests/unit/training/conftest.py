"""Fixtures of the training tests: a small planted-structure dataset split leave-one-out."""

from __future__ import annotations

import pytest
from train_fixtures import loo, planted

from recsmith.data.splits import Split


@pytest.fixture(scope="session")
def parts() -> Split:
    return loo(planted())

"""Shared test settings."""

import pytest


@pytest.fixture(autouse=True)
def checkpoint_after_every_epoch(monkeypatch):
    """Tests checkpoint after every epoch (their epochs take milliseconds; a run's default cadence,
    lsbook.runtime.CheckpointCadence, would write only the last). Subprocesses inherit it;
    tests/test_train_checkpoints.py checks the default cadence itself."""
    monkeypatch.setenv("LSBOOK_CHECKPOINT_SECONDS", "0")

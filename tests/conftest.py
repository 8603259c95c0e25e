"""Shared test settings."""

import pytest


@pytest.fixture(autouse=True)
def checkpoint_after_every_epoch(monkeypatch):
    """Tests checkpoint after every epoch (their epochs take milliseconds; a run's default cadence,
    lsbook.runtime.CheckpointCadence, would write only the last). Subprocesses inherit it;
    tests/test_train_checkpoints.py checks the default cadence itself."""
    monkeypatch.setenv("LSBOOK_CHECKPOINT_SECONDS", "0")


@pytest.fixture(autouse=True)
def ledger_cache_per_test(monkeypatch, tmp_path_factory):
    """Computed ledgers (lsbook.claims.rows.cached) go to a folder of the test session, never the
    user's cache."""
    monkeypatch.setenv("LSBOOK_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))

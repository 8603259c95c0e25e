"""lsbook: an executable replication of "When does label smoothing help?" (Müller et al., 2019).

All logic of the book lives in this package; the chapters in ``book/`` only call it.
"""

import os

# Idle OpenMP threads sleep instead of spinning. On a shared 2-core machine spinning threads of
# one process starve the others (measured 4x slower linear layers under load); it must be set
# before torch is first imported, so it lives here. An explicit setting is kept.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"

# Bumped by hand whenever the meaning of a training run changes (loss, schedule, data pipeline,
# model definition). It is part of every stored run's key, so stale records are never reused;
# an unrelated commit does not invalidate the store (lsbook.store: the key is the hash of the
# run's configuration, never the git commit).
ENGINE_VERSION = 1

"""lsbook: an executable replication of "When does label smoothing help?" (Müller et al., 2019).

All logic of the book lives in this package; the chapters in ``book/`` only call it.
"""

import os

# Idle OpenMP threads sleep instead of spinning. On a shared 2-core machine spinning threads of
# one process starve the others (measured 4x slower linear layers under load); it must be set
# before torch is first imported, so it lives here. An explicit setting is kept.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def _keep_freed_memory() -> None:
    """Let glibc keep freed memory for the next tensor instead of returning it to the system.

    By default glibc gives every large block (from 128 KiB, adapting upwards) to mmap and back on
    free, so each new activation tensor is faulted in again, page by page, zero-filled by the kernel:
    half the CPU time of a convolutional network's evaluation went to the kernel here
    (bench/README.md). The settings of ``MALLOC_MMAP_THRESHOLD_`` etc. are made through mallopt(3),
    since glibc reads those variables only when a process starts; an explicit variable is kept.
    Memory allocation never changes a result's bits.
    """
    import ctypes
    import ctypes.util

    if any(name in os.environ for name in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_")):
        return
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (macOS, musl): nothing to tune
        return
    m_trim_threshold, m_top_pad, m_mmap_threshold = -1, -2, -3  # <malloc.h>
    mallopt(m_mmap_threshold, 32 * 2**20)  # glibc's largest: blocks below 32 MiB come from the heap
    mallopt(m_trim_threshold, 2**31 - 1)   # never hand the heap's top back to the system
    mallopt(m_top_pad, 256 * 2**20)        # grow the heap 256 MiB at a time


_keep_freed_memory()

__version__ = "0.1.0"

# Bumped by hand whenever the meaning of a training run changes (loss, schedule, data pipeline,
# model definition). It is part of every stored run's key, so stale records are never reused;
# an unrelated commit does not invalidate the store (lsbook.store: the key is the hash of the
# run's configuration, never the git commit).
ENGINE_VERSION = 1

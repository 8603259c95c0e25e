"""``python -m lsbook data status`` and ``python -m lsbook data fetch NAME``."""

from __future__ import annotations

import argparse

from lsbook.data.acquire import dataset_status, fetch
from lsbook.data.registry import DATASETS, get_dataset
from lsbook.data.roots import data_root


def human_size(size: int) -> str:
    """Bytes as a short human-readable string (1.2 GB, 30.1 MB)."""
    value = float(size)
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} GB"


def status_command(args: argparse.Namespace) -> int:
    """Print every dataset: present/missing, where, size; the fetch command for missing ones."""
    root = args.root
    print(f"data root: {root if root is not None else data_root()}  (set LSBOOK_DATA to change it)")
    rows = dataset_status(root)
    width = max(len(row.name) for row in rows)
    for row in rows:
        if row.present:
            print(f"{row.name:<{width}}  present  {human_size(row.size_bytes):>9}  {row.path}")
        else:
            print(f"{row.name:<{width}}  missing  {'-':>9}  {row.path}  -> {row.fetch_command}")
    return 0


def fetch_command(args: argparse.Namespace) -> int:
    """Download and verify one dataset into the data root."""
    info = get_dataset(args.name)
    folder = fetch(info.name, args.root, force=args.force, progress=not args.quiet)
    print(f"{info.name}: verified, in {folder}")
    return 0


def register(subparsers) -> None:
    """Add the ``data`` command group (status, fetch) to lsbook's command line."""
    data = subparsers.add_parser("data", help="dataset status and downloads",
                                 description="Datasets: where they are, and downloading them.")
    commands = data.add_subparsers(dest="data_command", required=True, metavar="ACTION")
    status = commands.add_parser("status", help="list every dataset: present/missing, path, size")
    status.add_argument("--root", default=None, help="data root to inspect (default: $LSBOOK_DATA "
                        "or ~/.cache/lsbook, plus known local copies)")
    status.set_defaults(func=status_command)
    get = commands.add_parser("fetch", help="download and verify one dataset into the data root")
    get.add_argument("name", help="dataset: " + ", ".join(DATASETS))
    get.add_argument("--root", default=None, help="data root to write to (default: $LSBOOK_DATA or ~/.cache/lsbook)")
    get.add_argument("--force", action="store_true", help="download again even if present")
    get.add_argument("--quiet", action="store_true", help="no progress bars")
    get.set_defaults(func=fetch_command)

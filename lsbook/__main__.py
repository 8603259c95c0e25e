"""``python -m lsbook ...``: see :mod:`lsbook.cli`."""

from lsbook.cli import main

raise SystemExit(main())

"""``python -m lsbook.experiments distill|mutual-info ...`` (see lsbook.experiments.cli)."""

import sys

from lsbook.experiments.cli import main

sys.exit(main())

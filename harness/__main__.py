"""`python -m harness` is the same as the `scansion-py` command."""

import sys

from harness.cli import main

sys.exit(main())

"""``python -m overtone``."""

import sys

from overtone.cli import main

sys.exit(main())

"""``python -m vfp`` is the ``vfp`` command."""

import sys

from .cli import main

sys.exit(main())

"""``python -m threatsim.cli``: the ``threatsim`` command."""

import sys

from threatsim.cli.main import main

sys.exit(main())

"""The ``threatsim`` console script: light to import, so that Ctrl-C while the command
line's modules load (numpy, xarray, scipy: about a second) ends with one line and exit
status 130, as it does later (:func:`threatsim.cli.main.main`), instead of an import's
traceback."""

from __future__ import annotations

import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """Load :mod:`threatsim.cli.main` and run its ``main``.

    >>> main(["validate", "scenarios/financing.toml"])
    scenarios/financing.toml: ok (model financing, 12 parameters, 36 months from 2019-01,
    run id ...)
    0
    """
    try:
        from threatsim.core.interrupts import InterruptGuard

        with InterruptGuard() as guard:
            from threatsim.cli.main import main as cli_main
            guard.check()  # a Ctrl-C an import swallowed on the way, raised here
    except KeyboardInterrupt:  # the message and status threatsim.cli.main.main gives
        print("threatsim: interrupted; nothing was written", file=sys.stderr)
        return 130
    return cli_main(argv)

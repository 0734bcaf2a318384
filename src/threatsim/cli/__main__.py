"""``python -m threatsim.cli``: the ``threatsim`` command.

As in the console script (:mod:`threatsim._entry`, a layer above this one), Ctrl-C
while the command line's modules load ends with one line and exit status 130, not
an import's traceback.
"""

import sys

try:
    from threatsim.core.interrupts import InterruptGuard

    with InterruptGuard() as guard:
        from threatsim.cli.main import main
        guard.check()  # a Ctrl-C an import swallowed on the way, raised here
except KeyboardInterrupt:  # the message and status threatsim.cli.main.main gives
    print("threatsim: interrupted; nothing was written", file=sys.stderr)
    sys.exit(130)

sys.exit(main())

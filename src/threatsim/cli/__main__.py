"""``python -m threatsim.cli``: the ``threatsim`` command.

As in the console script (:mod:`threatsim._entry`, a layer above this one), Ctrl-C
while the command line's modules load ends with one line and exit status 130, not
an import's traceback.
"""

import sys

try:
    from threatsim.core.interrupts import interrupts_recorded_while_loading

    with interrupts_recorded_while_loading():  # raised here, not lost in an import
        from threatsim.cli.main import main
except KeyboardInterrupt:  # the message and status threatsim.cli.main.main gives
    print("threatsim: interrupted; nothing was written", file=sys.stderr)
    sys.exit(130)

sys.exit(main())

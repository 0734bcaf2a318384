"""``threatsim bands``: a results file's run-table bands as CSV or XLSX
(:mod:`threatsim.outputs.bands_table`: the rows ``threatsim run`` prints).
"""

from __future__ import annotations

import argparse

from threatsim.outputs.bands_table import check_bands_path, write_bands
from threatsim.results import open_results

__all__ = ["add_bands_command"]


def _cmd_bands(args: argparse.Namespace) -> int:
    kind, path = ("csv", args.csv) if args.csv else ("xlsx", args.xlsx)
    key = f"--{kind}"
    check_bands_path(path, kind=kind, key=key)  # before the file is read
    ds = open_results(args.run)
    print(f"wrote {write_bands(ds, path, kind=kind, key=key)}")
    return 0


def add_bands_command(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``threatsim bands RUN.nc --csv OUT.csv | --xlsx OUT.xlsx``.

    >>> parser = argparse.ArgumentParser()
    >>> add_bands_command(parser.add_subparsers())
    >>> parser.parse_args(["bands", "run.nc", "--csv", "b.csv"]).csv
    'b.csv'
    """
    p = sub.add_parser("bands", help="export a run's table of bands (the rows threatsim run "
                                     "prints, with provenance) to CSV or XLSX")
    p.add_argument("run", metavar="RUN.nc", help="a results file (.nc, or a .zarr store)")
    out = p.add_mutually_exclusive_group(required=True)
    out.add_argument("--csv", metavar="OUT.csv", help="write the bands to this CSV file")
    out.add_argument("--xlsx", metavar="OUT.xlsx",
                     help="write them to this spreadsheet (needs the xlsx extra: openpyxl)")
    p.set_defaults(func=_cmd_bands)

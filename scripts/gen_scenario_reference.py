"""Regenerate the key table of docs/scenario-reference.md from threatsim.inputs.schema.KEYS.

Run after changing the schema: python scripts/gen_scenario_reference.py
The test tests/test_docs.py fails when the doc and the schema disagree.
"""

from __future__ import annotations

from pathlib import Path

from threatsim.inputs.schema import KEYS, PARAMETER_UNITS

DOC = Path(__file__).resolve().parents[1] / "docs" / "scenario-reference.md"
BEGIN, END = "<!-- keys:begin -->", "<!-- keys:end -->"


def table() -> str:
    rows = ["| key | type | default | allowed | example | meaning |", "|---|---|---|---|---|---|"]
    for k in KEYS:
        cells = [f"`{k.key}`", k.type, k.default, k.allowed, f"`{k.example}`", k.doc]
        rows.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    rows.append("")
    rows.append("Units a parameter may carry:")
    rows.append("")
    rows.extend(f"- `{u}`: {d}" for u, d in PARAMETER_UNITS.items())
    return "\n".join(rows)


def main() -> None:
    text = DOC.read_text()
    head, rest = text.split(BEGIN)
    _, tail = rest.split(END)
    DOC.write_text(f"{head}{BEGIN}\n{table()}\n{END}{tail}")


if __name__ == "__main__":
    main()

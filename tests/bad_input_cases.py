"""README.md's table "What radiomix does with bad input", generated from the CASES of the bad-input and red-team
test suites (each case is a test there, with a fixture the test builds itself).

    python tests/bad_input_cases.py          # print the table (paste it into README.md)

tests/test_bad_input.py checks that README.md holds exactly this table.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

#: The suites, in the order their cases appear in the table, with the heading of their part of the table.
SUITES = {
    "test_bad_input": "tables, configs, models and outputs",
    "test_redteam_outputs": "output folders and Ctrl-C",
    "test_redteam_configs": "configs",
    "test_redteam_tables": "tables and what is printed from files",
    "test_redteam_model_files": "model files",
    "test_redteam_images": "images and masks",
}


def suite_cases() -> dict[str, dict[str, tuple[str, str]]]:
    """``{suite module: {case id: (input, what radiomix does)}}``."""
    here = str(Path(__file__).resolve().parent)
    if here not in sys.path:
        sys.path.insert(0, here)
    return {name: dict(importlib.import_module(name).CASES) for name in SUITES}


def readme_table() -> str:
    """The markdown table: one row per case, suites in :data:`SUITES` order."""
    lines = ["| case | input | what radiomix does | test suite |", "|---|---|---|---|"]
    for suite, cases in suite_cases().items():
        for case, (what, does) in cases.items():
            lines.append(f"| `{case}` | {what} | {does} | `tests/{suite}.py` |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(readme_table())

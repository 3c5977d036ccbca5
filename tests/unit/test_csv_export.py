"""CSV export: cells a spreadsheet would run as formulas open as text; everything else is unchanged."""

from __future__ import annotations

import csv
import io

import pandas as pd
import pytest

from mimio_core.csv_export import safe_csv


@pytest.mark.parametrize(
    ("title", "written"),
    [
        ('=HYPERLINK("http://evil","Click")', '\'=HYPERLINK("http://evil","Click")'),
        ("+1+cmd|' /C calc'!A0", "'+1+cmd|' /C calc'!A0"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1:A2)", "'@SUM(A1:A2)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("A red fox", "A red fox"),
        ("fox = 1", "fox = 1"),
    ],
)
def test_formula_like_cells_are_prefixed_with_a_quote(title: str, written: str) -> None:
    table = pd.DataFrame({"Title": [title], "Seconds": [4], "Progress": [-1]})
    (row,) = csv.DictReader(io.StringIO(safe_csv(table)))
    assert row == {"Title": written, "Seconds": "4", "Progress": "-1"}  # numbers stay numbers

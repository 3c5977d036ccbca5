"""Tables written as CSV that a spreadsheet opens as text, never as formulas."""

from __future__ import annotations

import csv

import pandas as pd

# A cell starting with one of these is run as a formula by Excel, LibreOffice and Google Sheets
# (OWASP "CSV injection"); a title from a pre-filled link could plant one.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(cell: object) -> object:
    """A text cell that would open as a formula, prefixed with a quote so it opens as text."""
    if isinstance(cell, str) and cell.startswith(FORMULA_STARTS):
        return "'" + cell
    return cell


def safe_csv(table: pd.DataFrame) -> str:
    """The table as CSV with every formula-like text cell (and header) neutralised."""
    safe = table.map(neutralise)
    safe.columns = [neutralise(name) for name in safe.columns]
    # every text cell quoted: pandas leaves a lone CR unquoted, which would split the row
    return safe.to_csv(index=False, quoting=csv.QUOTE_NONNUMERIC)

"""Cells of the CSV files the console exports (candidates, audit history)."""

import re

# A cell a spreadsheet would run as a formula; phone numbers ("+1...") are left as they are.
FORMULA = re.compile(r"^[=@\t\r]|^[+-](?![\d\s().-]*$)")


def safe_cell(text):
    """`text` as a spreadsheet shows it and never runs it: a formula gets a leading quote."""
    return f"'{text}" if FORMULA.match(text) else text

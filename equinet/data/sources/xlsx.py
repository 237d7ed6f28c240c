"""What the Excel reader does not tell: whether a file is a workbook at all, and which cells hold Excel errors."""

from __future__ import annotations

import posixpath
import re
import zipfile
from pathlib import Path
from xml.etree import ElementTree

ZIP_SIGNATURE = b"PK\x03\x04"
MAX_UNPACKED = 256 * 2**20  # a workbook of one stock's daily bars unpacks to a few MiB; more is a zip bomb
ERROR_VALUES = ("#NULL!", "#DIV/0!", "#VALUE!", "#REF!", "#NAME?", "#NUM!", "#N/A", "#GETTING_DATA")
_MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_REL = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"
_PKG_REL = "{http://schemas.openxmlformats.org/package/2006/relationships}Relationship"


def screen(path: Path) -> str | None:
    """Why path cannot be a workbook worth opening (signature, damage, unpacked size), or None."""
    with open(path, "rb") as f:
        if f.read(4) != ZIP_SIGNATURE:
            return "not an Excel .xlsx workbook (it does not start with the zip signature)"
    try:
        with zipfile.ZipFile(path) as z:
            unpacked = sum(info.file_size for info in z.infolist())
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        return f"not a readable .xlsx workbook (damaged zip: {exc})"
    if unpacked > MAX_UNPACKED:
        return (f"the workbook unpacks to {unpacked / 2**20:,.0f} MiB; ingest opens workbooks up to "
                f"{MAX_UNPACKED // 2**20} MiB unpacked (one stock's daily bars take a few)")
    return None


def _column_index(ref: str) -> int:
    """'C7' -> 2."""
    index = 0
    for letter in re.match(r"[A-Z]+", ref).group(0):
        index = index * 26 + ord(letter) - 64
    return index - 1


def _sheet(z: zipfile.ZipFile, index: int) -> str:
    """The zip member of the workbook's sheet `index` (what the reader loads as that sheet)."""
    sheet = ElementTree.fromstring(z.read("xl/workbook.xml")).findall(f"{_MAIN}sheets/{_MAIN}sheet")[index]
    rels = ElementTree.fromstring(z.read("xl/_rels/workbook.xml.rels"))
    target = next(r.get("Target") for r in rels.iter(_PKG_REL) if r.get("Id") == sheet.get(_REL))
    return target.lstrip("/") if target.startswith("/") else posixpath.normpath(posixpath.join("xl", target))


def unread_cells(path: Path, sheet: int = 0) -> dict[tuple[int, int], str]:
    """{(Excel row, column index): text} for the cells the reader shows empty though they hold something: Excel
    errors ('#NUM!') and formulas with no saved value ('=B6*1.01': the file was written by a program that does
    not compute formulas, and never opened in Excel)."""
    found = {}
    with zipfile.ZipFile(path) as z, z.open(_sheet(z, sheet)) as xml:
        for _, cell in ElementTree.iterparse(xml):
            if cell.tag == f"{_MAIN}c":
                ref, formula, value = cell.get("r"), cell.findtext(f"{_MAIN}f"), cell.findtext(f"{_MAIN}v", "")
                at = (int(re.search(r"\d+", ref).group(0)), _column_index(ref))
                if cell.get("t") == "e":
                    found[at] = value
                elif formula is not None and not value.strip():
                    found[at] = "=" + formula
            if cell.tag == f"{_MAIN}row":
                cell.clear()
    return found

"""The helper process of :class:`xlflow.io.zipscan.ScanBeside`: scans worksheet parts of a workbook and says,
one JSON line at a time, how far it has got (rows passed, widest column), each part's whole scan, or why
the file is refused.

    python -m xlflow.io.scanner FILE LIMITS_JSON BUDGET PART [PART ...]
"""

from __future__ import annotations

import dataclasses
import json
import sys

from xlflow.io.opening import Limits, UnreadableWorkbook
from xlflow.io.zipscan import SheetScan, scan_parts


def _say(message: dict) -> None:
    sys.stdout.write(json.dumps(message, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def _whole(scan: SheetScan) -> dict:
    out = dataclasses.asdict(scan)
    out["formula_blank"] = sorted(scan.formula_blank)
    out["error_cells"] = [[r, c, text] for (r, c), text in scan.error_cells.items()]
    out["merged"] = [list(m) for m in scan.merged]
    return out


def main(argv: list[str]) -> int:
    path, limits, budget, parts = argv[0], Limits(**json.loads(argv[1])), int(argv[2]), argv[3:]
    try:
        for part, scan in scan_parts(path, parts, limits, budget,
                                     lambda part, s: _say({"part": part, "rows": s.max_row, "max_col": s.max_col})):
            _say({"part": part, "done": _whole(scan)})
    except UnreadableWorkbook as exc:
        _say({"refused": exc.detail})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""A Moodle 4.1 "Download all submissions" zip of N distinct 13_n notebooks.

Shared by the benchmarks that grade a whole class (``moodle_dask.py``; the forked-kernel
work's ``moodle_200.py`` can build the same zip with ``build_13n_zip``). Each student
gets one of 13_n's answer variants from ``tests/variants`` (two correct ones written
differently from the reference, and two with one realistic bug each), made distinct by a
comment with the student's number, so no two submissions share a checksum. The same
arguments always give the same bytes.

    .venv/bin/python bench/zip_13n.py out.zip --n 200
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VARIANTS = ("13_n_alt", "13_n_alt_recursive_softmax", "13_n_bug_softmax_unstable",
            "13_n_bug_step_at_zero")


def _moodle_zips():  # type: ignore[no-untyped-def]
    sys.path.insert(0, str(REPO / "tests"))
    import moodle_zips

    return moodle_zips


def distinct_notebook(variant: str, student: int) -> bytes:
    """``variant`` with a first code line that names the student (a new checksum)."""
    nb = json.loads((REPO / "tests" / "variants" / f"{variant}.ipynb").read_text("utf-8"))
    for cell in nb["cells"]:
        if cell["cell_type"] == "code" and "solution" in json.dumps(cell.get("metadata", {})):
            source = cell["source"]
            text = "".join(source) if isinstance(source, list) else source
            cell["source"] = f"# 学籍番号 {student:05d}\n{text}"
            break
    return json.dumps(nb, ensure_ascii=False, indent=1).encode("utf-8")


def build_13n_zip(path: Path, n: int = 200) -> dict[str, str]:
    """Write the zip; participant id → variant, for checking what was graded."""
    mz = _moodle_zips()
    students, variants = [], {}
    for i in range(n):
        pid, variant = 10_000 + i, VARIANTS[i % len(VARIANTS)]
        students.append(mz.Student(pid, f"学生 {i:03d}",
                                   {"13_n.ipynb": distinct_notebook(variant, i)}))
        variants[str(pid)] = variant
    mz.build_submissions_zip(path, students, layout=mz.FOLDERS_4X)
    return variants


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("out", type=Path)
    p.add_argument("--n", type=int, default=200)
    args = p.parse_args(argv)
    build_13n_zip(args.out, args.n)
    print(f"{args.out}: {args.n} students")


if __name__ == "__main__":
    main()

"""The student edition: the chapter notebooks with their solution cells removed, everything else kept."""

import json
import subprocess

import nbformat

from resbook.site import execute as book


def test_make_student_writes_the_notebooks_without_solutions():
    subprocess.run(["make", "-s", "student"], cwd=book.ROOT, check=True, capture_output=True)
    for chapter in book.chapters():
        original = nbformat.read(chapter, as_version=4)
        solutions = [c for c in original.cells if "solution" in c.metadata.get("tags", [])]
        assert len(solutions) == 1 and "Solutions" in solutions[0].source  # each chapter has them, tagged
        student = json.loads((book.ROOT / "_build" / "student" / chapter.name).read_text())
        assert len(student["cells"]) == len(original.cells) - 1
        assert not any("Solutions" in "".join(c["source"]) for c in student["cells"])
        assert any("## Exercises" in "".join(c["source"]) for c in student["cells"])  # the questions stay

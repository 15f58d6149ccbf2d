"""The sanitizer rebuilds the notebook to execute from the source; no submission makes it raise."""

import json

import nbformat
import pytest

from conftest import GOOD, cell_by_id, solve, toy_source
from gradehub.sanitize import sanitize


@pytest.fixture
def pair(toy_course):
    src = nbformat.read(toy_course.source_dir("toy") / "toy.ipynb", as_version=4)
    rel = nbformat.read(toy_course.release_dir("toy") / "toy.ipynb", as_version=4)
    return src, rel


def _run(tmp_path, nb_or_text, pair, max_bytes=2**20):
    path = tmp_path / "sub.ipynb"
    if isinstance(nb_or_text, str):
        path.write_text(nb_or_text)
    else:
        nbformat.write(nb_or_text, path)
    return sanitize(path, *pair, max_bytes=max_bytes)


def _ids(nb):
    return [c.metadata.get("nbgrader", {}).get("grade_id", "-") for c in nb.cells]


def test_answers_are_kept_and_hidden_tests_restored(tmp_path, pair):
    rel = nbformat.from_dict(pair[1])
    result = _run(tmp_path, solve(rel, GOOD), pair)
    assert result.ok and result.notes == []
    assert "BEGIN HIDDEN TESTS" in cell_by_id(result.notebook, "square_tests").source
    assert cell_by_id(result.notebook, "square").source == GOOD["square"]
    assert _ids(result.notebook) == _ids(pair[0])
    assert result.notebook.metadata.kernelspec.name == "python3"


def test_added_cells_run_after_the_cell_they_followed(tmp_path, pair):
    rel = solve(nbformat.from_dict(pair[1]), GOOD)
    rel.cells.insert(3, nbformat.v4.new_code_cell("helper = 1"))  # after the `square` answer
    result = _run(tmp_path, rel, pair)
    ids = _ids(result.notebook)
    assert ids.index("square") < ids.index("-") < ids.index("square_tests")


def test_reordered_tests_go_back_to_their_place(tmp_path, pair):
    rel = solve(nbformat.from_dict(pair[1]), GOOD)
    test = rel.cells.pop(3)
    rel.cells.insert(0, test)
    result = _run(tmp_path, rel, pair)
    assert _ids(result.notebook) == _ids(pair[0])


def test_stripped_answer_keeps_its_code_without_a_stub(tmp_path, pair):
    rel = solve(nbformat.from_dict(pair[1]), GOOD)
    del cell_by_id(rel, "square").metadata["nbgrader"]
    result = _run(tmp_path, rel, pair)
    sources = [c.source for c in result.notebook.cells]
    assert GOOD["square"] in sources
    assert not any("NotImplementedError" in s for s in sources)
    assert any("lost its metadata" in n for n in result.notes)


def test_deleted_free_response_counts_as_unanswered(tmp_path, pair):
    rel = solve(nbformat.from_dict(pair[1]), GOOD)
    rel.cells = [c for c in rel.cells if c.metadata.get("nbgrader", {}).get("grade_id") != "explain"]
    result = _run(tmp_path, rel, pair)
    assert cell_by_id(result.notebook, "explain").source == "YOUR ANSWER HERE"


def test_outputs_and_cell_ids_are_reset(tmp_path, pair):
    rel = solve(nbformat.from_dict(pair[1]), GOOD)
    cell_by_id(rel, "square").outputs = [nbformat.v4.new_output("stream", name="stdout", text="x" * 100)]
    raw = json.loads(nbformat.writes(rel))
    for c in raw["cells"]:
        c["id"] = "same"
    result = _run(tmp_path, json.dumps(raw), pair)
    ids = [c["id"] for c in result.notebook.cells]
    assert len(set(ids)) == len(ids)
    assert all(not c.get("outputs") for c in result.notebook.cells if c.cell_type == "code")
    nbformat.validate(result.notebook)


@pytest.mark.parametrize("text, words", [
    ("", "not valid JSON"), ("[1, 2]", "not a Jupyter notebook"),
    (json.dumps({"nbformat": 3, "cells": []}), "format 3"),
    ("[" * 100000 + "]" * 100000, "nested too deeply"),
    (b"\xff\xfe".decode("latin-1"), "not UTF-8"),
])
def test_unreadable_files_are_results(tmp_path, pair, text, words):
    path = tmp_path / "sub.ipynb"
    path.write_bytes(text.encode("latin-1") if words == "not UTF-8" else text.encode())
    result = sanitize(path, *pair, max_bytes=2**30)
    assert not result.ok and words in result.error


def test_oversize_and_symlinks_are_refused(tmp_path, pair):
    big = tmp_path / "big.ipynb"
    big.write_text(json.dumps({"nbformat": 4, "cells": [], "pad": "x" * 5000}))
    assert "over the limit" in sanitize(big, *pair, max_bytes=1000).error
    link = tmp_path / "link.ipynb"
    link.symlink_to("/etc/passwd")
    assert "not a regular file" in sanitize(link, *pair, max_bytes=2**20).error


def test_garbage_cells_are_dropped_not_fatal(tmp_path, pair):
    rel = json.loads(nbformat.writes(solve(nbformat.from_dict(pair[1]), GOOD)))
    rel["cells"].insert(0, {"cell_type": "code", "source": 17})
    rel["cells"].insert(0, "not a cell")
    result = _run(tmp_path, json.dumps(rel), pair)
    assert result.ok and sum("dropped cell" in n for n in result.notes) == 2


def test_source_of_toy_sheet_is_what_the_fixture_says():
    assert [c.metadata.nbgrader.grade_id for c in toy_source().cells][:3] == ["intro", "setup", "square"]

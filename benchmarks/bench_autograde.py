"""gradehub autograde vs nbgrader autograde on a torch-based sheet (run on demand).

    .venv/bin/python benchmarks/bench_autograde.py [--students 40] [--sandbox docker|local] [--jobs N]

Builds a throwaway course with a small torch sheet (fit a line and a tiny MLP with autograd),
makes N synthetic submissions (correct, partly wrong, blank), then grades the same files

1. with nbgrader's own ``nbgrader autograde`` (sequential, no sandbox), and
2. with ``gradehub autograde`` (parallel, sandboxed),

and prints both wall times, their ratio, and the per-submission overhead of gradehub's
sandbox over bare notebook execution (nbclient on the same sanitized notebook, no sandbox).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from gradehub.authoring import nbgrader_metadata as nbg  # noqa: E402
from gradehub.course import load_course  # noqa: E402
from gradehub.grading import autograde  # noqa: E402
from gradehub.release import release  # noqa: E402
from gradehub.sanitize import sanitize  # noqa: E402


def torch_sheet(host_checks: bool = False) -> nbformat.NotebookNode:
    """The sheet nbgrader grades (asserts in the kernel), or with ``host_checks`` the same sheet
    as gradehub grades it: the hidden tests record values, the grader decides on the host."""
    code, md = nbformat.v4.new_code_cell, nbformat.v4.new_markdown_cell
    cells = [
        md("# Benchmark sheet: fitting with autograd", metadata=nbg("intro", locked=True)),
        code("import numpy as np\nimport torch\ntorch.manual_seed(0)\n"
             "x = torch.linspace(-1, 1, 200)\ny = 2.5 * x - 0.7 + 0.05 * torch.randn(200)",
             metadata=nbg("setup", locked=True)),
        code("def fit_line(x, y, steps=300, lr=0.1):\n    \"\"\"Slope and intercept by gradient descent.\"\"\"\n"
             "    ### BEGIN SOLUTION\n    w = torch.zeros(2, requires_grad=True)\n"
             "    opt = torch.optim.SGD([w], lr=lr)\n    for _ in range(steps):\n"
             "        opt.zero_grad()\n        loss = ((w[0] * x + w[1] - y) ** 2).mean()\n"
             "        loss.backward()\n        opt.step()\n    return w.detach()\n    ### END SOLUTION",
             metadata=nbg("line", solution=True)),
        code("from gradehub.testing import assert_close, record\nw = fit_line(x, y)\n"
             "assert_close(w, torch.tensor([2.5, -0.7]), atol=0.05)\n### BEGIN HIDDEN TESTS\n"
             "xx = torch.linspace(0, 2, 100)\n"
             + ("record('w', fit_line(xx, -1.0 * xx + 3.0))\n### BEGIN HOST CHECKS\n"
                "assert_close(got['w'], [-1.0, 3.0], atol=0.05, name='fit_line on new data')\n"
                "### END HOST CHECKS\n" if host_checks else
                "assert_close(fit_line(xx, -1.0 * xx + 3.0), [-1.0, 3.0], atol=0.05)\n")
             + "### END HIDDEN TESTS", metadata=nbg("line_tests", grade=True, locked=True, points=2)),
        code("def mlp_fit(x, y, epochs=200):\n    \"\"\"A 1-16-1 tanh MLP fitted by Adam; returns the model.\"\"\"\n"
             "    ### BEGIN SOLUTION\n    model = torch.nn.Sequential(torch.nn.Linear(1, 16), torch.nn.Tanh(), "
             "torch.nn.Linear(16, 1))\n    opt = torch.optim.Adam(model.parameters(), lr=0.03)\n"
             "    for _ in range(epochs):\n        opt.zero_grad()\n"
             "        loss = ((model(x[:, None])[:, 0] - y) ** 2).mean()\n        loss.backward()\n"
             "        opt.step()\n    return model\n    ### END SOLUTION",
             metadata=nbg("mlp", solution=True)),
        code("from gradehub.testing import assert_true, record\nxs = torch.linspace(-2, 2, 200)\n"
             "### BEGIN HIDDEN TESTS\nm = mlp_fit(xs, torch.sin(2 * xs))\n"
             + ("record('pred', m(xs[:, None])[:, 0].detach())\n### BEGIN HOST CHECKS\n"
                "mse = float(np.mean((as_array(got['pred']) - np.sin(2 * np.linspace(-2, 2, 200))) ** 2))\n"
                "assert_true(mse < 0.05, f'MSE {mse:.3f} is too large')\n### END HOST CHECKS\n" if host_checks else
                "mse = float(((m(xs[:, None])[:, 0] - torch.sin(2 * xs)) ** 2).mean().detach())\n"
                "assert_true(mse < 0.05, f'MSE {mse:.3f} is too large')\n")
             + "### END HIDDEN TESTS", metadata=nbg("mlp_tests", grade=True, locked=True, points=2)),
    ]
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    return nb


def build(root: Path, n: int) -> list[str]:
    (root / "source" / "bench").mkdir(parents=True)
    shutil.copy(REPO / "nbgrader_config.py", root / "nbgrader_config.py")
    (root / "course.toml").write_text('[course]\nid = "nat3008"\n\n[limits]\ncell_timeout = 60\n'
                                      'notebook_timeout = 120\nmemory = "2GiB"\n\n'
                                      '[[assignment]]\nid = "bench"\ntitle = "bench"\n')
    source = torch_sheet()
    nbformat.write(source, root / "source" / "bench" / "bench.ipynb")
    course = load_course(root)
    release(course, "bench")
    rel = nbformat.read(root / "release" / "bench" / "bench.ipynb", as_version=4)
    answers = {c.metadata["nbgrader"]["grade_id"]: c for c in source.cells
               if c.metadata.get("nbgrader", {}).get("solution")}
    students = []
    for i in range(n):
        nb = nbformat.from_dict(rel)
        for cell in nb.cells:
            gid = cell.metadata.get("nbgrader", {}).get("grade_id")
            if gid in answers and i % 5 != 4:                       # every fifth is blank
                text = "\n".join(ln for ln in answers[gid].source.splitlines() if "###" not in ln)
                cell.source = text.replace("lr=0.1", "lr=0.001") if (gid == "line" and i % 5 == 3) else text
        sid = f"b{i:03d}"
        d = root / "submitted" / sid / "bench"
        d.mkdir(parents=True)
        nbformat.write(nb, d / "bench.ipynb")
        (d / "timestamp.txt").write_text("2026-10-20 12:00:00.000000 UTC")
        students.append(sid)
    return students


def time_nbgrader(root: Path, students: list[str]) -> float:
    env = {**os.environ, "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"]}
    run = lambda *a: subprocess.run([sys.executable, "-m", "nbgrader", *a], cwd=root, env=env,  # noqa: E731
                                    capture_output=True, text=True, check=True)
    for sid in students:
        run("db", "student", "add", sid)
    started = time.monotonic()
    run("autograde", "bench", "--force")
    return time.monotonic() - started


def time_bare(root: Path, students: list[str], k: int) -> float:
    """Mean seconds of plain nbclient execution of the sanitized notebook (no sandbox)."""
    from nbclient import NotebookClient
    course = load_course(root)
    source = nbformat.read(course.source_dir("bench") / "bench.ipynb", as_version=4)
    rel = nbformat.read(course.release_dir("bench") / "bench.ipynb", as_version=4)
    times = []
    for sid in students[:k]:
        clean = sanitize(course.submitted_dir(sid, "bench") / "bench.ipynb", source, rel, 2**24).notebook
        with tempfile.TemporaryDirectory() as tmp:
            started = time.monotonic()
            NotebookClient(clean, timeout=120, allow_errors=True, resources={"metadata": {"path": tmp}}).execute()
            times.append(time.monotonic() - started)
    return sum(times) / len(times)


def totals(root: Path) -> dict[str, float]:
    """{student: total auto score} from a course root's gradebook."""
    from nbgrader.api import Gradebook
    gb = Gradebook(f"sqlite:///{root / 'gradebook.db'}", course_id=load_course(root).id)
    try:
        return {s.student.id: round(s.score, 3) for s in gb.assignment_submissions("bench")}
    finally:
        gb.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=40)
    parser.add_argument("--sandbox", choices=("docker", "local"), default=None)
    parser.add_argument("--jobs", type=int, default=os.cpu_count())
    args = parser.parse_args()
    from gradehub.sandbox.default import default_sandbox
    from gradehub.sandbox.base import get_sandbox
    sandbox = args.sandbox or default_sandbox()[0]
    get_sandbox(sandbox).preflight()      # fail now, not after nbgrader's minutes
    with tempfile.TemporaryDirectory(prefix="gradehub-bench-") as tmp:
        a, b = Path(tmp) / "nbgrader", Path(tmp) / "gradehub"
        students = build(a, args.students)
        shutil.copytree(a, b)
        # gradehub grades the same submissions against the host-check version of the sheet
        # (its release is the same: only the hidden region differs)
        nbformat.write(torch_sheet(host_checks=True), b / "source" / "bench" / "bench.ipynb")
        release(load_course(b), "bench")
        nbgrader_s = time_nbgrader(a, students)
        started = time.monotonic()
        summary = autograde(load_course(b), "bench", jobs=args.jobs, sandbox=sandbox, force=True)
        gradehub_s = time.monotonic() - started
        bare = time_bare(b, students, k=5)
        started = time.monotonic()
        autograde(load_course(b), "bench", jobs=1, sandbox=sandbox, force=True, students=students[:5])
        per_job = (time.monotonic() - started) / 5      # wall: container start, sanitizing, writing included
        differ = [sid for sid in students if totals(a).get(sid) != totals(b).get(sid)]
    scores = sorted({round(r.score, 1) for r in summary.results})
    print(f"{args.students} submissions of a torch sheet, {os.cpu_count()} cores; score levels {scores}")
    print(f"nbgrader autograde (sequential, no sandbox): {nbgrader_s:7.1f} s")
    print(f"gradehub autograde ({sandbox} sandbox, {args.jobs} jobs):  {gradehub_s:7.1f} s")
    print(f"speed-up: {nbgrader_s / gradehub_s:.2f}x (the reference run included)")
    print(f"reference run: {summary.reference_duration:6.1f} s, {summary.reference_duration / gradehub_s:.1%} "
          "of gradehub's wall time")
    print(f"bare nbclient execution per notebook:         {bare:6.2f} s")
    print(f"gradehub per submission (1 job, {sandbox}, wall): {per_job:6.2f} s")
    print(f"sandbox overhead per submission:              {per_job - bare:+6.2f} s")
    print(f"students scored differently by the two:        {len(differ)} {differ[:5]}")
    print(f"load average at the end: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

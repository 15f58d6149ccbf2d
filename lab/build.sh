#!/usr/bin/env bash
# Rebuild the prebuilt JupyterLab extension shipped in gradehub/hub/labextensions/@gradehub/lab
# from lab/src and lab/style, and stamp it with the hash of its sources
# (grader_tests/test_lab_extension.py checks that the committed bundle matches its sources).
# Needs node >= 18 and npm (the npm registry); CI does not run it, it checks the stamp.
set -euo pipefail
cd "$(dirname "$0")"
PY="${PYTHON:-../.venv/bin/python}"
[ -x "$PY" ] || PY="$(command -v python3)"
npm ci --no-audit --no-fund --ignore-scripts
rm -rf lib tsconfig.tsbuildinfo ../gradehub/hub/labextensions/@gradehub/lab
npx tsc
PATH="$(dirname "$PY"):$PATH" jupyter-builder build .
PYTHONPATH=.. "$PY" -m gradehub.hub.labextension stamp

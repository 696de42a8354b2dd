#!/usr/bin/env bash
# Build the peers' environment for `python bench/run.py --peers`: Mesa 3 and Starsim 3 from PyPI in
# their own virtual environment, bench/.venv-peers (git-ignored). They are never dependencies of
# carnet: the bench runs them as subprocesses with this environment's Python.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${PYTHON:-python3}"
"$python" -m venv "$here/.venv-peers"
"$here/.venv-peers/bin/python" -m pip install --quiet --upgrade pip
"$here/.venv-peers/bin/python" -m pip install --quiet "mesa>=3,<4" "starsim>=3,<4"
"$here/.venv-peers/bin/python" -c "import mesa, starsim; print('mesa', mesa.__version__, '| starsim', starsim.__version__)"

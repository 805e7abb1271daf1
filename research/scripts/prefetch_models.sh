#!/usr/bin/env sh
# Pull the benchmark's models and scorer weights into the Hugging Face cache
# (HF_HOME) ahead of a run, so the GPU never waits on a download.
#
#   research/scripts/prefetch_models.sh                  # everything in BENCHMARK_CONFIG
#   research/scripts/prefetch_models.sh --model sdxl-turbo --no-scorers
#   HF_TOKEN=hf_... research/scripts/prefetch_models.sh  # gated models too
#
# Uses huggingface_hub through `python -m benchmark prefetch`; exits non-zero
# when anything could not be fetched (a gated model without HF_TOKEN included).
set -eu
root="$(CDPATH= cd -- "$(dirname -- "$0")/../.." && pwd)"
cd "$root"
python="${PYTHON:-python}"
if [ -x "$root/.venv/bin/python" ] && [ -z "${PYTHON:-}" ]; then
    python="$root/.venv/bin/python"
fi
exec "$python" -m benchmark prefetch --config "${BENCHMARK_CONFIG:-research/benchmark.toml}" "$@"

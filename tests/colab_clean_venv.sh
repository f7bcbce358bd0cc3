#!/usr/bin/env bash
# The chapters as Colab sees them: a clean virtualenv outside the repository, the install command of the
# notebooks' Colab cell (`resbook[reader] @ git+<url>@v<version>`) pointed at a clone of this repository at
# that tag, then papermill on Chapter 1 at PROFILE (default ci) from another working directory, with no
# RESBOOK_CACHE (the run cache must land outside the package). Prints the installed size (the reading set).
# The wheel built from the tag must carry the Fashion-MNIST slice (package data): Chapter 1 reads it at ci and cpu.
# Usage: [PROFILE=cpu] bash tests/colab_clean_venv.sh [work folder]   (slow: a full install; not part of make test)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
work=${1:-$(mktemp -d)}
rm -rf "$work/clone" "$work/venv" "$work/elsewhere"
git clone -q "$repo" "$work/clone"
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet --upgrade pip  # Colab's pip is current; the venv's may not read git+file URLs
cell=$(python3 -c "import json,sys; nb=json.load(open(sys.argv[1])); print(''.join(nb['cells'][1]['source']))" \
    "$repo/book/01_plain_vs_residual.ipynb")
spec=$(echo "$cell" | grep -o '"resbook\[reader\] @ git+[^"]*@v[^"]*"' | tr -d '"')
tag=${spec##*@}  # the cell installs a release tag, v<version>
# The release workflow creates the tag; where this checkout has none yet, the clone's HEAD stands in for it.
git -C "$work/clone" rev-parse -q --verify "refs/tags/$tag" >/dev/null || git -C "$work/clone" tag "$tag"
spec="${spec%% @ git+*} @ git+file://$work/clone@$tag"  # the cell's form, pointed at the clone
echo "installing: $spec"
"$work/venv/bin/pip" install --quiet "$spec"
echo "installed: $(du -sh "$work"/venv/lib/python3*/site-packages | cut -f1) in site-packages"
mkdir -p "$work/elsewhere" && cd "$work/elsewhere"
unset RESBOOK_CACHE
export PATH="$work/venv/bin:$PATH" JUPYTER_PREFER_ENV_PATH=1  # the venv's own python3 kernel
"$work/venv/bin/papermill" "$work/clone/book/01_plain_vs_residual.ipynb" out.ipynb -p profile "${PROFILE:-ci}" -k python3 \
    --cwd "$work/elsewhere" --no-progress-bar
"$work/venv/bin/python" - <<'PY'
import json, pathlib
from resbook.runs.cache import default_root
nb = json.loads(pathlib.Path("out.ipynb").read_text())
errors = [o for c in nb["cells"] for o in c.get("outputs", []) if o.get("output_type") == "error"]
summary = next("".join("".join(o.get("text", "")) for o in c["outputs"]) for c in nb["cells"]
               if "nbval-check-output" in c["metadata"].get("tags", []))
import resbook
from resbook import data
print("package at", pathlib.Path(resbook.__file__).parent, "; run cache at", default_root())
print("Fashion-MNIST slice read from", data.SLICE_FILE, data.SLICE_FILE.is_file())
print(summary)
assert not errors and "site-packages" not in str(default_root())
print("colab-style run: OK")
PY

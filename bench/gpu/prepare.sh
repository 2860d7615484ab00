#!/usr/bin/env bash
# Run on the CPU machine, from anywhere: downloads into bench/gpu/wheels the pure-Python wheels transferkit needs that
# the GPU image lacks (it has torch, torchvision, numpy, pillow, pandas, matplotlib, scikit-learn, scipy, requests,
# pyyaml, packaging, cloudpickle, rich, typing-extensions, pytest; it has no fastai and no internet). The versions are
# those of this machine's environment, so the GPU runs what the tests here ran. The folder is ignored by git: name it
# in the device tool's `carry` (`bench/gpu/wheels`). Then, on the GPU machine: `bash bench/gpu/run.sh`.
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-$( [ -x /work/main/.venv/bin/python ] && echo /work/main/.venv/bin/python || echo python3 )}
# fastai's own requirements that vision training imports and the image lacks; spacy (text only) is not needed
PKGS="fastai fastcore fasttransform fastprogress fastdownload plum-dispatch beartype"
pins=$("$PY" - $PKGS <<'PYEOF'
import sys, importlib.metadata as m
print(' '.join(f'{p}=={m.version(p)}' for p in sys.argv[1:]))
PYEOF
)
rm -rf wheels.part && mkdir wheels.part
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation py --platform any -d wheels.part $pins
for w in wheels.part/*.whl; do
  case "$w" in *-py3-none-any.whl|*-py2.py3-none-any.whl) ;; *) echo "prepare.sh: $w is not a pure-Python wheel" >&2; exit 1;; esac
done
rm -rf wheels && mv wheels.part wheels
echo "bench/gpu/wheels: $(ls wheels | wc -l) wheels ($pins), $(du -sh wheels | cut -f1) in all"

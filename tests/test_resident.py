"Device-resident training end to end: the exported learner is stock fastai, loads without transferkit, and predicts what the training path predicted"
import json, os, subprocess, sys
from pathlib import Path

import numpy as np, torch
from PIL import Image

from transferkit.speed import ResidentDL, RESIDENT_CACHE
from transferkit.pipeline import train_folder

LOAD = '''
import json, sys
sys.modules['transferkit'] = None # not importable: the pickle must need fastai only
from pathlib import Path
from fastai.vision.all import load_learner, TfmdDL
learn = load_learner(sys.argv[1])
files = [Path(f) for f in json.loads(sys.argv[2])]
dl = learn.dls.test_dl(files, num_workers=0)
assert type(dl) is TfmdDL and type(learn.dls.valid) is TfmdDL
preds, _ = learn.get_preds(dl=dl)
print(json.dumps(preds.tolist()))
'''

def _photos(root, n=12, seed=0):
    "`n` noise images per class, of mixed shapes, as JPEGs"
    rng = np.random.default_rng(seed)
    for label, tint in (('red', (60, 0, 0)), ('blue', (0, 0, 60))):
        (root/label).mkdir(parents=True)
        for i in range(n):
            w, h = [(40, 24), (24, 36), (30, 30)][i % 3]
            a = np.clip(rng.integers(0, 196, (h, w, 3)) + tint, 0, 255).astype(np.uint8)
            Image.fromarray(a).save(root/label/f'{i}.jpg', quality=95)
    return root

def test_resident_train_export_load_without_transferkit_rerun(tmp_path):
    data = _photos(tmp_path/'data')
    res = train_folder(data, tmp_path/'out', size=16, epochs=1, pretrained=False, progress=False, resident=True)
    learn = res['learn']
    assert type(learn.dls.train) is ResidentDL and type(learn.dls.valid) is ResidentDL
    ours, _ = learn.get_preds(ds_idx=1) # the training path's validation predictions
    files = [str(f) for f in learn.dls.valid.items]
    env = dict(os.environ, PYTHONPATH='') # this checkout must not be importable either
    out = subprocess.run([sys.executable, '-c', LOAD, res['model'], json.dumps(files)], capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    stock = torch.tensor(json.loads(out.stdout.strip().splitlines()[-1]))
    assert stock.shape == ours.shape and (stock - ours).abs().max() <= 1e-4
    stores = sorted((tmp_path/'out'/'data-16px'/RESIDENT_CACHE).glob('*.npy'))
    assert len(stores) == 4 # images and layout, of each split
    before = {p: p.stat().st_mtime_ns for p in stores}
    train_folder(data, tmp_path/'out', size=16, epochs=1, pretrained=False, progress=False, resident=True) # a re-run decodes nothing
    assert {p: p.stat().st_mtime_ns for p in sorted((tmp_path/'out'/'data-16px'/RESIDENT_CACHE).glob('*.npy'))} == before

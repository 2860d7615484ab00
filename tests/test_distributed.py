"One training on two processes (CPU, gloo): `transferkit train --processes 2` end to end, the same accuracy as one process at the same global batch, and a killed process that ends the run cleanly"
import json, os, signal, subprocess, sys, time, zipfile
from pathlib import Path

import numpy as np, pytest
from PIL import Image

from conftest import CLI, ENV

pytestmark = pytest.mark.timeout(240)
ENV1 = dict(ENV, OMP_NUM_THREADS='1')

def _tinted(root, n:int):
    "`n` 8-px images of noise per class, tinted red or blue"
    rng = np.random.default_rng(0)
    for label, tint in (('red', (40, 0, 0)), ('blue', (0, 0, 40))):
        (root/label).mkdir()
        for i in range(n): Image.fromarray(np.clip(rng.integers(0, 216, (8, 8, 3)) + tint, 0, 255).astype(np.uint8)).save(root/label/f'{i}.png')
    return root

@pytest.fixture(scope='module')
def tints(tmp_path_factory):
    "300 images per class: enough steps that a network from scratch learns them in 2 epochs"
    return _tinted(tmp_path_factory.mktemp('tints'), 300)

@pytest.fixture(scope='module')
def few(tmp_path_factory):
    "40 images per class: a run that works, quickly"
    return _tinted(tmp_path_factory.mktemp('few'), 40)

def _written(root) -> set: return {p.relative_to(root).as_posix() for p in Path(root).rglob('*')}

def test_train_two_processes_cli(few, tmp_path):
    out = tmp_path/'out'
    res = subprocess.run([*CLI, 'train', few, '--out', out, '--processes', '2', '--epochs', '1', '--size', '8', '--bs', '8', '--no-pretrained'],
                         capture_output=True, text=True, timeout=180, env=ENV1, cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    assert res.stderr.strip() == '', res.stderr[-3000:] # rank 0 speaks; the others print nothing
    assert res.stdout.count('epoch 1/1') == 1 and 'Validation accuracy' in res.stdout, res.stdout
    rec = json.loads((out/'training.json').read_text())
    assert (rec['processes'], rec['bs'], rec['global_bs'], rec['lr'], rec['backend']) == (2, 8, 16, 2e-3, 'gloo')
    assert rec['epochs'][0]['train_images'] == 64 // 2 // 8 * 8 # rank 0's share of the 64 training images, in whole batches
    assert all(f == 'out' or f.startswith('out/') for f in _written(tmp_path)) # nothing outside the output folder
    assert not [p for p in out.iterdir() if p.name.startswith('.')] # no staging folder left
    with zipfile.ZipFile(out/'export.pkl') as z: # stock fastai unpickles it: no name of transferkit in the pickle
        assert not any(b'transferkit' in z.read(n) for n in z.namelist() if n.endswith('.pkl'))
    from fastai.vision.all import load_learner
    from transferkit.learner import load_model
    files = sorted((few/'red').glob('*.png'))[:4]
    stock, ours = load_learner(out/'export.pkl', cpu=True), load_model(out, cpu=True)
    assert stock.dls.vocab == ours.dls.vocab == ['blue', 'red']
    p1, _ = stock.get_preds(dl=stock.dls.test_dl(files, num_workers=0)); p2, _ = ours.get_preds(dl=ours.dls.test_dl(files, num_workers=0))
    assert np.allclose(p1.numpy(), p2.numpy(), atol=1e-5)

@pytest.mark.slow # 6 trainings: minutes on the shared 2 cores (the figures are in the report of issue 24)
@pytest.mark.timeout(900)
def test_same_accuracy_as_one_process(tints, tmp_path):
    "1 process at bs 16 against 2 processes at bs 8 each (`notebook_run`: `notebook_launcher`): the same global batch, 3 seeds; one out folder a side keeps one ingest copy"
    from transferkit.pipeline import train_folder
    from transferkit.distributed import notebook_run
    kw = dict(size=8, epochs=2, pretrained=False, progress=False)
    pairs = []
    for seed in (0, 1, 2):
        one = train_folder(tints, tmp_path/'one', seed=seed, bs=16, **kw)
        two = notebook_run(tints, tmp_path/'two', seed=seed, bs=8, **kw)
        assert two['record']['global_bs'] == one['record']['bs'] == 16
        pairs.append((one['accuracy'], two['accuracy']))
    print('accuracy one vs two processes:', pairs)
    one, two = np.array(pairs).T
    assert one.mean() > 0.8 and two.mean() > 0.75, pairs # both learn
    # measured (2026-12-07): one 0.975/0.900/0.950, two 0.825/0.858/0.908: two lower on every seed, by 0.08 on average;
    # BatchNorm sees 8 images a process instead of 16 (no SyncBatchNorm on the CPU). A guard against worse, not a proof of parity
    assert one.mean() - two.mean() < 0.12, pairs

def _workers(parent:int) -> dict:
    "`{rank: pid}` of the processes `parent` started to train"
    found = {}
    for d in Path('/proc').iterdir():
        try:
            if not d.name.isdigit() or int((d/'stat').read_text().rsplit(')', 1)[1].split()[1]) != parent: continue
            env = dict(kv.split('=', 1) for kv in (d/'environ').read_bytes().decode(errors='replace').split('\0') if '=' in kv)
        except (OSError, IndexError, ValueError): continue
        if 'RANK' in env: found[int(env['RANK'])] = int(d.name)
    return found

def test_killed_rank_ends_run(few, tmp_path):
    out = tmp_path/'out'
    p = subprocess.Popen([*CLI, 'train', few, '--out', out, '--processes', '2', '--epochs', '500', '--size', '8', '--bs', '8', '--no-pretrained'],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV1, cwd=tmp_path)
    try:
        for line in p.stdout: # rank 0 says each epoch: the processes are training
            if line.startswith('epoch 1/'): break
        workers = _workers(p.pid)
        assert set(workers) == {0, 1}, workers
        os.kill(workers[1], signal.SIGKILL); t = time.monotonic()
        rc = p.wait(timeout=30)
        assert time.monotonic() - t < 20
        err = p.stderr.read()
    finally:
        if p.poll() is None: p.kill()
    assert rc == 2, (rc, err[-3000:])
    lines = [l for l in err.splitlines() if l.strip()]
    assert len(lines) == 1 and 'process 1 of 2 was killed by SIGKILL' in lines[0], err[-3000:]
    assert not (out/'export.pkl').exists() and not (out/'training.json').exists() # nothing of the model written
    assert not [d for d in out.iterdir() if d.name.startswith('.')] # no staging folder left
    assert not any(Path(f'/proc/{pid}').exists() for pid in workers.values()) # no process left behind

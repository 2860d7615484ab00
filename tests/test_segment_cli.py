"`transferkit train-seg` and `predict-seg` end to end, in subprocesses: training from scratch on tiny data, masks at the input's size, the export opened by stock fastai where transferkit cannot be imported, bad data refused before any work, the ingest cache reused by a second run and finished after a killed one"
import json, shutil
from pathlib import Path

import numpy as np, pytest
from PIL import Image

from transferkit.segment import make_seg_data, SEG_CODES

from conftest import ENV, run, run_py, run_batch, one_line_error

@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    "train-seg run once, from scratch, on 24 images of 40 px"
    d = tmp_path_factory.mktemp('seg')
    data = make_seg_data(d/'data', n=24, size=40, seed=0)
    res = run('train-seg', data, '--out', d/'model', '--size', 32, '--epochs', 1, '--bs', 8, '--no-pretrained')
    assert res.returncode == 0, res.stderr[-3000:]
    return d, data, res.stdout

def test_train_seg_writes_the_model_folder(trained):
    d, data, stdout = trained
    assert 'Mean IoU:' in stdout and 'background, disc, square' in stdout
    model = d/'model'
    assert f"ingest: 24 pair(s) in {model/'data-32px'}, 24 read now" in stdout.splitlines()
    for f in ['export.pkl', 'model.safetensors', 'config.json', 'model_card.json', 'training.json', 'report.json', 'report.md', 'worst_cases.png']:
        assert (model/f).is_file(), f
    cfg = json.loads((model/'config.json').read_text())
    assert cfg['kind'] == 'segmentation' and cfg['codes'] == SEG_CODES and (cfg['height'], cfg['width']) == (32, 32)
    rep = json.loads((model/'report.json').read_text())
    assert set(rep['per_class']) == set(SEG_CODES) and 0 <= rep['mean_iou'] <= 1 and not any(Path(r['file']).is_absolute() for r in rep['images'])
    assert sorted(p.name for p in (model/'data-32px'/'masks').iterdir()) == [f'{i:04d}.png' for i in range(24)]

def test_predict_seg_masks_have_the_input_size(trained, tmp_path):
    d, data, _ = trained
    Image.new('RGB', (71, 45), (120, 40, 200)).save(tmp_path/'odd.png')
    (tmp_path/'bad.jpg').write_bytes(b'<html>not an image</html>')
    res = run('predict-seg', d/'model', data/'images'/'0003.jpg', tmp_path/'odd.png', tmp_path/'bad.jpg', '--out', tmp_path/'masks')
    assert res.returncode == 0, res.stderr[-3000:]
    assert 'Wrote 2 mask(s)' in res.stdout and 'bad.jpg could not be read' in res.stderr
    assert Image.open(tmp_path/'masks'/'0003.png').size == Image.open(data/'images'/'0003.jpg').size
    m = Image.open(tmp_path/'masks'/'odd.png')
    assert m.size == (71, 45) and m.mode == 'L' and np.asarray(m).max() < len(SEG_CODES)
    assert not (tmp_path/'masks'/'bad.png').exists()

def test_stock_fastai_loads_the_export_without_transferkit(trained):
    d, data, _ = trained
    code = f"""import sys; sys.modules['transferkit'] = None
from pathlib import Path
from fastai.learner import load_learner
learn = load_learner({str(d/'model'/'export.pkl')!r}, cpu=True)
dl = learn.dls.test_dl([Path({str(data/'images'/'0005.jpg')!r})])
preds, _ = learn.get_preds(dl=dl)
print(list(learn.dls.after_item.vocab), tuple(preds.shape))"""
    res = run_py(code, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    assert res.stdout.strip().splitlines()[-1] == f"{SEG_CODES} (1, 3, 32, 32)"

SPOILS = [ # (what goes wrong, the words of its one-line error)
    (lambda p: (p/'codes.txt').unlink(), ['No codes.txt in']),
    (lambda p: (p/'masks'/'0002.png').unlink(), ['0002.jpg has no mask']),
    (lambda p: (p/'images'/'0002.jpg').unlink(), ['0002.png has no image']),
    (lambda p: Image.new('L', (5, 5)).save(p/'masks'/'0002.png'), ['is 5x5 but its image']),
    (lambda p: Image.new('L', (40, 40), 3).save(p/'masks'/'0002.png'), ['pixel value 3, which has no code']),
]

def test_bad_input_stops_before_any_work(trained, tmp_path):
    "In one process: each spoiled data folder, missing pretrained weights, and `predict` on a segmentation model, each exit 2 with one line, nothing written"
    argvs = []
    for k, (spoil, _) in enumerate(SPOILS):
        data = make_seg_data(tmp_path/f'data{k}', n=4, size=40, seed=1)
        Image.new('RGB', (40, 40)).save(data/'images'/'0002.jpg') # square, so a wrong value is the only fault of a 40x40 mask
        Image.new('L', (40, 40)).save(data/'masks'/'0002.png')
        spoil(data)
        argvs.append(['train-seg', data, '--out', tmp_path/f'out{k}', '--size', 32, '--epochs', 1, '--no-pretrained'])
    d, data, _ = trained
    argvs += [['train-seg', data, '--out', tmp_path/'out-w', '--size', 32], ['predict', d/'model', data/'images'/'0001.jpg']]
    words = [w for _, w in SPOILS] + [['Pretrained weights for resnet18', '--no-pretrained'], ['segmentation model', 'transferkit predict-seg']]
    for k, (res, w) in enumerate(zip(run_batch(*argvs, env=dict(ENV, TORCH_HOME=str(tmp_path/'torch'))), words)): # no weights in this torch cache
        one_line_error(res, *w)
    assert not any((tmp_path/f'out{k}').exists() for k in range(len(SPOILS))) and not (tmp_path/'out-w').exists()

def test_train_seg_again_reuses_the_ingested_pairs(trained, tmp_path):
    "A second train-seg into a copy of the model folder decodes no pair: the copy's record matches the data by content"
    d, data, _ = trained
    shutil.copytree(d/'model', tmp_path/'model')
    res = run('train-seg', data, '--out', tmp_path/'model', '--size', 32, '--epochs', 1, '--bs', 8, '--no-pretrained')
    assert res.returncode == 0, res.stderr[-3000:]
    assert f"ingest: 24 pair(s) in {tmp_path/'model'/'data-32px'}, 0 read now" in res.stdout.splitlines(), res.stdout

KILLED = """import os, signal, time
from pathlib import Path
import transferkit.segment as seg
from transferkit.core import partial_path
write = seg.atomic_write
def dying_write(dest, data): # killed half-way through writing the mask of 0003
    if Path(dest).parent.name == 'masks' and Path(dest).name == '0003.png':
        time.sleep(1) # the main thread records the pairs before this one
        with open(partial_path(dest), 'wb') as f: f.write(data[:len(data)//2]); f.flush()
        os.kill(os.getpid(), signal.SIGKILL)
    return write(dest, data)
seg.atomic_write = dying_write
seg.ingest_seg({data!r}, {dest!r}, 24, workers=1, checkpoint=0)"""

def test_killed_ingest_leaves_whole_files_and_the_next_run_finishes(tmp_path, monkeypatch, capsys):
    from transferkit.segment import ingest_seg, _read_record
    data, dest = make_seg_data(tmp_path/'data', n=6, size=40, seed=2), tmp_path/'dest'
    res = run_py(KILLED.format(data=str(data), dest=str(dest)))
    assert res.returncode == -9, res.stderr[-3000:]
    assert sorted(_read_record(dest)) == ['0000', '0001', '0002']
    assert [p.name.split('.')[1:3] for p in dest.rglob('*.part')] == [['0003', 'png']] # the torn write, under a temp name only
    for p in dest.rglob('*.png'): Image.open(p).load() # every file under a final name is whole
    monkeypatch.setenv('TRANSFERKIT_BARS', '0'); capsys.readouterr()
    ingest_seg(data, dest, 24)
    assert capsys.readouterr().out == f"ingest: 6 pair(s) in {dest}, 3 read now\n"
    fresh = ingest_seg(data, tmp_path/'fresh', 24, progress=False)
    files = lambda root: {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob('*') if p.is_file()}
    assert files(dest) == files(fresh) # the finished copy is the one an uninterrupted run makes, record included

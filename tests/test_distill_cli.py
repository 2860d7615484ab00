"`transferkit distill` end to end, in subprocesses: a teacher trained here, a student distilled from it, the cache hit, the stock load, bad arguments"
import json

import numpy as np, pandas as pd, pytest
from PIL import Image

from conftest import run_batch, run_py

QUICK = ['--size', '32', '--epochs', '1', '--no-pretrained', '--bs', '8']

def _data(root, n=12):
    "Two classes of noisy 32-px squares, dark and light"
    rng = np.random.default_rng(0)
    for label, c in [('dark', 50), ('light', 200)]:
        (root/label).mkdir(parents=True)
        for i in range(n): Image.fromarray(np.clip(c + rng.normal(0, 30, (32, 32, 3)), 0, 255).astype('uint8')).save(root/label/f'{i}.png')
    return root

@pytest.fixture(scope='module')
def runs(tmp_path_factory):
    "One process: train a teacher, distil a student (the teacher sees every batch), then twice with cached logits (the second run finds the cache), predict and evaluate with the student, then the bad arguments"
    d = tmp_path_factory.mktemp('distill'); data = _data(d/'data')
    student = ['distill', data, '--out', d/'student', '--teacher', d/'teacher', '--student', 'resnet18', '--temperature', '3', '--alpha', '0.8', *QUICK]
    bad = [['distill', data, '--out', d/'bad', '--teacher', d/'teacher', '--alpha', '1.5', *QUICK],
           ['distill', data, '--out', d/'bad', '--teacher', d/'teacher', '--temperature', '0', *QUICK],
           ['distill', data, '--out', d/'bad', '--teacher', d/'nowhere', *QUICK],
           ['distill', data, '--out', d/'bad', *QUICK],
           ['distill', data, '--out', d/'bad', '--teacher', data, *QUICK],
           ['distill', data, '--out', d/'bad', '--teacher', d/'teacher', '--student', 'resnet_nope', *QUICK]]
    res = run_batch(['train', data, '--out', d/'teacher', *QUICK], student, student + ['--cached'], student + ['--cached'],
                    ['predict', d/'student', data], ['evaluate', d/'student', data], *bad)
    return d, res

def test_distills_and_exports_an_ordinary_model(runs):
    d, (teach, batch, first, second, pred, ev, *_) = runs
    for r in (teach, batch, first, second, pred, ev): assert r.returncode == 0, r.stderr[-3000:]
    assert 'Teacher logits of every training batch (20 training images)' in batch.stdout
    assert 'Teacher logits of 20 training image(s): 20 computed, 0 from the cache' in first.stdout
    assert 'Teacher logits of 20 training image(s): 0 computed, 20 from the cache' in second.stdout # a re-run: no teacher work
    card = json.loads((d/'student'/'model_card.json').read_text())
    digest = json.loads((d/'teacher'/'config.json').read_text())['files']['model.safetensors']
    assert card['distillation']['teachers'] == [dict(folder='teacher', arch='resnet18', sha256=digest)]
    assert (card['distillation']['temperature'], card['distillation']['alpha']) == (3.0, 0.8)
    assert json.loads((d/'student'/'training.json').read_text())['distillation']['teachers'][0]['sha256'] == digest
    rows = pd.read_csv(pd.io.common.StringIO(pred.stdout))
    assert len(rows) == 24 and set(rows.label) <= {'dark', 'light'} and rows.error.isna().all()
    assert 'accuracy' in ev.stdout.lower() # `evaluate` opens it as any model folder

def test_stock_fastai_loads_the_student_without_transferkit(runs):
    d, _ = runs
    code = f"""import sys; sys.modules['transferkit'] = None # not importable: the pickle must need fastai only
from fastai.learner import load_learner
learn = load_learner({str(d/'student'/'export.pkl')!r}, cpu=True)
print(list(learn.dls.vocab), type(learn.loss_func).__name__, sorted(type(c).__name__ for c in learn.cbs))"""
    res = run_py(code)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "['dark', 'light'] CrossEntropyLossFlat" in res.stdout and 'Distillation' not in res.stdout

def test_bad_arguments_exit_2_with_one_line_and_write_nothing(runs):
    d, res = runs
    expect = ['--alpha: 1.5 is out of range', '--temperature: 0 is out of range', "nowhere' does not exist: give a model folder", 'the following arguments are required: --teacher',
              'is not a model folder', "Unknown architecture 'resnet_nope'"]
    for r, e in zip(res[6:], expect):
        assert r.returncode == 2 and e in r.stderr and len(r.stderr.strip().splitlines()) == 1, (e, r.returncode, r.stderr)
    assert not (d/'bad').exists()

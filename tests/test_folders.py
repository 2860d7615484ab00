"""Folders that cannot feed themselves, through the CLI: an output or cache folder inside the data (or source) folder is
never read back as data, and nested label folders count as their first-level label, with one warning."""
import json, os, random, subprocess, sys
from pathlib import Path

import pandas as pd, pytest
from PIL import Image
pytestmark = pytest.mark.stackfree # listing and splitting folders, our own code: `./dev test-latest` leaves it out

CLI = [str(Path(sys.executable).parent/'transferkit')]
NESTED = 'are nested in a label folder'

def run(*args):
    env = dict(os.environ, TRANSFERKIT_OFFLINE='1', MPLBACKEND='Agg')
    return subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, timeout=600, env=env)

def make_data(root, counts):
    "Distinct noise images (no two alike, so none is a duplicate): `counts` maps a relative folder to a number"
    root = Path(root); n = 0
    for folder, k in counts.items():
        (root/folder).mkdir(parents=True, exist_ok=True)
        for i in range(k):
            n += 1
            Image.frombytes('RGB', (20, 20), random.Random(n).randbytes(20*20*3)).save(root/folder/f'{i}.png')
    return root

def counts(report):
    c = json.loads(Path(report).read_text())['counts']
    return {s: dict(v) for s, v in c.items()}

def test_train_twice_with_out_inside_data(tmp_path):
    data = make_data(tmp_path/'data', {'cat': 8, 'cat/indoor': 4, 'dog': 12})
    args = ['train', data, '--out', data/'model', '--no-pretrained', '--epochs', '1', '--size', '16', '--no-aug']
    first = run(*args)
    assert first.returncode == 0, first.stderr[-3000:]
    assert first.stderr.count(NESTED) == 1 and 'cat/indoor' in first.stderr, first.stderr  # the warning, once
    before = counts(data/'model'/'report.json')
    assert {k: sum(v.values()) for k, v in before.items()} == {'train': 20, 'valid': 4} and set(before['train']) == {'cat', 'dog'}
    # the model folder now holds export.pkl, plots and the ingest cache (data-16px, with its manifest): none of it is data
    assert (data/'model'/'export.pkl').is_file() and (data/'model'/'data-16px'/'manifest.csv').is_file()
    cache = sorted(p.relative_to(data/'model'/'data-16px') for p in (data/'model'/'data-16px').rglob('*.png'))
    second = run(*args)
    assert second.returncode == 0, second.stderr[-3000:]
    assert counts(data/'model'/'report.json') == before
    assert sorted(p.relative_to(data/'model'/'data-16px') for p in (data/'model'/'data-16px').rglob('*.png')) == cache
    card = json.loads((data/'model'/'model_card.json').read_text())
    assert card['classes'] == ['cat', 'dog']

@pytest.mark.slow # the same labels and warning are pinned at library level in 10_data
def test_train_without_ingest_reads_the_same_labels(tmp_path):
    data = make_data(tmp_path/'data', {'cat': 6, 'cat/a/b': 4, 'dog': 10})
    (data/'old_model').mkdir(); (data/'old_model'/'export.pkl').write_bytes(b'x')
    make_data(data/'old_model', {'plots': 3})  # would be a third class if it were read
    res = run('train', data, '--out', tmp_path/'out', '--no-pretrained', '--epochs', '1', '--size', '16', '--no-aug', '--no-ingest-resize')
    assert res.returncode == 0, res.stderr[-3000:]
    assert res.stderr.count(NESTED) == 1 and 'cat/a/b' in res.stderr, res.stderr
    c = counts(tmp_path/'out'/'report.json')
    assert set(c['train']) == {'cat', 'dog'} and sum(c['train'].values()) + sum(c['valid'].values()) == 20

def test_fetch_twice_into_the_source_folder(tmp_path):
    src = make_data(tmp_path/'src', {'cat': 3, 'dog': 4})
    for _ in range(2):
        res = run('fetch', src, '--dest', src/'x')
        assert res.returncode == 0, res.stderr[-3000:]
        m = pd.read_csv(src/'x'/'manifest.csv')
        assert len(m) == 7 and (m.status == 'ok').all() and m.label.value_counts().to_dict() == {'dog': 4, 'cat': 3}
        assert not m.origin.str.contains('/x/').any()
    assert len(list((src/'x').rglob('*.png'))) == 7

@pytest.mark.slow
def test_train_twice_with_out_the_data_folder_itself(tmp_path):
    data = make_data(tmp_path/'data', {'cat': 10, 'dog': 10})
    args = ['train', data, '--out', data, '--no-pretrained', '--epochs', '1', '--size', '16', '--no-aug']
    for _ in range(2):
        res = run(*args)
        assert res.returncode == 0, res.stderr[-3000:]
        c = counts(data/'report.json')  # the plots beside the model, and its cache, are not read back
        assert set(c['train']) == {'cat', 'dog'} and sum(c['train'].values()) + sum(c['valid'].values()) == 20, c

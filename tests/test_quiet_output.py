"What `transferkit` writes when stdout is not a terminal (a pipe, a log file): a line per epoch and per stage, no bar frames, no warnings that are not the user's concern — and still the ones that are"
import os, subprocess, sys
from pathlib import Path

import pytest
from PIL import Image

from conftest import EPOCH, assert_quiet

CLI = [str(Path(sys.executable).parent/'transferkit')]  # the installed console script

def run(*args, timeout=600):
    "The command with stdout and stderr piped, as a log or CI sees it"
    env = dict(os.environ, TRANSFERKIT_OFFLINE='1', MPLBACKEND='Agg')
    return subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, timeout=timeout, env=env)

@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    "`transferkit train` on a tiny folder: 8 images per class, so the validation split is thin and transferkit says so"
    root = tmp_path_factory.mktemp('train')
    for label, c in [('dark', 30), ('light', 220)]:
        (root/'d'/label).mkdir(parents=True)
        for i in range(8): Image.new('RGB', (16, 16), (c, 7*i, 0)).save(root/'d'/label/f'{i}.png')
    res = run('train', root/'d', '--out', root/'m', '--no-pretrained', '--epochs', '2', '--size', '16', '--bs', '4')
    assert res.returncode == 0, res.stderr[-3000:]
    return root, res

def test_train_piped_keeps_the_users_warnings(trained):
    _, res = trained
    assert_quiet(res)
    assert [EPOCH.match(l).groups() for l in res.stdout.splitlines() if EPOCH.match(l)] == [('1', '2'), ('2', '2')], res.stdout
    assert 'ingest: 16 image(s)' in res.stdout
    # a real problem of the user's data still prints, once, as one line
    thin = [l for l in res.stderr.splitlines() if 'validation images' in l]
    assert len(thin) == 1 and thin[0].startswith('transferkit train: warning: '), res.stderr

def test_pickle_warning_only_for_an_unverified_file(trained, tmp_path):
    root, _ = trained
    img = root/'d'/'dark'/'0.png'
    (root/'m'/'model.safetensors').unlink() # export.pkl is opened instead, its sha256 checked against config.json
    res = run('predict', root/'m'/'export.pkl', img, '--trust-pickle')
    assert res.returncode == 0 and 'pickle' not in res.stderr, res.stderr
    (root/'m'/'config.json').unlink() # nothing vouches for the file now: fastai's warning is the user's concern
    res = run('predict', root/'m'/'export.pkl', img, '--trust-pickle')
    assert res.returncode == 0 and "insecure pickle" in res.stderr, res.stderr

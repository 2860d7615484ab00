"What `transferkit` writes when stdout is not a terminal (a pipe, a log file): a line per epoch and per stage, no bar frames, no warnings that are not the user's concern — and still the ones that are"
import os, re, subprocess, sys
from pathlib import Path

import pytest
from PIL import Image

CLI = [str(Path(sys.executable).parent/'transferkit')]  # the installed console script
EPOCH = re.compile(r'^epoch (\d+)/(\d+)  train_loss [\d.]+  valid_loss [\d.]+  accuracy [\d.]+  error_rate [\d.]+  time \d\d:\d\d$')
NOT_THE_USERS = ['torch.jit', 'FutureWarning', 'pickle module', 'load_learner']

def run(*args, timeout=600):
    "The command with stdout and stderr piped, as a log or CI sees it"
    env = dict(os.environ, TRANSFERKIT_OFFLINE='1', MPLBACKEND='Agg')
    return subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, timeout=timeout, env=env)

def assert_quiet(res):
    "No progress-bar frame and no warning from inside a dependency in either stream"
    for stream in (res.stdout, res.stderr):
        assert '\r' not in stream and '█' not in stream and '|---' not in stream, stream[-2000:]
        for text in NOT_THE_USERS: assert text not in stream, (text, stream[-2000:])

def test_demo_piped_is_a_line_per_epoch_and_stage(demo_run):
    demo = demo_run[1] # conftest's: the demo at its defaults, piped, shared with test_cli
    assert_quiet(demo)
    lines = demo.stdout.splitlines()
    epochs = [EPOCH.match(l).groups() for l in lines if EPOCH.match(l)]
    assert epochs and epochs == [(str(i), str(len(epochs))) for i in range(1, len(epochs) + 1)], demo.stdout # a line an epoch
    assert sum(l.startswith('ingest: 1777 image(s) in ') for l in lines) == 1
    assert len(demo.stdout) < 2000 + 100*len(epochs) and demo.stderr == '', (len(demo.stdout), demo.stderr) # bars: ~6 kB an epoch

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

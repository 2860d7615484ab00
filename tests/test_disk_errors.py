"A full or read-only disk (ENOSPC, EROFS, injected into `os.replace`, which every atomic write ends with) is one line and exit 2, never a traceback or exit 0; what was saved before stays whole"
import json
from pathlib import Path

import pytest
from PIL import Image

from conftest import run_py, one_line_error

pytestmark = pytest.mark.stackfree # file-system faults in our own writers: `./dev test-latest` leaves it out

QUICK = ['--no-pretrained', '--epochs', '1', '--size', '16', '--bs', '4', '--valid-pct', '0.5']

def cli_with_full_disk(argv, match:str, err:str='ENOSPC'):
    "Run `transferkit ARGV` in a fresh process where renaming onto a path containing `match` fails with `err`"
    code = f"""import errno, os, sys
real = os.replace
def replace(src, dst, *a, **k):
    if {match!r} in str(dst): raise OSError(errno.{err}, os.strerror(errno.{err}), str(dst))
    return real(src, dst, *a, **k)
os.replace = replace
from transferkit.cli import main
sys.exit(main({[str(a) for a in argv]!r}))"""
    return run_py(code)

@pytest.fixture
def data(tmp_path):
    for j, label in enumerate(['cat', 'dog']):
        (tmp_path/'d'/label).mkdir(parents=True)
        for i in range(10): Image.new('RGB', (20, 20), (i*20, j*200, 9)).save(tmp_path/'d'/label/f'{i}.png')
    return tmp_path/'d'

@pytest.mark.parametrize('err, words', [('ENOSPC', 'No space left on device'), ('EROFS', 'Read-only file system')])
def test_fetch_into_a_full_disk_is_not_exit_0(data, tmp_path, err, words):
    res = cli_with_full_disk(['fetch', data, '--dest', tmp_path/'ds'], match=str(tmp_path/'ds'), err=err)
    one_line_error(res, words, str(tmp_path/'ds'))

def test_train_disk_full_during_ingest(data, tmp_path):
    res = cli_with_full_disk(['train', data, '--out', tmp_path/'o', *QUICK], match='data-16px')
    one_line_error(res, 'No space left on device', 'free some space')

def test_train_disk_full_while_saving_keeps_the_old_model(data, tmp_path):
    from transferkit.modelfolder import open_folder
    ok = cli_with_full_disk(['train', data, '--out', tmp_path/'o', *QUICK], match='never-matches')
    assert ok.returncode == 0, ok.stderr[-2000:]
    before = json.loads((tmp_path/'o'/'config.json').read_text())['files']
    res = cli_with_full_disk(['train', data, '--out', tmp_path/'o', *QUICK, '--seed', '3'], match='model.safetensors')
    one_line_error(res, 'No space left on device')
    assert open_folder(tmp_path/'o')['files'] == before # the old set, whole and verified

def test_labels_that_are_no_labels_are_refused_before_any_work(data, tmp_path):
    "A label folder named with a line break, or `train` without `valid/`: one line naming it, nothing written to --out"
    from conftest import run_batch
    (data/'a\nb').mkdir(); (data/'train').mkdir()
    for f in ['a\nb', 'train']: Image.new('RGB', (20, 20), 'red').save(data/f/'x.png'); Image.new('RGB', (20, 20), 'blue').save(data/f/'y.png')
    res = run_batch(['train', data, '--out', tmp_path/'o', *QUICK])[0]
    one_line_error(res, 'cannot be a label folder')
    assert not (tmp_path/'o').exists()
    (data/'a\nb'/'x.png').unlink(); (data/'a\nb'/'y.png').unlink(); (data/'a\nb').rmdir()
    one_line_error(run_batch(['train', data, '--out', tmp_path/'o', *QUICK])[0], "'train'", 'split folder')

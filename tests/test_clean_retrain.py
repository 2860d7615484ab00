"The clean -> retrain loop keeps every image: train, relabel with `clean --apply`, train again into the same --out, undo, train again; each run ingests all 24 images with the labels the folder has then"
import os
from collections import Counter
from pathlib import Path

from PIL import Image

from conftest import run_batch
from transferkit.core import folder_label, image_files, hash_file
import pytest
pytestmark = pytest.mark.stackfree # clean then retrain: tests/test_readme_path.py runs the same path on every stack: `./dev test-latest` leaves it out

QUICK = ['--no-pretrained', '--epochs', '1', '--size', '16', '--bs', '8']

def copy_labels(out) -> Counter:
    "Images per label in the training run's ingest copy (what the model trained on)"
    copy = Path(out)/'data-16px'
    return Counter(folder_label(f, copy)[1] for f in image_files(copy))

def test_relabel_retrain_undo_retrain(tmp_path):
    d, out = tmp_path/'d', tmp_path/'o'
    for j, label in enumerate(['cat', 'dog']):
        (d/label).mkdir(parents=True)
        for i in range(12): Image.new('RGB', (20, 20), (i*20, j*200, 60)).save(d/label/f'{i}.png')
    dec = tmp_path/'dec.csv'; dec.write_text('file,action,new_label\n' + ''.join(f'cat/{i}.png,relabel,dog\n' for i in range(3)))
    train = ['train', d, '--out', out, *QUICK]
    first, applied, second = run_batch(train, ['clean', d, '--apply', dec], train)
    assert first.returncode == 0, first.stderr[-2000:]
    assert applied.returncode == 0 and 'Applied 3 change(s)' in applied.stdout, applied.stderr
    assert second.returncode == 0, second.stderr[-2000:]
    assert copy_labels(out) == {'cat': 9, 'dog': 15}, copy_labels(out) # 21 before the fix: the relabelled three were taken as duplicates
    undone, third = run_batch(['clean', d, '--undo'], train)
    assert undone.returncode == 0 and third.returncode == 0, (undone.stderr, third.stderr[-2000:])
    assert copy_labels(out) == {'cat': 12, 'dog': 12}, copy_labels(out)
    # an image changed in place (same name, new pixels, another size) is read again: the copy holds the new one
    f = d/'cat'/'0.png'; Image.new('RGB', (24, 24), (255, 255, 255)).save(f)
    fourth, = run_batch(train)
    assert fourth.returncode == 0, fourth.stderr[-2000:]
    assert copy_labels(out) == {'cat': 12, 'dog': 12}
    copy = out/'data-16px'
    assert any(Image.open(p).getpixel((0, 0)) == (255, 255, 255) for p in image_files(copy/'cat'))

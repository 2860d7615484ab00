"`transferkit clean` against a hostile data folder: a forged journal, links out of the folder, an alias folder, a read-only folder. Each is one line, exit 2, and no file outside DATA (nor inside) is touched"
import json, os, shutil
from pathlib import Path

import pytest
from PIL import Image

from conftest import run_batch, run_py, one_line_error
from transferkit.core import hash_file
pytestmark = pytest.mark.stackfree # the journal and moves: the standard library only: `./dev test-latest` leaves it out

def tree(root) -> dict:
    "{path: (is a link, content hash)} of everything under `root`, links not followed"
    return {p.relative_to(root).as_posix(): (p.is_symlink(), None if p.is_dir() or p.is_symlink() else hash_file(p)) for p in sorted(Path(root).rglob('*'))}

@pytest.fixture
def data(tmp_path):
    "`(DATA, ELSEWHERE)`: two classes of two images, and a folder outside DATA holding one precious file"
    d, out = tmp_path/'d', tmp_path/'elsewhere'
    for j, label in enumerate(['cat', 'dog']):
        (d/label).mkdir(parents=True)
        for i in range(2): Image.new('RGB', (16, 16), (i*90, j*120, 7)).save(d/label/f'{i}.png')
    (out/'v').mkdir(parents=True); Image.new('RGB', (16, 16), 'red').save(out/'v'/'v.png')
    return d, out

def journal(d, *records):
    (d/'.transferkit').mkdir(exist_ok=True)
    (d/'.transferkit'/'journal.jsonl').write_text(''.join(json.dumps(r) + '\n' for r in records))

def test_forged_journal_moves_nothing(data, tmp_path):
    d, out = data
    victim = out/'v'/'v.png'; h = hash_file(victim)
    decisions = tmp_path/'dec.csv'; decisions.write_text('file,action,new_label\ncat/0.png,delete,\n')
    cases = [[dict(batch='a', state='begun', new_dirs=[], moves=[dict(action='delete', src=str(victim), dst=str(victim), hash=h)])],
             [dict(batch='b', state='begun', new_dirs=[], moves=[dict(action='relabel', src=str(victim), dst='cat/v.png', hash=h)]), dict(batch='b', state='done')]]
    for records in cases:
        journal(d, *records)
        if records[-1].get('state') == 'done': os.link(victim, d/'cat'/'v.png') # as if it had been moved in
        before, outside = tree(d), tree(out)
        for res in run_batch(['clean', d, '--undo'], ['clean', d, '--apply', decisions]):
            one_line_error(res, 'is not one it wrote for this folder')
        assert tree(d) == before and tree(out) == outside and hash_file(victim) == h
        (d/'cat'/'v.png').unlink(missing_ok=True)

def test_links_are_refused_up_front(data, tmp_path):
    d, out = data
    os.symlink(out/'v', d/'lnk'); os.symlink(out, d/'evil'); os.symlink(d/'cat', d/'cat2')
    def csv(name, rows):
        (tmp_path/name).write_text('file,action,new_label\n' + ''.join(f'{r}\n' for r in rows)); return tmp_path/name
    before, outside = tree(d), tree(out)
    res = run_batch(['clean', d, '--apply', csv('lnk.csv', ['lnk/v.png,delete,'])],
                    ['clean', d, '--apply', csv('evil.csv', ['cat/0.png,relabel,evil']), '--allow-new-labels'],
                    ['clean', d, '--apply', csv('alias.csv', ['cat/1.png,delete,', 'cat2/1.png,delete,'])])
    for r, words in zip(res, ['leads outside', 'leads outside', 'reached through a link']):
        assert r.returncode == 2 and 'Traceback' not in r.stderr and words in r.stderr, r.stderr
    assert tree(d) == before and tree(out) == outside and not (d/'.transferkit').exists()
    # no wedge: the same folder still applies and undoes once the alias is left out
    ok = run_batch(['clean', d, '--apply', csv('ok.csv', ['cat/1.png,delete,'])], ['clean', d, '--undo'])
    assert [r.returncode for r in ok] == [0, 0], [r.stderr for r in ok]
    assert {k: v for k, v in tree(d).items() if not k.startswith('.transferkit')} == before
    os.symlink(out, d/'.transferkit2'); shutil.rmtree(d/'.transferkit'); os.rename(d/'.transferkit2', d/'.transferkit')
    for r in run_batch(['clean', d, '--apply', tmp_path/'ok.csv'], ['clean', d, '--undo']): one_line_error(r, "cleaner's folder")
    assert tree(out) == outside

def test_nested_and_root_level_relabels(data, tmp_path):
    d, _ = data
    (d/'cat'/'2024').mkdir(); shutil.copy(d/'cat'/'0.png', d/'cat'/'2024'/'x.png'); shutil.copy(d/'dog'/'0.png', d/'loose.png')
    (d/'notes').write_text('not a label')
    dec = tmp_path/'dec.csv'; dec.write_text('file,action,new_label\ncat/2024/x.png,relabel,dog\nloose.png,relabel,cat\n')
    bad = tmp_path/'bad.csv'; bad.write_text('file,action,new_label\ncat/0.png,relabel,notes\n')
    res = run_batch(['clean', d, '--apply', dec], ['clean', d, '--apply', bad, '--allow-new-labels'])
    assert res[0].returncode == 0, res[0].stderr
    assert (d/'dog'/'x.png').is_file() and (d/'cat'/'loose.png').is_file() and not (d/'cat'/'dog').exists()
    assert res[1].returncode == 2 and 'the name of a file' in res[1].stderr and 'Traceback' not in res[1].stderr

def test_read_only_folder_is_one_line(data, tmp_path):
    "A read-only mount (EROFS, injected: root writes anywhere) when the cleaner makes its lock"
    d, _ = data
    dec = tmp_path/'dec.csv'; dec.write_text('file,action,new_label\ncat/0.png,delete,\n')
    before = tree(d)
    code = f"""import errno, os, sys
from unittest.mock import patch
from transferkit.cli import main
with patch('transferkit.core.os.open', side_effect=OSError(errno.EROFS, 'Read-only file system')):
    sys.exit(main(['clean', {str(d)!r}, '--apply', {str(dec)!r}]))"""
    one_line_error(run_py(code), 'Read-only file system', 'make the folder writable')
    assert {k: v for k, v in tree(d).items() if not k.startswith('.transferkit')} == before

"Bad arguments and inputs on every command: one line naming the argument and the fix, exit code 2, nothing written, no traceback"
import contextlib, io, os, random, subprocess, sys, tempfile, zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from PIL import Image

from transferkit import cli
pytestmark = pytest.mark.stackfree # argument checks, before any third-party import: `./dev test-latest` leaves it out

CLI = [str(Path(sys.executable).parent/'transferkit')]  # the installed console script
ENV = dict(os.environ, TRANSFERKIT_OFFLINE='1', MPLBACKEND='Agg')

def run(*args, cwd=None, timeout=120):
    return subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=timeout, env=ENV)

def snapshot(root) -> dict:
    "Every path under `root` with its size and modification time: equal snapshots, nothing written"
    return {p.relative_to(root).as_posix(): (p.is_dir(), p.lstat().st_size, p.lstat().st_mtime_ns) for p in Path(root).rglob('*')}

def images(folder, n, size=(16, 16)):
    "`n` plain PNGs in `folder`, of colours no other folder's name gives (identical images would be dropped as duplicates)"
    folder.mkdir(parents=True, exist_ok=True)
    shade = sum(folder.name.encode()) % 256
    for i in range(n): Image.new('RGB', size, (i*37 % 256, shade, 200 - i*11)).save(folder/f'{i}.png')

def _probe_fails(folder) -> bool:
    try:
        with tempfile.TemporaryFile(dir=folder): return False
    except OSError: return True

class Workspace(type(Path())):
    "A folder of good and bad inputs; `unwritable`: a folder nothing can be written in (None if there is none)"
    unwritable = None

@pytest.fixture(scope='module')
def ws(tmp_path_factory):
    "The workspace; no test may change it"
    import torch
    d = Workspace(tmp_path_factory.mktemp('ws'))
    images(d/'data'/'cat', 6); images(d/'data'/'dog', 6)
    images(d/'one'/'cat', 3)
    (d/'loose').mkdir(); images(d/'loose', 3); images(d/'loose'/'cat', 2); images(d/'loose'/'dog', 2)
    (d/'noimg'/'cat').mkdir(parents=True); (d/'noimg'/'cat'/'notes.txt').write_text('no images here')
    (d/'empty').mkdir()
    (d/'text.txt').write_text('hello, I am not a model\n')
    (d/'empty.bin').write_bytes(b'')
    (d/'random.bin').write_bytes(random.Random(0).randbytes(4096))
    with zipfile.ZipFile(d/'other.zip', 'w') as z: z.writestr('readme.txt', 'a zip, not a torch file')
    torch.save({'not.a.layer': torch.zeros(3)}, d/'misfit.pth')  # a torch file whose state dict fits no resnet
    torch.save([1, 2, 3], d/'list.pth')
    (d/'decisions.csv').write_text('file,action,new_label\n')
    ro = d/'readonly'; ro.mkdir(); ro.chmod(0o555)
    d.unwritable = ro if _probe_fails(ro) else Path('/sys') if _probe_fails('/sys') else None  # root writes anywhere but /sys
    return d

def _fill(args, d):
    "`args` with `{name}` placeholders filled from the workspace `d`"
    unw = str(d.unwritable/'out') if d.unwritable else None
    return [a.format(d=d, out=d/'out', unwritable=unw) for a in args]

def check_refused(res_code, out, err, names, before, after):
    "The one-line, exit-code-2, nothing-written promise"
    assert 'Traceback' not in out + err, err
    lines = [l for l in err.splitlines() if l.strip()]
    assert res_code == 2, (res_code, err)
    assert len(lines) == 1, err
    assert any(n in lines[0] for n in names), (names, lines[0])
    assert lines[0].startswith('transferkit'), lines[0]
    assert before == after, set(after.items()) ^ set(before.items())

# (arguments, what the message must name): each is refused by argument checks before any heavy import
BAD = [
    (['train', '{d}/data', '--out', '{out}', '--size', '0'], ['--size']),
    (['train', '{d}/data', '--out', '{out}', '--size', '-5'], ['--size']),
    (['train', '{d}/data', '--out', '{out}', '--size', 'big'], ['--size']),
    (['train', '{d}/data', '--out', '{out}', '--bs', '0'], ['--bs']),
    (['train', '{d}/data', '--out', '{out}', '--bs', '1'], ['--bs']),
    (['train', '{d}/data', '--out', '{out}', '--epochs', '-1'], ['--epochs']),
    (['train', '{d}/data', '--out', '{out}', '--valid-pct', '1.5'], ['--valid-pct']),
    (['train', '{d}/data', '--out', '{out}', '--valid-pct', '0'], ['--valid-pct']),
    (['train', '{d}/data', '--out', '{out}', '--valid-pct', '-1'], ['--valid-pct']),
    (['train', '{d}/data', '--out', '{out}', '--valid-pct', 'nan'], ['--valid-pct']),
    (['train', '{d}/data', '--out', '{out}', '--seed', '-1'], ['--seed']),
    (['train', '{d}/data', '--out', '{out}', '--weights', '{d}/text.txt'], ['--weights']),
    (['train', '{d}/data', '--out', '{out}', '--weights', '{d}/empty.bin'], ['--weights']),
    (['train', '{d}/data', '--out', '{out}', '--weights', '{d}/random.bin'], ['--weights']),
    (['train', '{d}/data', '--out', '{out}', '--weights', '{d}/other.zip'], ['--weights']),
    (['train', '{d}/data', '--out', '{out}', '--weights', '{d}/missing.pth'], ['--weights']),
    (['train', '{d}/data', '--out', '{out}', '--weights', '{d}/data'], ['--weights']),
    (['train', '{d}/noimg', '--out', '{out}'], ['data_dir']),
    (['train', '{d}/empty', '--out', '{out}'], ['data_dir']),
    (['train', '{d}/text.txt', '--out', '{out}'], ['data_dir']),
    (['train', '{d}/missing', '--out', '{out}'], ['data_dir']),
    (['train', '{d}/data', '--out', '{d}/text.txt'], ['--out']),
    (['train', '{d}/data', '--out', '{d}/text.txt/model'], ['--out']),
    (['train', '{d}/data', '--out', '{unwritable}'], ['--out']),
    (['train', '{d}/data', '--out', ''], ['--out']),
    (['train', '{d}/data', '--out', '{out}', '--resize-method', 'stretch'], ['--resize-method']),
    (['train', '{d}/data', '--out', '{out}', '--balance', 'even'], ['--balance']),
    (['train', '{d}/data', '--out', '{out}', '--bogus'], ['--bogus']),
    (['train', '{d}/data'], ['--out']),
    (['heads', '{d}/data', '--out', '{out}', '--folds', '1'], ['--folds']),
    (['heads', '{d}/data', '--out', '{out}', '--lr', 'fast'], ['--lr']),
    (['heads', '{d}/data', '--out', '{out}', '--lr', '1e-3,0'], ['--lr']),
    (['heads', '{d}/data', '--out', '{out}', '--hidden', '-1'], ['--hidden']),
    (['heads', '{d}/data', '--out', '{out}', '--fine-tune-epochs', '-2'], ['--fine-tune-epochs']),
    (['heads', '{d}/data', '--out', '{out}', '--cache', '{d}/text.txt'], ['--cache']),
    (['heads', '{d}/noimg', '--out', '{out}'], ['data_dir']),
    (['predict', '{d}/missing', '{d}/data'], ['model']),
    (['predict', '{d}/text.txt', '{d}/missing.png'], ['files']),
    (['predict', '{d}/text.txt', '{d}/data', '--csv', '{d}/data'], ['--csv']),
    (['predict', '{d}/text.txt', '{d}/data', '--csv', '{d}/text.txt/p.csv'], ['--csv']),
    (['predict', '{d}/text.txt', '{d}/data', '--bs', '0'], ['--bs']),
    (['predict', '{d}/text.txt'], ['files']),
    (['evaluate', '{d}/missing', '{d}/data'], ['model']),
    (['evaluate', '{d}/text.txt', '{d}/noimg'], ['data_dir']),
    (['evaluate', '{d}/text.txt', '{d}/data', '--out', '{d}/text.txt'], ['--out']),
    (['evaluate', '{d}/text.txt', '{d}/data', '--bs', '-3'], ['--bs']),
    (['clean', '{d}/data'], ['--model', '--undo']),
    (['clean', '{d}/data', '--undo', '--apply', '{d}/decisions.csv'], ['--undo']),
    (['clean', '{d}/data', '--apply', '{d}/missing.csv'], ['--apply']),
    (['clean', '{d}/data', '--apply', '{d}/data'], ['--apply']),
    (['clean', '{d}/data', '--apply', '{d}/random.bin'], ['--apply']),
    (['clean', '{d}/data', '--apply', '{d}/empty.bin'], ['--apply']),
    (['clean', '{d}/data', '--model', '{d}/missing'], ['--model']),
    (['clean', '{d}/noimg', '--model', '{d}/text.txt'], ['data_dir']),
    (['clean', '{d}/data', '--model', '{d}/text.txt', '--report', '{d}/data'], ['--report']),
    (['clean', '{d}/data', '--model', '{d}/text.txt', '--folds', '0'], ['--folds']),
    (['clean', '{d}/missing', '--undo'], ['data_dir']),
    (['fetch', '{d}/data', '--dest', '{d}/text.txt'], ['--dest']),
    (['fetch', '{d}/data', '--dest', '{unwritable}'], ['--dest']),
    (['fetch', '{d}/data', '--dest', '{out}', '--index', '{d}/missing.csv'], ['--index']),
    (['fetch', '{d}/data', '--dest', '{out}', '--index', '{d}/random.bin'], ['--index']),
    (['fetch', '{d}/data', '--dest', '{out}', '--index', '{d}/empty.bin'], ['--index']),
    (['fetch', '{d}/data', '--dest', '{out}', '--resize', '-10'], ['--resize']),
    (['fetch', '{d}/data', '--dest', '{out}', '--resize', '0'], ['--resize']),
    (['fetch', '{d}/data', '--dest', '{out}', '--workers', '0'], ['--workers']),
    (['fetch', 'ddg:cat', '--dest', '{out}', '--query', 'cat'], ['--query']),
    (['fetch', 'ddg:cat', '--dest', '{out}', '--max-per-label', '0'], ['--max-per-label']),
    (['fetch', '{d}/data', '--dest', '{out}', '--labels', 'cat,dog'], ['--labels']),
    (['fetch', '{d}/missing', '--dest', '{out}'], ['SOURCE']),
    (['fetch', '{d}/text.txt', '--dest', '{out}'], ['SOURCE']),
    (['fetch', '{d}/noimg', '--dest', '{out}'], ['SOURCE']),
    (['fetch', '{d}/data'], ['--dest']),
    (['demo', '--out', '{d}/text.txt'], ['--out']),
    (['demo', '--out', '{unwritable}'], ['--out']),
    (['demo', '--epochs', '-1'], ['--epochs']),
    (['trian', '{d}/data'], ['COMMAND']),
    ([], ['COMMAND']),
]

@pytest.mark.parametrize('args,names', BAD, ids=[' '.join(a).replace('{d}/', '') or 'no-command' for a,_ in BAD])
def test_bad_argument_is_one_line_exit_2_nothing_written(ws, args, names, tmp_path):
    if '{unwritable}' in args and ws.unwritable is None: pytest.skip('no unwritable folder on this machine')
    before = snapshot(ws), snapshot(tmp_path)
    res = run(*_fill(args, ws), cwd=tmp_path)
    check_refused(res.returncode, res.stdout, res.stderr, names, before, (snapshot(ws), snapshot(tmp_path)))
    assert not (ws/'out').exists()

def test_every_command_refuses_without_traceback(ws, tmp_path):
    "The README's promise, for every command the parser has (a new command included): a bad argument set, one line, no traceback"
    walked = {a[0] for a,_ in BAD if a}
    assert {'train', 'heads', 'predict', 'evaluate', 'clean', 'fetch', 'demo'} <= walked
    for cmd in cli.make_parser().commands:
        res = run(cmd, '--no-such-option', '--size', '-1', cwd=tmp_path)
        assert res.returncode == 2 and 'Traceback' not in res.stdout + res.stderr, (cmd, res.stderr)
        assert len(res.stderr.strip().splitlines()) == 1 and res.stderr.startswith(f'transferkit {cmd}: error: '), (cmd, res.stderr)
    assert not any(tmp_path.iterdir())

def test_refusing_imports_nothing_heavy(ws):
    "Argument checks run before torch, fastai or pandas is imported: a bad argument costs a fraction of a second"
    code = ("import sys, time; t = time.perf_counter(); from transferkit.cli import main\n"
            f"rc = main(['train', {str(ws/'missing')!r}, '--out', {str(ws/'out')!r}])\n"
            "heavy = sorted({'torch', 'fastai', 'pandas', 'PIL', 'numpy'} & set(sys.modules))\n"
            "print(rc, heavy, time.perf_counter() - t)")
    rc, heavy, seconds = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, env=ENV).stdout.rsplit(' ', 2)
    assert (rc, heavy) == ('2', '[]'), (rc, heavy)
    assert float(seconds) < 5

# --- checks that need the heavy libraries (the architecture, the weights, the label folders): run in-process, still before any work

def main_in_process(argv, cwd):
    "`(exit code, stdout, stderr)` of `cli.main(argv)` run in the folder `cwd`"
    out, err, old = io.StringIO(), io.StringIO(), os.getcwd()
    os.chdir(cwd)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err): code = cli.main([str(a) for a in argv])
    finally: os.chdir(old)
    return code, out.getvalue(), err.getvalue()

HEAVY_BAD = [
    (['train', '{d}/data', '--out', '{out}', '--no-pretrained', '--arch', 'notanarch'], ['notanarch']),
    (['heads', '{d}/data', '--out', '{out}', '--no-pretrained', '--arch', 'notanarch'], ['notanarch']),
    (['train', '{d}/data', '--out', '{out}', '--weights', '{d}/misfit.pth'], ['misfit.pth']),
    (['train', '{d}/data', '--out', '{out}', '--weights', '{d}/list.pth'], ['list.pth']),
    (['heads', '{d}/data', '--out', '{out}', '--weights', '{d}/misfit.pth'], ['misfit.pth']),
    (['train', '{d}/one', '--out', '{out}', '--no-pretrained'], ['Only one class']),
    (['train', '{d}/loose', '--out', '{out}', '--no-pretrained'], ['lie directly in']),
    (['train', '{d}/data', '--out', '{out}'], ['--no-pretrained']),  # no pretrained weights offline: says how
    (['predict', '{d}/data', '{d}/data'], ['No model in']),
    (['evaluate', '{d}/empty', '{d}/data'], ['No model in']),
]

@pytest.mark.parametrize('args,names', HEAVY_BAD, ids=[' '.join(a[:2]).replace('{d}/', '') + ' ' + a[-1].replace('{d}/', '') for a,_ in HEAVY_BAD])
def test_bad_input_found_by_the_libraries_before_any_work(ws, args, names, monkeypatch, tmp_path):
    monkeypatch.setenv('TORCH_HOME', str(tmp_path/'torch'))  # an empty torch cache: no pretrained weights
    before = snapshot(ws), snapshot(tmp_path)
    code, out, err = main_in_process(_fill(args, ws), tmp_path)
    check_refused(code, out, err, names, before, (snapshot(ws), snapshot(tmp_path)))

def test_bad_bf16_setting_refused_before_any_work(ws, monkeypatch, tmp_path):
    "TRANSFERKIT_BF16, which a fit reads when it starts, is checked with the settings: one line, exit 2, no ingest copy made"
    monkeypatch.setenv('TRANSFERKIT_BF16', 'maybe')
    for cmd in ('train', 'heads'):
        before = snapshot(ws), snapshot(tmp_path)
        code, out, err = main_in_process([cmd, ws/'data', '--out', tmp_path/cmd, '--no-pretrained'], tmp_path)
        check_refused(code, out, err, ["TRANSFERKIT_BF16='maybe'"], before, (snapshot(ws), snapshot(tmp_path)))

def test_non_model_files_refused(ws, tmp_path):
    "A file that is not an exported model, given where one is expected: one line, exit 2 (load_model's check, from the safe-export work)"
    for argv in [['predict', ws/'text.txt', ws/'data'], ['predict', ws/'random.bin', ws/'data'], ['evaluate', ws/'empty.bin', ws/'data'],
                 ['predict', ws/'other.zip', ws/'data'], ['clean', ws/'data', '--model', ws/'text.txt']]:
        before = snapshot(ws), snapshot(tmp_path)
        code, out, err = main_in_process(argv, tmp_path)
        check_refused(code, out, err, [Path(argv[1] if argv[0] != 'clean' else argv[3]).name], before, (snapshot(ws), snapshot(tmp_path)))

# --- warnings: the run goes on, exit code 0, one line each on stderr

@pytest.fixture(scope='module')
def untrained(ws, tmp_path_factory):
    "`train --epochs 0` with weights it ignores, on 6 images a class: `(exit code, model folder, stderr)`"
    cwd = tmp_path_factory.mktemp('untrained')
    code, _, err = main_in_process(['train', ws/'data', '--out', cwd/'model', '--epochs', '0', '--no-pretrained', '--size', '8',
                                    '--weights', ws/'misfit.pth'], cwd)
    return code, cwd/'model', err

def test_warnings_are_one_line_each_and_the_run_goes_on(untrained):
    code, model, err = untrained
    assert code == 0 and (model/'export.pkl').is_file(), err
    lines = err.strip().splitlines()
    assert all(l.startswith('transferkit train: warning: ') for l in lines), lines
    assert [next(i for i,l in enumerate(lines) if k in l) for k in ['fewer than 5 validation images', 'is ignored', 'epochs=0: nothing is trained']] == [0, 1, 2], lines

def test_predict_warnings(untrained, ws, tmp_path):
    _, model, _ = untrained
    code, out, err = main_in_process(['predict', model, ws/'empty'], tmp_path)
    assert code == 0 and out.strip() == 'file,label,probability,error' and err == f"transferkit predict: warning: No images in {ws/'empty'}: nothing to predict\n", err
    code, out, err = main_in_process(['predict', model, ws/'text.txt', ws/'data'/'cat'/'0.png', '--csv', tmp_path/'new'/'p.csv'], tmp_path)
    assert code == 0 and err == 'transferkit predict: warning: 1 file(s) could not be read (see the error column)\n', err
    assert (tmp_path/'new'/'p.csv').read_text().count('\n') == 3  # --csv into a missing folder: the folder is made

def test_evaluate_unknown_labels_refused(untrained, ws, tmp_path):
    _, model, _ = untrained
    images(tmp_path/'other'/'fox', 2)
    before = snapshot(ws), snapshot(tmp_path)
    code, out, err = main_in_process(['evaluate', model, tmp_path/'other', '--out', tmp_path/'rep'], tmp_path)
    check_refused(code, out, err, ['fox'], before, (snapshot(ws), snapshot(tmp_path)))

# --- the fuzz: random argument sets, checked in-process with the commands stubbed out, and a few through the console script

PATHS = {  # kind: {choice: (path template, valid)}
    'data': {'data': ('{d}/data', True), 'missing': ('{d}/missing', False), 'file': ('{d}/text.txt', False), 'noimg': ('{d}/noimg', False)},
    'out': {'new': ('{d}/new/out', True), 'folder': ('{d}/data', True), 'file': ('{d}/text.txt', False), 'under-file': ('{d}/text.txt/out', False),
            'unwritable': ('{unwritable}', False), 'empty': ('', False)},
    'model': {'file': ('{d}/text.txt', True), 'folder': ('{d}/data', True), 'missing': ('{d}/missing.pkl', False)},
    'weights': {'torch': ('{d}/misfit.pth', True), 'text': ('{d}/text.txt', False), 'empty': ('{d}/empty.bin', False),
                'random': ('{d}/random.bin', False), 'zip': ('{d}/other.zip', False), 'missing': ('{d}/missing.pth', False)},
    'outfile': {'new': ('{d}/new/p.csv', True), 'folder': ('{d}/data', False), 'under-file': ('{d}/text.txt/p.csv', False)},
    'files': {'folder': ('{d}/data', True), 'image': ('{d}/data/cat/0.png', True), 'empty': ('{d}/empty', True), 'missing': ('{d}/missing.png', False)},
}
def _int(lo, hi=None): return ('int', lo, hi)
SIZE, BS, EPOCHS, SEED, FRAC = _int(8), _int(2), _int(0), _int(0, 2**32-1), ('frac',)
SPEC = {  # command: [(argument, kind, required)]; a positional's name is how messages call it
    'train': [('data_dir', 'data', True), ('--out', 'out', True), ('--size', SIZE, False), ('--bs', BS, False), ('--epochs', EPOCHS, False),
              ('--valid-pct', FRAC, False), ('--seed', SEED, False), ('--weights', 'weights', False)],
    'heads': [('data_dir', 'data', True), ('--out', 'out', True), ('--cache', 'out', False), ('--size', SIZE, False), ('--bs', BS, False),
              ('--folds', _int(2), False), ('--fine-tune-epochs', EPOCHS, False), ('--lr', 'lrs', False), ('--valid-pct', FRAC, False)],
    'predict': [('model', 'model', True), ('files', 'files', True), ('--csv', 'outfile', False), ('--bs', _int(1), False)],
    'evaluate': [('model', 'model', True), ('data_dir', 'data', True), ('--out', 'out', False), ('--bs', _int(1), False)],
    'clean': [('data_dir', 'data', True), ('--model', 'model', True), ('--report', 'outfile', False), ('--size', SIZE, False),
              ('--folds', _int(2), False), ('--weights', 'weights', False)],
    'fetch': [('SOURCE', 'data', True), ('--dest', 'out', True), ('--resize', SIZE, False), ('--workers', _int(1), False),
              ('--max-per-label', _int(1), False)],
    'demo': [('--out', 'out', False), ('--epochs', EPOCHS, False)],
}
ODD_TEXT = ['', ' ', 'abc', '1.5', '1e3', ' 12 ', '0x10', '+9', '-0', 'nan', 'inf', '-inf', '٣', '1_000', '9' * 30]

def _valid(kind, text) -> bool:
    "The rule the argument checks should follow, restated"
    if kind[0] == 'int':
        try: v = int(text)
        except ValueError: return False
        return v >= kind[1] and (kind[2] is None or v <= kind[2])
    if kind[0] == 'frac':
        try: return 0 < float(text) < 1
        except ValueError: return False
    raise ValueError(kind)

def _valid_lrs(text):
    try: vs = [float(v) for v in text.split(',') if v.strip()]
    except ValueError: return False
    return bool(vs) and all(0 < v < float('inf') for v in vs)

@st.composite
def argument_sets(draw, cmd=None):
    "`(argv template, names of the invalid arguments)` for `cmd` (or a random command); each argument is meant valid 3 times in 4"
    cmd = cmd or draw(st.sampled_from(sorted(SPEC)))
    argv, bad = [cmd], []
    for name, kind, required in SPEC[cmd]:
        if not required and not draw(st.booleans()): continue
        meant_valid = draw(st.integers(0, 3)) > 0
        if kind == 'lrs':
            good = st.lists(st.floats(1e-6, 1).map(repr), min_size=1, max_size=3)
            text = ','.join(draw(good if meant_valid else st.lists(st.one_of(st.floats(-1, 1).map(repr), st.sampled_from(ODD_TEXT)), max_size=3)))
            ok = _valid_lrs(text)
        elif isinstance(kind, tuple):
            if meant_valid: num = st.integers(kind[1], kind[2] or kind[1] + 500) if kind[0] == 'int' else st.floats(1e-6, 1 - 1e-6)
            else: num = st.one_of(st.integers(-2**64, kind[1] - 1), st.integers(2**32, 2**64)) if kind[0] == 'int' else st.floats()
            text = draw(st.one_of(num.map(str), st.sampled_from(ODD_TEXT)) if not meant_valid else num.map(str))
            ok = _valid(kind, text)
        else:
            choices = sorted(c for c,(_, v) in PATHS[kind].items() if v == meant_valid) or sorted(PATHS[kind])
            text, ok = PATHS[kind][draw(st.sampled_from(choices))]
        if not ok: bad.append(name)
        argv += [f'{name}={text}'] if name.startswith('--') else [text]
    return argv, bad

@pytest.fixture
def stubbed(monkeypatch):
    "The commands replaced by a recorder: only the argument checks run"
    calls = []
    for cmd in SPEC: monkeypatch.setattr(cli, f'_{cmd}', lambda a: calls.append(a.command))
    return calls

@pytest.mark.parametrize('cmd', sorted(SPEC))
@settings(max_examples=15, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_fuzz_argument_checks_in_process(ws, stubbed, cmd, data):
    "15 random argument sets a command (105 in all): refused with one line naming a bad argument, or passed to the command; nothing written"
    argv, bad = data.draw(argument_sets(cmd))
    if '{unwritable}' in ' '.join(argv) and ws.unwritable is None: return
    argv = _fill(argv, ws)
    before = snapshot(ws)
    stubbed.clear()
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()): code = cli.main(argv)
    err = err.getvalue()
    if bad:
        check_refused(code, '', err, bad, before, snapshot(ws))
        assert stubbed == [], argv
    else:
        assert code == 0 and stubbed == [argv[0]], (argv, err)
        assert all(': warning: ' in l for l in err.splitlines()), err
        assert snapshot(ws) == before

@settings(max_examples=6, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(case=argument_sets().filter(lambda c: c[1] and 'unwritable' not in ' '.join(c[0])))
def test_fuzz_through_the_console_script(ws, case, tmp_path_factory):
    argv, bad = case
    cwd = tmp_path_factory.mktemp('cwd')
    before = snapshot(ws), snapshot(cwd)
    res = run(*_fill(argv, ws), cwd=cwd)
    check_refused(res.returncode, res.stdout, res.stderr, bad, before, (snapshot(ws), snapshot(cwd)))

def test_cli_and_library_share_the_size_floor():
    "`--size` and `--resize` refuse what `train_folder` refuses, and no more"
    import argparse
    from transferkit.checks import MIN_SIZE
    assert cli._size(str(MIN_SIZE)) == MIN_SIZE
    with pytest.raises(argparse.ArgumentTypeError): cli._size(str(MIN_SIZE - 1))

"The transferkit command end to end, in subprocesses"
import json, os, subprocess, sys
from pathlib import Path

import pandas as pd, pytest
from PIL import Image

from conftest import EPOCH, assert_quiet

CLI = [str(Path(sys.executable).parent/'transferkit')]  # the installed console script

def run(*args, cwd=None, timeout=600):
    env = dict(os.environ, TRANSFERKIT_OFFLINE='1', MPLBACKEND='Agg')
    return subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=timeout, env=env)

@pytest.fixture(scope='module')
def demo(demo_run):
    "The demo (conftest's `demo_run`, once a session): trains from scratch on the digits, exports, predicts"
    out, res = demo_run
    return out, res.stdout

def test_demo_piped_is_a_line_per_epoch_and_stage(demo_run):
    demo = demo_run[1] # conftest's: the demo at its defaults, piped
    assert_quiet(demo)
    lines = demo.stdout.splitlines()
    epochs = [EPOCH.match(l).groups() for l in lines if EPOCH.match(l)]
    assert epochs and epochs == [(str(i), str(len(epochs))) for i in range(1, len(epochs) + 1)], demo.stdout # a line an epoch
    assert sum(l.startswith('ingest: 1777 image(s) in ') for l in lines) == 1
    assert len(demo.stdout) < 2000 + 100*len(epochs) and demo.stderr == '', (len(demo.stdout), demo.stderr) # bars: ~6 kB an epoch

def test_demo_reaches_accuracy_and_writes_artifacts(demo):
    out, stdout = demo
    acc = float(next(l for l in stdout.splitlines() if l.startswith('Validation accuracy:')).split(':')[1])
    assert acc >= 0.90
    model = out/'model'
    for f in ['export.pkl', 'model_card.json', 'training.json', 'loss_curve.png', 'confusion_matrix.png', 'report.md']: assert (model/f).is_file(), f
    card = json.loads((model/'model_card.json').read_text())
    assert card['classes'] == [str(i) for i in range(10)] and card['arch'] == 'resnet18' and round(card['metrics']['accuracy'], 4) == acc
    assert len(json.loads((model/'training.json').read_text())['epochs']) == 6
    assert 'Held-out accuracy' in stdout
    top = pd.read_csv(model/'top_losses.csv') # named relative to the model folder, whatever folder the command ran in
    assert len(top) == 16 and all((model/f).is_file() for f in top.file), top.file.head().tolist()

def test_predict_csv_and_bad_file(demo, tmp_path):
    out, _ = demo
    (tmp_path/'bad.jpg').write_bytes(b'<html>oops</html>')
    held = out/'digits'/'holdout'
    res = run('predict', out/'model', held, tmp_path/'bad.jpg', '--csv', tmp_path/'p.csv')
    assert res.returncode == 0, res.stderr
    df = pd.read_csv(tmp_path/'p.csv')
    assert len(df) == 21 and df.error.notna().sum() == 1 and 'HTML' in df.error.dropna().iloc[0]
    ok = df.dropna(subset=['label'])
    truth = ok.file.map(lambda f: Path(f).name.split('_')[0])
    assert (ok.label.astype(int).astype(str) == truth).mean() >= 0.8

def test_evaluate_writes_report(demo, tmp_path):
    out, _ = demo
    res = run('evaluate', out/'model', out/'model'/'data-32px', '--out', tmp_path/'rep')
    assert res.returncode == 0, res.stderr
    rep = json.loads((tmp_path/'rep'/'report.json').read_text())
    assert rep['n'] == 1777 and rep['accuracy'] > 0.9 and (tmp_path/'rep'/'confusion_matrix.csv').is_file()
    assert sum(rep['counts']['valid'].values()) == 1777
    top = pd.read_csv(tmp_path/'rep'/'top_losses.csv')
    assert len(top) == 16 and top.loss.is_monotonic_decreasing and (tmp_path/'rep'/'top_losses.png').stat().st_size > 1000

def test_heads_searches_on_cached_features_and_exports(demo, tmp_path):
    out, _ = demo
    args = ['heads', out/'model'/'data-32px', '--out', tmp_path/'h', '--size', '32', '--no-pretrained', '--lr', '3e-3,1e-2', '--hidden', '0', '--folds', '3']
    res = run(*args)
    assert res.returncode == 0, res.stderr[-3000:]
    assert len(pd.read_csv(tmp_path/'h'/'head_search.csv')) == 2 * 2  # 2 lrs x 1 hidden x 2 weight decays
    acc = float(next(l for l in res.stdout.splitlines() if l.startswith('Validation accuracy:')).split(':')[1].split()[0])
    assert acc > 0.5, res.stdout  # a random body's features still separate digits far above chance (0.1)
    again = run(*args)
    assert again.returncode == 0 and '0 image(s) pushed through the body' in again.stdout, again.stdout
    code = f"import sys; sys.modules['transferkit'] = None\nfrom fastai.learner import load_learner\nprint(len(load_learner({str(tmp_path/'h'/'export.pkl')!r}, cpu=True).dls.vocab))"
    assert subprocess.run([sys.executable, '-c', code], capture_output=True, text=True).stdout.strip() == '10'

def test_train_bad_input_is_one_line_and_exit_2(tmp_path):
    (tmp_path/'one'/'cat').mkdir(parents=True)
    Image.new('RGB', (8,8)).save(tmp_path/'one'/'cat'/'a.png'); Image.new('RGB', (8,8), 'red').save(tmp_path/'one'/'cat'/'b.png')
    for data, msg in [(tmp_path/'missing', 'does not exist'), (tmp_path/'one', 'Only one class')]:
        res = run('train', data, '--out', tmp_path/'o', '--no-pretrained')
        assert res.returncode == 2 and msg in res.stderr and len(res.stderr.strip().splitlines()) == 1, res.stderr
        assert 'Traceback' not in res.stderr

def test_train_without_weights_offline_says_how(tmp_path):
    for label, c in [('a', 20), ('b', 230)]:
        (tmp_path/'d'/label).mkdir(parents=True)
        for i in range(3): Image.new('RGB', (16,16), (c, i, 0)).save(tmp_path/'d'/label/f'{i}.png')
    env_home = tmp_path/'torch'
    res = subprocess.run([*CLI, 'train', tmp_path/'d', '--out', tmp_path/'o'], capture_output=True, text=True,
                         env=dict(os.environ, TRANSFERKIT_OFFLINE='1', TORCH_HOME=str(env_home)), timeout=300)
    assert res.returncode == 2 and '--no-pretrained' in res.stderr and '--weights' in res.stderr and str(env_home) in res.stderr

def test_train_with_unreadable_image_lists_it(tmp_path):
    for label in 'ab':
        (tmp_path/'d'/label).mkdir(parents=True)
        for i in range(3): Image.new('RGB', (16,16), (i*50, 0, 0)).save(tmp_path/'d'/label/f'{i}.png')
    (tmp_path/'d'/'b'/'broken.jpg').write_bytes(b'\xff\xd8\xff garbage')
    res = run('train', tmp_path/'d', '--out', tmp_path/'o', '--no-pretrained')
    assert res.returncode == 2 and 'broken.jpg' in res.stderr and 'unreadable' in res.stderr

def test_fetch_local_folder_summary(tmp_path):
    for j,label in enumerate(['cat', 'dog']):
        (tmp_path/'raw'/label).mkdir(parents=True)
        for i in range(2): Image.new('RGB', (40,30), (i*90, j*120, 5)).save(tmp_path/'raw'/label/f'{i}.jpg')
    (tmp_path/'raw'/'dog'/'copy.jpg').write_bytes((tmp_path/'raw'/'cat'/'0.jpg').read_bytes())
    (tmp_path/'raw'/'dog'/'again.jpg').write_bytes((tmp_path/'raw'/'dog'/'1.jpg').read_bytes())
    res = run('fetch', tmp_path/'raw', '--dest', tmp_path/'ds', '--resize', 20)
    assert res.returncode == 0, res.stderr
    lines = [l.split() for l in res.stdout.splitlines()]
    head = next(i for i,l in enumerate(lines) if l[-3:] == ['ok', 'duplicate', 'failed'])
    counts = {l[0]: list(map(int, l[1:])) for l in lines[head+2:head+4]}
    # an image is keyed by its content and its label: the same bytes under another label are that label's image (a conflict
    # `clean` reports), the same bytes twice under one label are stored once
    assert counts == {'cat': [2, 0, 0], 'dog': [3, 1, 0]}, res.stdout
    files = sorted((tmp_path/'ds').rglob('*.jpg'))
    assert len(files) == 5 and all(max(Image.open(f).size) == 20 for f in files)

def test_help_on_every_command():
    for cmd in ['train', 'predict', 'evaluate', 'fetch', 'demo']:
        res = run(cmd, '--help')
        assert res.returncode == 0 and 'usage: transferkit' in res.stdout

def test_predict_to_stdout_is_clean_csv(demo):
    out, _ = demo
    res = run('predict', out/'model', out/'digits'/'holdout')
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0] == 'file,label,probability,error' and len(lines) == 21

def _tree(root):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(Path(root).rglob('*')) if p.is_file() and '.transferkit' not in p.parts}

def test_clean_report_apply_undo(demo, tmp_path):
    import shutil
    out, _ = demo
    data = tmp_path/'data'
    for d in ['3', '8']: shutil.copytree(out/'model'/'data-32px'/d, data/d)
    planted = sorted((data/'3').iterdir())[0]
    shutil.move(planted, data/'8'/('planted' + planted.suffix))
    res = run('clean', data, '--model', out/'model', '--cache', tmp_path/'cache', '--no-pretrained', '--size', '32', '--report', tmp_path/'suspects.csv')
    assert res.returncode == 0, res.stderr[-3000:]
    sus = pd.read_csv(tmp_path/'suspects.csv', keep_default_na=False)
    assert f'8/planted{planted.suffix}' in list(sus.file[:5]), sus.head(10)
    assert 'label issue' in sus.set_index('file').loc[f'8/planted{planted.suffix}', 'reason']
    sheet = (tmp_path/'suspects.html').read_text()
    assert 'data:image/jpeg;base64,' in sheet and f'8/planted{planted.suffix}' in sheet
    before = _tree(data)
    sus.loc[0, 'action'] = 'relabel'; sus.loc[0, 'new_label'] = '3'
    other = sorted(before)[0]
    dec = pd.concat([sus.iloc[:1], pd.DataFrame([dict(file=other, action='delete')])])
    dec.to_csv(tmp_path/'decisions.csv', index=False)
    res = run('clean', data, '--apply', tmp_path/'decisions.csv')
    assert res.returncode == 0 and 'Applied 2 change(s)' in res.stdout, res.stderr
    assert not (data/other).exists() and (data/'.transferkit'/'trash'/other).exists()
    assert any(p.name.startswith('planted') for p in (data/'3').iterdir())
    res = run('clean', data, '--undo')
    assert res.returncode == 0 and 'Undid 2' in res.stdout, res.stderr
    assert _tree(data) == before
    # decisions that name files outside the root, missing files or unknown labels: one error, nothing changed
    pd.DataFrame([dict(file='../outside.png', action='delete'), dict(file='3/nope.png', action='delete'),
                  dict(file=other, action='relabel', new_label='7')]).to_csv(tmp_path/'bad.csv', index=False)
    res = run('clean', data, '--apply', tmp_path/'bad.csv')
    assert res.returncode == 2 and '3 bad decision(s)' in res.stderr and 'Traceback' not in res.stderr, res.stderr
    assert _tree(data) == before
    res = run('clean', data)
    assert res.returncode == 2 and 'Give one of' in res.stderr

def _children(pid) -> list:
    "The live child processes of `pid` (from /proc)"
    kids = []
    for p in Path('/proc').iterdir():
        try: state, ppid = (p/'stat').read_text().rsplit(')', 1)[1].split()[:2]
        except (OSError, ValueError): continue
        if int(ppid) == pid and state not in ('Z', 'X'): kids.append(int(p.name))
    return kids

def _alive(pid) -> bool:
    try: return (Path('/proc')/str(pid)/'stat').read_text().rsplit(')', 1)[1].split()[0] not in ('Z', 'X')
    except OSError: return False

def _first_children(p, wait:float=20) -> list:
    "The child processes of the command `p` as soon as it has any (at most `wait` seconds)"
    import time
    t = time.monotonic()
    while not (kids := _children(p.pid)) and p.poll() is None and time.monotonic() - t < wait: time.sleep(0.02)
    return kids

def _gone(pids, wait:float=10) -> bool:
    "Whether every process in `pids` has ended within `wait` seconds"
    import time
    t = time.monotonic()
    while any(map(_alive, pids)) and time.monotonic() - t < wait: time.sleep(0.05)
    return not any(map(_alive, pids))

@pytest.fixture(scope='module')
def big_photos(tmp_path_factory):
    "Two classes of 1600x1200 noise JPEGs: seconds of decoding for the child that prepares them ahead"
    import numpy as np
    d = tmp_path_factory.mktemp('big')/'photos'; rng = np.random.default_rng(0)
    for label in ('a', 'b'):
        (d/label).mkdir(parents=True)
        for i in range(30): Image.fromarray(rng.integers(0, 255, (1200, 1600, 3), dtype=np.uint8)).save(d/label/f'{i}.jpg', quality=90)
    return d

@pytest.mark.skipif(not Path('/proc/self/stat').exists(), reason='reads /proc')
@pytest.mark.parametrize('after', [0., 0.5, 1.5])
def test_the_child_that_prepares_images_dies_with_train(big_photos, tmp_path, after):
    "`transferkit train` decodes the photos in a child process while it imports; SIGKILL the command at several points: the child goes too"
    import signal, time
    p = subprocess.Popen([*CLI, 'train', big_photos, '--out', tmp_path/'o', '--size', '32', '--epochs', '1', '--no-pretrained'],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(os.environ, TRANSFERKIT_OFFLINE='1'))
    kids = _first_children(p)
    assert kids, 'no child process started'
    time.sleep(after); p.send_signal(signal.SIGKILL); p.wait(timeout=30)
    assert _gone(kids), f'child {kids} outlived the command'

def test_bad_input_found_late_stops_the_child_and_writes_nothing(big_photos, tmp_path):
    "A check that needs torch (an unknown architecture) fails while the child works: one line, exit 2, no file, no child left"
    p = subprocess.Popen([*CLI, 'train', big_photos, '--out', tmp_path/'o', '--arch', 'no_such_net', '--no-pretrained'],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ, TRANSFERKIT_OFFLINE='1'))
    kids = _first_children(p)
    _, err = p.communicate(timeout=120)
    assert p.returncode == 2 and 'no_such_net' in err and len(err.strip().splitlines()) == 1, err
    assert kids, 'no child process started'
    assert _gone(kids) and not (tmp_path/'o').exists()

def test_train_plain_is_recorded_and_bs_left_to_the_library(tmp_path):
    "`train --plain` trains the stock recipe and says so in training.json; without --bs the library picks the batch (`auto_batch_size`)"
    for j, label in enumerate(['a', 'b']):
        (tmp_path/'d'/label).mkdir(parents=True)
        for i in range(6): Image.new('RGB', (24, 24), (i*40, j*200, 30)).save(tmp_path/'d'/label/f'{i}.png')
    res = run('train', tmp_path/'d', '--out', tmp_path/'o', '--plain', '--no-pretrained', '--epochs', 1, '--size', 16)
    assert res.returncode == 0, res.stderr[-3000:]
    rec = json.loads((tmp_path/'o'/'training.json').read_text())
    assert rec['plain'] is True and 'bs_rule' in rec, rec.keys()
    assert "default: largest power of two up to fastai's 64" in ' '.join(run('train', '--help').stdout.split())

def test_predict_needs_neither_fastai_nor_pandas(demo, tmp_path):
    "`transferkit predict` on a model folder (a ResNet) runs on torch, safetensors and PIL: fastai's vision stack, torchvision and pandas stay unimported"
    out, _ = demo
    code = ("import sys; from transferkit.cli import main; rc = main(['predict', sys.argv[1], sys.argv[2], '--csv', sys.argv[3]]); "
            "print(sorted(m for m in ('fastai.vision.all', 'fastai', 'pandas', 'torchvision') if m in sys.modules)); sys.exit(rc)")
    res = subprocess.run([sys.executable, '-c', code, str(out/'model'), str(out/'digits'/'holdout'), str(tmp_path/'p.csv')],
                         capture_output=True, text=True, env=dict(os.environ, TRANSFERKIT_OFFLINE='1'), timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    assert res.stdout.splitlines()[-1] == '[]', res.stdout
    assert len(pd.read_csv(tmp_path/'p.csv')) == 20

# --- the command line derived from the library's documented signatures

def _library_object(source:str):
    "The object `documented` reads for 'module.name[.attr]', imported for real"
    import importlib
    module, *names = source.split('.')
    obj = importlib.import_module(f'transferkit.{module}')
    for n in names: obj = getattr(obj, n)
    return obj

def _options():
    "`(command, argparse action, (source, parameter))` for every argument of every command; source None: the command line's own"
    from transferkit.cli import COMMANDS, make_parser
    p = make_parser()
    for cmd, sub in p.commands.items():
        params = COMMANDS[cmd]['options']
        for a in sub._actions:
            if a.dest != 'help': yield cmd, a, (params[a.dest][0], a.dest)

def test_cli_defaults_and_help_are_the_library_docments():
    "Each option that stands for a library parameter has that parameter's default and its docment (fastcore's `docments` of the imported function) in its help"
    import inspect
    from fastcore.docments import docments
    checked = 0
    for cmd, a, (source, param) in _options():
        if source is None: continue
        obj = _library_object(source)
        if isinstance(obj, dict): default, doc = obj[param], None
        else: default, doc = inspect.signature(obj).parameters[param].default, docments(obj)[param]
        where = f'transferkit {cmd} {"/".join(a.option_strings) or a.metavar} ({source} {param})'
        if a.option_strings: assert a.default == (None if default is inspect.Parameter.empty else default), where
        if doc: assert doc in a.help, (where, a.help)
        if default not in (None, inspect.Parameter.empty) and not isinstance(default, bool):
            shown = ','.join(map(str, default)) if isinstance(default, list) else str(default)
            assert a.help.endswith(f'(default: {shown})'), (where, a.help)
        checked += 1
    assert checked >= 60, checked

def test_every_option_and_positional_has_help():
    missing = [f'{cmd} {"/".join(a.option_strings) or a.metavar}' for cmd, a, _ in _options() if not (a.help or '').strip() or 'None' in a.help]
    assert missing == [], missing

def test_every_optional_option_says_its_default():
    "An option one may leave out says in its help what happens then: its default, `(default: none)`, or what stands in for it"
    silent = [f'{cmd} {a.option_strings[-1]}' for cmd, a, _ in _options()
              if a.option_strings and not a.required and a.nargs != 0 and 'default' not in (a.help or '')]
    assert silent == [], silent

def test_help_lists_the_commands_by_task_without_heavy_imports():
    "`transferkit --help` names each command once, under its task; neither it nor a command's --help imports torch, fastai, pandas or numpy"
    from transferkit.cli import COMMANDS, TASKS
    code = ("import contextlib, io, sys; from transferkit.cli import main, COMMANDS\n"
            "with contextlib.redirect_stdout(io.StringIO()): codes = [main([c, '--help']) for c in COMMANDS]\n"
            "main(['--help']) if codes == [0] * len(COMMANDS) else print(codes)\n"
            "print(sorted({'torch', 'fastai', 'pandas', 'numpy'} & set(sys.modules)))")
    res = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, env=dict(os.environ, TRANSFERKIT_OFFLINE='1'), timeout=60)
    *text, heavy = res.stdout.splitlines()
    assert heavy == '[]', res.stdout
    listing, task, shown = '\n'.join(text).split('commands:\n', 1)[1], None, {}
    for line in listing.splitlines():
        if line.startswith('  ') and line.endswith(':') and not line.startswith('    '): task = line.strip()[:-1]
        elif line.startswith('    '): shown.setdefault(line.split()[0], []).append(task)
    assert shown == {n: [c['task']] for n,c in COMMANDS.items()}
    assert TASKS == [t for t in TASKS if t in listing]

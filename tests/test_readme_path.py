"README.md's path — train, read the report, clean, undo, retrain, predict — run command by command as the README writes it, on the embedded digits"
import ast, io, json, re, shlex, shutil
from pathlib import Path

import pandas as pd, pytest
pytestmark = pytest.mark.latest # the user's whole path (train, report, clean, retrain, predict, export) on embedded data: `./dev test-latest` runs it on the newest releases

ROOT = Path(__file__).resolve().parents[1]
SECTION = '## Your photos → a model'
SMALLEST = {'--size': '32', '--epochs': '1'} # plus --no-pretrained: the path at its smallest, offline

def path_section(text:str) -> str:
    "The README's path: from its heading to the next `## ` heading"
    assert SECTION in text, f'README.md has no "{SECTION}" section'
    return text.split(SECTION, 1)[1].split('\n## ', 1)[0]

def path_steps(section:str) -> list:
    "The section's code in order: `('sh', argv)` for each line of a sh block (each a `transferkit` command), `('python', code)` for each python block"
    steps = []
    for lang, body in re.findall(r'```(sh|python)\n(.*?)```', section, re.S):
        if lang == 'python': steps.append(('python', body)); continue
        for line in body.splitlines():
            if not (argv := shlex.split(line, comments=True)): continue
            assert argv[0] == 'transferkit', f'the path runs transferkit commands only: {line!r}'
            steps.append(('sh', argv[1:]))
    return steps

def smallest(argv:list) -> list:
    "`argv` of a `train` at the smallest settings: tiny images, 1 epoch, from scratch"
    if argv[0] != 'train': return argv
    out = list(argv)
    for opt, v in SMALLEST.items():
        if opt in out: out[out.index(opt) + 1] = v
        else: out += [opt, v]
    return out + ['--no-pretrained']

def run_python(code:str):
    "Run `code` as a notebook cell does: the value of its last line, when that is an expression"
    tree, ns = ast.parse(code), {}
    last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
    exec(compile(tree, '<README>', 'exec'), ns)
    return eval(compile(ast.Expression(last.value), '<README>', 'eval'), ns) if last else None

@pytest.fixture
def photos(tmp_path, monkeypatch):
    "`photos/<digit>/` (4 labels, 30 images each), `new_photos/` and `held_out/<digit>/` (3 more of each) from scikit-learn's digits, in a fresh working folder, as the README names them"
    from PIL import Image
    from sklearn.datasets import load_digits
    digits = load_digits()
    for label in range(4):
        for n, i in enumerate((digits.target == label).nonzero()[0][:36]):
            f = tmp_path/('photos'/Path(str(label))/f'{i}.png' if n < 30 else Path('new_photos')/f'{label}_{i}.png' if n < 33 else Path('held_out')/str(label)/f'{i}.png')
            f.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray((digits.images[i]*(255/16)).astype('uint8')).resize((32, 32), Image.Resampling.BICUBIC).convert('RGB').save(f)
    monkeypatch.chdir(tmp_path); monkeypatch.setenv('TRANSFERKIT_OFFLINE', '1')
    monkeypatch.setenv('TORCH_HOME', str(tmp_path/'no-weights')) # no pretrained weights anywhere: the path's cleaning must not need them
    return tmp_path

def test_the_steps_cover_the_path():
    "train, clean (report, apply, undo), retrain, predict and the widget are all in the README's path, in that order"
    steps = path_steps(path_section((ROOT/'README.md').read_text(encoding='utf-8')))
    cmds = [' '.join(a[:1] + [o for o in a if o in ('--report', '--apply', '--undo')]) if k == 'sh' else 'python' for k, a in steps]
    first = {c: cmds.index(c) for c in ('train', 'clean --report', 'clean --apply', 'clean --undo', 'python', 'predict')}
    assert first['train'] < first['clean --report'] < first['clean --apply'] < first['clean --undo'] < first['predict'], cmds
    assert 'train' in cmds[first['clean --apply']:], 'the path retrains after cleaning'
    assert 'Cleaner' in steps[first['python']][1] and 'FeatureCache' not in ''.join(a for k, a in steps if k == 'python'), 'the widget, scored without a feature cache'

def test_readme_path_runs(photos, capsys):
    "Every command of the path, in order, with the data the README names; after each, what the README says it leaves"
    from transferkit.cli import main
    from transferkit.widget import Cleaner
    section = path_section((ROOT/'README.md').read_text(encoding='utf-8'))
    n = len(list((photos/'photos').rglob('*.png')))
    moved = {}
    for kind, what in path_steps(section):
        if kind == 'python':
            cleaner = run_python(what)
            assert isinstance(cleaner, Cleaner) and len(cleaner.table) == n, 'the widget scores every image'
            continue
        argv = smallest(what)
        capsys.readouterr()
        assert main(argv) == 0, (argv, capsys.readouterr())
        out = capsys.readouterr().out
        if argv[0] == 'train':
            shown = re.findall(r'`(model/[\w./-]+)`', section) # the report files the README tells the user to read
            assert len(shown) >= 3 and all(Path(f).is_file() for f in shown), shown
            assert Path('model/model.safetensors').is_file() and Path('model/config.json').is_file()
        elif '--report' in argv:
            report = argv[argv.index('--report') + 1]
            sus = pd.read_csv(report, keep_default_na=False)
            assert len(sus) and f'--apply {report}</code>' in Path(report).with_suffix('.html').read_text() # the sheet names the CSV to apply
            # what the user does between the commands: one image deleted, one relabelled
            a, b = sus.iloc[0], sus.iloc[1]
            new = next(l for l in '0123' if l != b.label)
            sus.loc[0, 'action'], sus.loc[1, ['action', 'new_label']] = 'delete', ['relabel', new]
            sus.to_csv(report, index=False)
            moved = {Path('photos')/a.file: None, Path('photos')/b.file: Path('photos')/new/Path(b.file).name}
        elif '--apply' in argv:
            (gone, _), (old, new) = moved.items()
            assert not gone.exists() and not old.exists() and new.is_file()
            assert len(list(Path('photos/.transferkit/trash').rglob('*.png'))) == 1
        elif '--undo' in argv:
            (gone, _), (old, new) = moved.items()
            assert old.is_file() and not new.exists() and gone.is_file()
        elif argv[0] == 'evaluate':
            report = Path(argv[argv.index('--out') + 1])/'report.json'
            assert json.loads(report.read_text())['n'] == 12, report
        elif argv[0] == 'export-onnx':
            assert Path('model/model.onnx').is_file()
        elif argv[0] == 'predict':
            rows = pd.read_csv(argv[argv.index('--csv') + 1]) if '--csv' in argv else pd.read_csv(io.StringIO(out))
            assert len(rows) == len(list(Path('new_photos').iterdir())) and rows.label.notna().all(), rows

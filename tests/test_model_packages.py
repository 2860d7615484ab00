"Model folders end to end, in subprocesses: one consistent set under kills, safe loading, the malicious pickle, ONNX without torch, portability"
import json, os, pickle, random, shutil, signal, subprocess, time
from pathlib import Path

import numpy as np, pandas as pd, pytest
from PIL import Image

from transferkit.core import hash_file
from transferkit.modelfolder import CONFIG, WEIGHTS, PICKLE, CARD, STATE_DICT, ONNX, MODEL_FILES, SWAP_MARKER, STAGING_PREFIX, open_folder, read_config
from transferkit.predict import fastai_resize, open_rgb
from conftest import CLI, ENV, run, run_py, run_batch, one_line_error

# the tests that exercise fastai, torch or onnx themselves: `./dev test-latest` runs them on the newest releases too
on_latest = pytest.mark.latest

TRAIN = ['--size', '32', '--epochs', '1', '--no-pretrained', '--bs', '8']

def make_data(root, n=16):
    "Two classes of noisy photos of varied, non-square sizes"
    rng = np.random.default_rng(0)
    for label, base in [('dark', 60), ('light', 190)]:
        (Path(root)/label).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            px = np.clip(base + rng.normal(0, 40, (30 + (i*3) % 20, 40 + i, 3)), 0, 255).astype('uint8')
            Image.fromarray(px).save(Path(root)/label/f'{i}.jpg')
    return Path(root)

def model_files(out) -> set:
    "The files of the model set present in `out`"
    return {n for n in MODEL_FILES if (Path(out)/n).is_file()}

def check_complete(out) -> str:
    "After a transferkit open (which finishes an interrupted swap): one complete set, every sha256 matching; its weights digest"
    cfg = open_folder(out)
    assert not (Path(out)/SWAP_MARKER).exists() and not list(Path(out).glob(f'{STAGING_PREFIX}*'))
    assert model_files(out) == set(cfg['files']) | {CONFIG}, (model_files(out), sorted(cfg['files']))
    for name, digest in cfg['files'].items(): assert hash_file(Path(out)/name) == digest, name
    return cfg['files'][WEIGHTS]

@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    "A tiny model trained once from scratch, with model.onnx"
    d = tmp_path_factory.mktemp('pk')
    data = make_data(d/'data')
    res = run('train', data, '--out', d/'out', *TRAIN, '--onnx')
    assert res.returncode == 0, res.stderr[-3000:]
    return d, data, d/'out'

@on_latest
def test_folder_is_one_verified_set(trained):
    d, data, out = trained
    check_complete(out)
    cfg, card = read_config(out), json.loads((out/CARD).read_text())
    assert set(cfg['files']) == {PICKLE, WEIGHTS, CARD, STATE_DICT, ONNX, 'training.json', 'loss_curve.png', 'report.json', 'report.md',
                                 'confusion_matrix.csv', 'confusion_matrix.png', 'top_losses.csv', 'top_losses.png'}
    assert (cfg['vocab'], cfg['height'], cfg['width'], cfg['resize_method'], cfg['onnx']['opset']) == (['dark', 'light'], 32, 32, 'crop', 17)
    assert card['files'] == dict(config=CONFIG, weights=WEIGHTS, pickle=PICKLE, state_dict=STATE_DICT, onnx=ONNX)
    assert card['data']['path'] == 'data-32px' and cfg['onnx']['max_abs_diff'] <= 1e-4

def test_no_absolute_paths_in_any_artifact(trained):
    d, data, out = trained
    needles = [str(d).encode(), str(d.resolve()).encode()]
    files = [f for f in out.rglob('*') if f.is_file() and not f.relative_to(out).parts[0].startswith('data-')] # the ingest cache's manifest records where images came from
    assert len(files) == 14
    for f in files: assert not any(n in f.read_bytes() for n in needles), f

@on_latest
def test_safe_load_predict_evaluate_clean(trained, tmp_path):
    d, data, out = trained
    res = run('predict', out, data, '--csv', tmp_path/'p.csv')
    assert res.returncode == 0, res.stderr[-2000:]
    assert len(pd.read_csv(tmp_path/'p.csv').label.dropna()) == 32
    assert run('evaluate', out, data).returncode == 0
    res = run('clean', data, '--model', out, '--report', tmp_path/'s.csv', '--all')
    assert res.returncode == 0, res.stderr[-2000:]
    code = f"""from transferkit.widget import Cleaner
print(len(Cleaner.from_export({str(out)!r}, {str(data)!r}).table))"""
    res = run_py(code)
    assert res.stdout.strip().splitlines()[-1] == '32', res.stderr[-2000:]

def test_copied_folder_predicts_identically_elsewhere(trained, tmp_path):
    d, data, out = trained
    copy = tmp_path/'elsewhere'/'model'
    shutil.copytree(out, copy, ignore=shutil.ignore_patterns('data-*'))
    (tmp_path/'cwd').mkdir()
    for model in (out, out/ONNX):
        a = run('predict', model, data, cwd=d); b = run('predict', copy/Path(model).relative_to(out), data, cwd=tmp_path/'cwd')
        assert a.returncode == b.returncode == 0, (a.stderr[-2000:], b.stderr[-2000:])
        assert a.stdout == b.stdout and a.stdout.count('\n') == 33

def test_altered_file_is_refused_by_name(trained, tmp_path):
    d, data, out = trained
    cases = []
    for name in (WEIGHTS, 'report.md', PICKLE):
        copy = tmp_path/name.replace('.', '_')
        shutil.copytree(out, copy, ignore=shutil.ignore_patterns('data-*'))
        with open(copy/name, 'r+b') as f: f.seek(100); b = f.read(1); f.seek(100); f.write(bytes([b[0] ^ 1]))
        cases.append((copy, name))
    for (copy, name), res in zip([c for c in cases for _ in (0, 1)], run_batch(*[a for c,_ in cases for a in (['predict', c, data], ['predict', c/ONNX, data])])):
        one_line_error(res, name, 'sha256')

def test_trust_pickle_only_without_safe_pair_and_after_its_hash(trained, tmp_path):
    d, data, out = trained
    copy = tmp_path/'m'; shutil.copytree(out, copy, ignore=shutil.ignore_patterns('data-*'))
    (copy/WEIGHTS).unlink()
    shutil.copytree(copy, tmp_path/'altered'); p = tmp_path/'altered'/PICKLE; p.write_bytes(p.read_bytes() + b'\0')
    no, yes, altered = run_batch(['predict', copy, data], ['predict', copy, data, '--trust-pickle'], ['predict', tmp_path/'altered', data, '--trust-pickle'])
    one_line_error(no, '--trust-pickle')
    assert yes.returncode == 0 and yes.stdout.count('\n') == 33, yes.stderr[-2000:]
    one_line_error(altered, PICKLE, 'sha256')

class Evil:
    "Unpickling this creates the file `path`"
    def __init__(self, path): self.path = path
    def __reduce__(self): return (open, (self.path, 'w'))

def test_malicious_pickle_writes_nothing_through_any_command(trained, tmp_path):
    import torch
    d, data, out = trained
    pwned = tmp_path/'pwned'
    bad = tmp_path/'bad'; bad.mkdir()
    torch.save(Evil(str(pwned)), bad/PICKLE) # a torch zip, as learn.export writes
    raw = tmp_path/'raw'; raw.mkdir(); (raw/PICKLE).write_bytes(pickle.dumps(Evil(str(pwned))))
    (raw/PICKLE).write_bytes(pickle.dumps(Evil(str(pwned))))
    hashed = tmp_path/'hashed'; shutil.copytree(out, hashed, ignore=shutil.ignore_patterns('data-*'))
    (hashed/WEIGHTS).unlink(); shutil.copy(bad/PICKLE, hashed/PICKLE) # config.json holds the real export's sha256
    plain = [argv for m in (bad, bad/PICKLE, raw) for argv in (['predict', m, data], ['evaluate', m, data, '--out', tmp_path/'r'],
                                                              ['clean', data, '--model', m, '--report', tmp_path/'s.csv'])]
    results = run_batch(*plain, ['predict', raw, data, '--trust-pickle'], ['predict', hashed, data, '--trust-pickle'],
                        ['evaluate', hashed, data, '--trust-pickle'], ['clean', data, '--model', hashed, '--trust-pickle'])
    for res in results[:6]: one_line_error(res, '--trust-pickle', 'pickle') # a torch zip, as learn.export writes: refused unopened
    for res in results[6:len(plain)]: one_line_error(res, 'is not a model') # a bare pickle is not a fastai export at all
    one_line_error(results[len(plain)], 'is not a model')
    for res in results[len(plain)+1:]: one_line_error(res, PICKLE, 'sha256')
    for m in (bad, raw):
        res = run_py(f"from transferkit.widget import Cleaner\nCleaner.from_export({str(m)!r}, {str(data)!r})")
        assert ('trust-pickle' if m == bad else 'not a model') in res.stderr.splitlines()[-1] and res.returncode == 1
    assert not pwned.exists() and not (tmp_path/'s.csv').exists() and not (tmp_path/'r').exists()
    res = run('predict', bad, data, '--trust-pickle') # trusted, it runs: the test's pickle really is malicious
    assert pwned.exists() and res.returncode == 2

def test_not_a_model_is_one_line(trained, tmp_path):
    import torch
    d, data, out = trained
    (tmp_path/'text.pkl').write_text('hello'); (tmp_path/'empty.pkl').write_bytes(b'')
    (tmp_path/'random.bin').write_bytes(os.urandom(4096)); torch.save({'w': torch.zeros(2)}, tmp_path/'weights.pth')
    names = ('text.pkl', 'empty.pkl', 'random.bin')
    res = run_batch(*[['predict', tmp_path/n, data, *t] for n in names for t in ([], ['--trust-pickle'])],
                    ['predict', tmp_path/'weights.pth', data], ['predict', tmp_path/'weights.pth', data, '--trust-pickle'],
                    ['predict', tmp_path/'nothing', data], ['evaluate', tmp_path/'text.pkl', data], ['clean', data, '--model', tmp_path/'random.bin'])
    for r in res[:6] + res[-2:]: one_line_error(r, 'not a model')
    one_line_error(res[6], '--trust-pickle'); one_line_error(res[7], 'not a fastai'); one_line_error(res[8], 'does not exist')

@on_latest
def test_onnx_predict_without_torch_or_fastai(trained, tmp_path):
    "The ONNX path imports onnxruntime, numpy and PIL only: torch, torchvision, fastai, fastcore, pandas and requests cannot be imported at all"
    d, data, out = trained
    ref = run('predict', out, data)
    assert ref.returncode == 0, ref.stderr[-2000:]
    for model in (out/ONNX, out):
        code = f"""import sys
BLOCKED = {{'torch', 'torchvision', 'fastai', 'fastcore', 'pandas', 'requests'}}
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in BLOCKED: raise ImportError(f'{{name}} is not installed here')
sys.meta_path.insert(0, Block())
from transferkit.cli import main
rc = main(['predict', {str(model)!r}, {str(data)!r}])
assert not BLOCKED & {{m.split('.')[0] for m in sys.modules}}, sorted(BLOCKED & set(sys.modules))
sys.exit(rc)"""
        res = run_py(code)
        assert res.returncode == 0, res.stderr[-2000:]
        a, b = [pd.read_csv(pd.io.common.StringIO(s)) for s in (ref.stdout, res.stdout)]
        assert (a.file == b.file).all() and (a.label == b.label).all()
        assert (a.probability - b.probability).abs().max() <= 1e-4

def test_onnx_external_data_outside_is_one_line(trained, tmp_path):
    "A model.onnx whose weights point at a file outside the folder (external data): onnxruntime refuses, and the refusal is one line"
    import onnx
    d, data, out = trained
    copy = tmp_path/'m'; shutil.copytree(out, copy, ignore=shutil.ignore_patterns('data-*'))
    (tmp_path/'outside.bin').write_bytes(b'\0' * 4096)
    m = onnx.load(copy/ONNX)
    t = max(m.graph.initializer, key=lambda t: len(t.raw_data))
    t.ClearField('raw_data'); t.data_location = onnx.TensorProto.EXTERNAL
    for k, v in [('location', '../outside.bin'), ('offset', '0'), ('length', '4096')]: t.external_data.add(key=k, value=v)
    (copy/ONNX).write_bytes(m.SerializeToString())
    cfg = json.loads((copy/CONFIG).read_text()); cfg['files'][ONNX] = hash_file(copy/ONNX); (copy/CONFIG).write_text(json.dumps(cfg))
    one_line_error(run('predict', copy/ONNX, data), 'cannot be loaded by onnxruntime', 'export-onnx')

@on_latest
def test_export_onnx_command(trained, tmp_path):
    d, data, out = trained
    copy = tmp_path/'m'; shutil.copytree(out, copy, ignore=shutil.ignore_patterns('data-*', ONNX))
    one_line_error(run('export-onnx', copy), '--images')
    res = run('export-onnx', copy, '--images', data)
    assert res.returncode == 0, res.stderr[-2000:]
    check_complete(copy)
    assert read_config(copy)['onnx']['checked_images'] == 16

def test_heads_model_opens_safely_with_onnx(trained, tmp_path):
    d, data, out = trained
    res = run('heads', data, '--out', tmp_path/'h', '--size', '32', '--no-pretrained', '--lr', '1e-2', '--hidden', '0,8', '--folds', '2', '--onnx')
    assert res.returncode == 0, res.stderr[-3000:]
    check_complete(tmp_path/'h')
    assert 'head_search.csv' in read_config(tmp_path/'h')['files']
    a, b = run('predict', tmp_path/'h', data), run('predict', tmp_path/'h'/ONNX, data)
    assert a.returncode == b.returncode == 0, (a.stderr[-2000:], b.stderr[-2000:])
    pa, pb = [pd.read_csv(pd.io.common.StringIO(r.stdout)) for r in (a, b)]
    assert (pa.label == pb.label).all() and (pa.probability - pb.probability).abs().max() <= 1e-4

@on_latest
def test_resize_matches_fastai_on_photos():
    "`fastai_resize` (PIL + numpy) gives fastai's validation pipeline's pixels, bit for bit"
    import skimage.data
    from fastai.vision.all import PILImage, Resize, PadMode
    photos = [skimage.data.astronaut(), skimage.data.coffee(), skimage.data.chelsea(), skimage.data.rocket()]
    for i, px in enumerate(photos):
        img = PILImage.create(px)
        for method in ('crop', 'pad', 'squish'):
            for size in (32, 224, (96, 160), (160, 96)):
                want = np.asarray(Resize(size, method=method, pad_mode=PadMode.Zeros)(img, split_idx=1))
                got = np.asarray(fastai_resize(Image.fromarray(px), size, method))
                assert want.shape == got.shape and (want == got).all(), (i, method, size)

def kill_trial(work, fault=None, delay=None, sig=signal.SIGKILL, seed=1):
    "Run `transferkit train` over the model in `work/out`, killed at swap step `fault` or `delay` s after its staging starts"
    env = dict(ENV, **({'TRANSFERKIT_FAULT_EXPORT': str(fault)} if fault else {}))
    p = subprocess.Popen([*CLI, 'train', str(work/'data'), '--out', str(work/'out'), *TRAIN, '--seed', str(seed)],
                         stdout=subprocess.DEVNULL, stderr=open(work/'stderr.txt', 'w'), env=env)
    if delay is not None:
        t0 = time.monotonic()
        while p.poll() is None and not list((work/'out').glob(f'{STAGING_PREFIX}{p.pid}')) and time.monotonic() - t0 < 600: time.sleep(0.01)
        time.sleep(delay)
        if p.poll() is None: p.send_signal(sig)
    return p.wait(timeout=600)

def _stock_loads(out):
    from fastai.learner import load_learner
    assert list(load_learner(out/PICKLE, cpu=True).dls.vocab) == ['dark', 'light']

def _kill_trials(trained, tmp_path, trials, workers=1):
    "Run `kill_trial(**t)` for each of `trials` over copies of the trained folder (`workers` copies in parallel); each leaves one complete set"
    from concurrent.futures import ThreadPoolExecutor
    d, data, out = trained
    def chain(k):
        work = tmp_path/f'w{k}'; shutil.copytree(data, work/'data'); shutil.copytree(out, work/'out', ignore=shutil.ignore_patterns('data-*'))
        seen, outcomes = {check_complete(work/'out')}, []
        for i, t in enumerate(trials[k::workers]):
            rc = kill_trial(work, seed=100 + k*1000 + i, **t)
            assert rc in (0, -9, 137, 130, -2), (t, rc, (work/'stderr.txt').read_text()[-1500:])
            digest = check_complete(work/'out'); _stock_loads(work/'out')
            outcomes.append((t, rc, 'old' if digest in seen else 'new')); seen.add(digest)
        return outcomes
    with ThreadPoolExecutor(workers) as ex: outcomes = [o for os_ in ex.map(chain, range(workers)) for o in os_]
    assert all(rc != 0 for t, rc, _ in outcomes if t.get('fault')), outcomes # the hook did kill
    return outcomes

def test_kill_during_export_leaves_a_complete_set(trained, tmp_path):
    "Two kill points (staging, mid-rename) and a SIGINT: old set or new set, never a mix"
    outcomes = _kill_trials(trained, tmp_path, [dict(fault=7), dict(fault=20), dict(delay=0.3, sig=signal.SIGINT)])
    assert [o[2] for o in outcomes[:2]] == ['old', 'new'], outcomes # before the marker: the old set; after it: rolled forward

@pytest.mark.slow
def test_kill_at_every_step_and_random_delays(trained, tmp_path):
    "Every durable step of the swap (13 files: 13 fsyncs, marker, 13 renames, end) and random SIGINT/SIGKILL delays"
    rng = random.Random(0)
    trials = [dict(fault=n) for n in range(1, 29)] + [dict(delay=rng.uniform(0, 2), sig=rng.choice([signal.SIGINT, signal.SIGKILL])) for _ in range(10)]
    outcomes = _kill_trials(trained, tmp_path, trials, workers=int(os.environ.get('TRANSFERKIT_KILL_WORKERS', '2')))
    assert all(o[2] == ('old' if o[0]['fault'] < 14 else 'new') for o in outcomes if 'fault' in o[0]), outcomes
    print('\n'.join(map(str, outcomes)))

def test_hostile_config_and_planted_marker_are_one_line(trained, tmp_path):
    "A config.json with hostile values, a huge one, one that is a link, and a planted swap marker: `predict` says so in one line and deletes nothing"
    d, data, out = trained
    good = json.loads((out/CONFIG).read_text())
    copy = tmp_path/'m'; shutil.copytree(out, copy, ignore=shutil.ignore_patterns('data-*'))
    cases = [(dict(head=dict(type='Linear', in_features=2**40, out_features=2, bias=True)), 'head'), (dict(vocab=['a'] * 3), 'n_out'),
             (dict(height=-1), 'height'), (dict(mean='0.5'), 'mean'), (dict(resize_method='squash'), 'resize_method'), (dict(dtype='float16'), 'dtype')]
    res = []
    for i, (change, key) in enumerate(cases):
        m = tmp_path/f'c{i}'; shutil.copytree(copy, m); (m/CONFIG).write_text(json.dumps(dict(good, **change)))
        res.append((['predict', m, data], key))
    big = tmp_path/'big'; shutil.copytree(copy, big); (big/CONFIG).write_text(json.dumps(dict(good, vocab=['x'] * 1_000_000)))
    link = tmp_path/'link'; shutil.copytree(copy, link); (tmp_path/'cfg.json').write_text(json.dumps(good)); (link/CONFIG).unlink(); os.symlink(tmp_path/'cfg.json', link/CONFIG)
    marker = tmp_path/'marker'; shutil.copytree(copy, marker)
    (marker/SWAP_MARKER).write_text(json.dumps(dict(pid=999999, staging=f'{STAGING_PREFIX}999999', files=[CONFIG], remove=[WEIGHTS, PICKLE])))
    res += [(['predict', big, data], 'over the'), (['predict', link, data], 'leads outside'), (['predict', marker, data], SWAP_MARKER)]
    for r, (argv, words) in zip(run_batch(*[a for a, _ in res]), res): one_line_error(r, words)
    assert (marker/WEIGHTS).is_file() and (marker/PICKLE).is_file() and (marker/SWAP_MARKER).is_file()

"`transferkit clean --apply/--undo` killed at every durable step and at random moments, in subprocesses of the installed command: the tree always comes back byte for byte"
import hashlib, json, os, random, shutil, signal, subprocess, sys, time
from pathlib import Path

import pandas as pd, pytest
from PIL import Image
pytestmark = pytest.mark.stackfree # the journal and moves: the standard library only: `./dev test-latest` leaves it out

CLI = [str(Path(sys.executable).parent/'transferkit')]  # the installed console script
ENV = dict(os.environ, TRANSFERKIT_OFFLINE='1', MPLBACKEND='Agg')
N_MOVES = 10
APPLY_STEPS = 2*N_MOVES + 4  # the check, the journal's begin line, a link and an unlink per move, the manifest, the end line
UNDO_STEPS = 2*N_MOVES + 3   # the `undoing` line, a link and an unlink per move, the manifest, the `undo` line
STATS = dict(trials=0, identical=0, mid_batch=0)

def cli(*args, env=None, timeout=120):
    return subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, timeout=timeout, env=dict(ENV, **(env or {})))

def start(*args, env=None):
    return subprocess.Popen([*CLI, *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(ENV, **(env or {})))

def listing(root):
    "{relative path: md5} of every file under `root` outside `.transferkit` (hidden temp files included)"
    root = Path(root)
    return {p.relative_to(root).as_posix(): hashlib.md5(p.read_bytes()).hexdigest() for p in sorted(root.rglob('*'))
            if p.is_file() and '.transferkit' not in p.relative_to(root).parts}

def trash(root):
    "{path in the trash: md5}"
    return listing(Path(root)/'.transferkit'/'trash') if (Path(root)/'.transferkit'/'trash').exists() else {}

def batch_states(root):
    "The last state of each batch in the journal"
    path, out = Path(root)/'.transferkit'/'journal.jsonl', {}
    for line in (path.read_text().splitlines() if path.exists() else []):
        try: r = json.loads(line)
        except json.JSONDecodeError: continue
        if 'undo' in r: out[r['undo']] = 'undone'
        elif 'state' in r: out[r['batch']] = r['state']
    return out

def one_line_error(res, *parts, lines=1):
    "Exit 2 with `transferkit clean: error: ...` (one line, or a first line and the list of bad rows), no traceback"
    assert res.returncode == 2, (res.returncode, res.stdout, res.stderr)
    assert 'Traceback' not in res.stderr and res.stderr.startswith('transferkit clean: error: '), res.stderr
    assert lines is None or len(res.stderr.strip().splitlines()) == lines, res.stderr
    for p in parts: assert p in res.stderr, (p, res.stderr)

@pytest.fixture(scope='module')
def world(tmp_path_factory):
    "A fetched data folder (with its manifest), decisions of 10 moves, and the tree after one clean apply"
    base = tmp_path_factory.mktemp('faults')
    rng = random.Random(0)
    for label in ['cat', 'dog', 'bird']:
        (base/'src'/label).mkdir(parents=True)
        for i in range(6): Image.frombytes('RGB', (8, 8), rng.randbytes(8*8*3)).save(base/'src'/label/f'{i}.png')
    res = cli('fetch', base/'src', '--dest', base/'template')
    assert res.returncode == 0, res.stderr
    t = base/'template'
    files = {l: sorted(p.relative_to(t).as_posix() for p in (t/l).iterdir()) for l in ['cat', 'dog', 'bird']}
    shutil.copy(t/files['bird'][3], t/'dog'/Path(files['cat'][2]).name) # relabelling cat[2] into dog/ finds its name taken
    rows = [(files['cat'][0], 'delete', ''), (files['cat'][1], 'delete', ''), (files['dog'][0], 'delete', ''), (files['bird'][0], 'delete', ''),
            (files['cat'][2], 'relabel', 'dog'), (files['cat'][3], 'relabel', 'bird'), (files['dog'][1], 'relabel', 'cat'),
            (files['dog'][2], 'relabel', 'fish'), (files['bird'][1], 'relabel', 'cat'), (files['bird'][2], 'relabel', 'dog'),
            (files['cat'][4], 'keep', ''), (files['dog'][3], '', '')]
    pd.DataFrame(rows, columns=['file', 'action', 'new_label']).to_csv(base/'decisions.csv', index=False)
    before = listing(t)
    assert 'manifest.csv' in before and len(before) == 3*6 + 2
    ref = base/'reference'; shutil.copytree(t, ref)
    t0 = time.monotonic(); res = cli('clean', ref, '--apply', base/'decisions.csv', '--allow-new-labels'); took = time.monotonic() - t0
    assert res.returncode == 0 and f'Applied {N_MOVES} change(s)' in res.stdout, res.stderr
    assert any(p.name.endswith('~1.png') for p in (ref/'dog').iterdir())
    applied = {f: h for f, h in listing(ref).items() if f != 'manifest.csv'}
    manifest = lambda root: sorted(pd.read_csv(Path(root)/'manifest.csv', dtype=str, keep_default_na=False)[['origin', 'file', 'status']].itertuples(index=False))
    return dict(base=base, template=t, csv=base/'decisions.csv', before=before, applied=applied, applied_trash=trash(ref),
                manifest=manifest, applied_manifest=manifest(ref), apply_seconds=took, n=0)

def fresh(world):
    world['n'] += 1
    data = world['base']/f"t{world['n']}"
    shutil.copytree(world['template'], data)
    return data

def apply(world, data, **env): return cli('clean', data, '--apply', world['csv'], '--allow-new-labels', env=env)

def assert_restored(world, data):
    "The tree as it was, byte for byte (the manifest too), nothing in the trash, no new label folder left behind"
    assert listing(data) == world['before']
    assert trash(data) == {}
    assert not (data/'fish').exists()

def assert_applied_once(world, data):
    "Every decision done exactly once: the reference apply's tree, trash and manifest"
    assert {f: h for f, h in listing(data).items() if f != 'manifest.csv'} == world['applied']
    assert trash(data) == world['applied_trash']
    assert world['manifest'](data) == world['applied_manifest']

def killed_apply(world, data, k):
    res = apply(world, data, TRANSFERKIT_FAULT_AFTER=str(k))
    assert res.returncode == -signal.SIGKILL, (k, res.returncode, res.stderr)
    STATS['mid_batch'] += 'begun' in batch_states(data).values()
    return res

def undo_after(world, data, k):
    "Undo after an apply killed after step `k`: the tree exactly as before"
    res = cli('clean', data, '--undo')
    if k == 1: one_line_error(res, 'Nothing to undo') # killed after the check, before the journal: nothing to roll back
    else: assert res.returncode == 0 and 'Undid' in res.stdout, (k, res.stdout, res.stderr)
    assert_restored(world, data)

def reapply_after(world, data, k):
    "The same decisions again after an apply killed after step `k`: each done once; then undo restores the tree"
    res = apply(world, data)
    if k == APPLY_STEPS: one_line_error(res, f'{N_MOVES} bad decision(s)', 'no such file', lines=None) # the batch had ended: already done
    else: assert res.returncode == 0 and f'Applied {N_MOVES} change(s)' in res.stdout, (k, res.stdout, res.stderr)
    assert_applied_once(world, data)
    res = cli('clean', data, '--undo')
    assert res.returncode == 0, res.stderr
    assert_restored(world, data)

def trial(fn, *args):
    STATS['trials'] += 1
    fn(*args)
    STATS['identical'] += 1

# --- the default (CI) set: every kind of step (the check, the begin line, the link and the unlink of the first, a middle
# and the last move, the manifest, the end line), then undo; the same decisions again after the headline kills; a few steps of an undo

CI_POINTS = [1, 2, 3, 4, 11, 12, 2*N_MOVES + 1, 2*N_MOVES + 2, APPLY_STEPS - 1, APPLY_STEPS]
CI_REAPPLY = [3, 12, APPLY_STEPS - 1]

@pytest.mark.parametrize('k', CI_POINTS)
def test_apply_killed_at_step_then_undo(world, k):
    data = fresh(world)
    killed_apply(world, data, k)
    trial(undo_after, world, data, k)

@pytest.mark.parametrize('k', CI_REAPPLY)
def test_apply_killed_at_step_then_applied_again(world, k):
    data = fresh(world)
    killed_apply(world, data, k)
    trial(reapply_after, world, data, k)

@pytest.mark.parametrize('k', [1, 3, UNDO_STEPS - 1])
def test_undo_killed_at_step(world, k):
    data = fresh(world)
    assert apply(world, data).returncode == 0
    res = cli('clean', data, '--undo', env=dict(TRANSFERKIT_FAULT_AFTER=str(k)))
    assert res.returncode == -signal.SIGKILL, res.stderr
    res = cli('clean', data, '--undo') # finishes the interrupted undo
    if k == UNDO_STEPS: one_line_error(res, 'Nothing to undo') # killed after the undo's end line: it was complete
    else: assert res.returncode == 0 and 'Undid' in res.stdout, res.stderr
    STATS['trials'] += 1; assert_restored(world, data); STATS['identical'] += 1

def test_second_apply_while_one_is_at_work_is_busy(world):
    data = fresh(world)
    a = start('clean', data, '--apply', world['csv'], '--allow-new-labels', env=dict(TRANSFERKIT_FAULT_AFTER='3', TRANSFERKIT_FAULT_SIGNAL='STOP'))
    try:
        deadline = time.monotonic() + 60 # a freezes itself after its first link, holding the lock
        while Path(f'/proc/{a.pid}/stat').read_text().split(') ')[1][0] != 'T':
            assert a.poll() is None and time.monotonic() < deadline, a.communicate()
            time.sleep(0.02)
        for args in [('--apply', world['csv'], '--allow-new-labels'), ('--undo',)]:
            res = cli('clean', data, *args)
            one_line_error(res, f"{data} is busy: another `transferkit clean` is applying or undoing there (pid {a.pid}); wait for it to finish")
    finally: a.send_signal(signal.SIGCONT)
    out, err = a.communicate(timeout=60)
    assert a.returncode == 0 and f'Applied {N_MOVES} change(s)' in out, err
    assert_applied_once(world, data)

def test_two_applies_at_once_do_the_work_once(world):
    for _ in range(2):
        data = fresh(world)
        procs = [start('clean', data, '--apply', world['csv'], '--allow-new-labels') for _ in range(2)]
        res = [(p, *p.communicate(timeout=60)) for p in procs]
        assert sorted(p.returncode for p, *_ in res) == [0, 2], [(p.returncode, e) for p, _, e in res]
        loser = next(e for p, _, e in res if p.returncode == 2) # busy, or (started after the other had finished) every file already moved
        assert 'Traceback' not in loser and loser.startswith('transferkit clean: error: '), loser
        assert ('is busy' in loser and len(loser.strip().splitlines()) == 1) or f'{N_MOVES} bad decision(s)' in loser, loser
        assert_applied_once(world, data)

def test_undo_with_nothing_to_undo(world):
    data = fresh(world)
    one_line_error(cli('clean', data, '--undo'), 'Nothing to undo under')
    assert not (data/'.transferkit').exists() and listing(data) == world['before']

def test_apply_and_undo_do_not_load_torch(world):
    data = fresh(world)
    code = ("import sys; from transferkit.cli import main\n"
            f"assert main(['clean', {str(data)!r}, '--apply', {str(world['csv'])!r}, '--allow-new-labels']) == 0\n"
            f"assert main(['clean', {str(data)!r}, '--undo']) == 0\n"
            "print(sorted(m for m in ('torch', 'fastai', 'torchvision') if m in sys.modules))")
    res = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, env=ENV, timeout=120)
    assert res.returncode == 0 and res.stdout.strip().splitlines()[-1] == '[]', (res.stdout, res.stderr)
    assert_restored(world, data)

# --- the slow set: every other step of an apply in both directions, every step of an undo, kills during recovery, and kill -9 at random moments

@pytest.mark.slow
@pytest.mark.parametrize('k', [k for k in range(1, APPLY_STEPS + 1) if k not in CI_POINTS])
def test_apply_killed_at_step_then_undo_slow(world, k): test_apply_killed_at_step_then_undo(world, k)

@pytest.mark.slow
@pytest.mark.parametrize('k', [k for k in range(1, APPLY_STEPS + 1) if k not in CI_REAPPLY])
def test_apply_killed_at_step_then_applied_again_slow(world, k): test_apply_killed_at_step_then_applied_again(world, k)

@pytest.mark.slow
@pytest.mark.parametrize('k', [k for k in range(1, UNDO_STEPS + 1) if k not in (1, 3, UNDO_STEPS - 1)])
def test_undo_killed_at_step_slow(world, k):
    test_undo_killed_at_step(world, k)

@pytest.mark.slow
@pytest.mark.parametrize('k', [2, 5, 12, 20, APPLY_STEPS - 1])
def test_recovery_killed_too(world, k):
    "An apply killed after step k, then the apply that rolls it back killed as well: the third run still does each decision once"
    data = fresh(world)
    killed_apply(world, data, k)
    res = apply(world, data, TRANSFERKIT_FAULT_AFTER='3') # dies in the middle of rolling back
    assert res.returncode == -signal.SIGKILL, res.stderr
    trial(reapply_after, world, data, k)

@pytest.mark.slow
@pytest.mark.parametrize('seed', range(30))
def test_apply_killed_at_random_moment(world, seed):
    "kill -9 after a random delay: half anywhere in the run, half within ~20 ms of the journal's begin line (in the moves)"
    rng, data = random.Random(seed), fresh(world)
    p = start('clean', data, '--apply', world['csv'], '--allow-new-labels')
    if seed % 2: time.sleep(rng.uniform(0, 1.2*world['apply_seconds']))
    else:
        journal, deadline = data/'.transferkit'/'journal.jsonl', time.monotonic() + 60
        while not journal.exists() and p.poll() is None and time.monotonic() < deadline: time.sleep(0.0005)
        time.sleep(rng.uniform(0, 0.02))
    if p.poll() is None: os.kill(p.pid, signal.SIGKILL)
    p.communicate(timeout=60)
    states = batch_states(data)
    STATS['mid_batch'] += 'begun' in states.values()
    if not states: k = 1           # killed before the begin line
    elif p.returncode == 0 or 'done' in states.values(): k = APPLY_STEPS # finished before the kill landed
    else: k = 2                    # somewhere inside the batch
    trial(undo_after if rng.random() < 0.5 else reapply_after, world, data, k)

def test_zz_report_stats():
    "Prints the trial counts of this run (pytest -s)"
    print(f"\nclean fault trials: {STATS['trials']} run, {STATS['identical']} recovered byte-identical, {STATS['mid_batch']} killed mid-batch")
    assert STATS['identical'] == STATS['trials']

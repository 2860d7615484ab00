"""Two processes × one thread (`transferkit train --processes 2`, gloo) against one process × two threads, on this CPU.

Both sides are whole `transferkit train` processes on the same folder, from scratch, at the same global batch (one
process at --bs 2B, two at B each) and the same epochs; each side has its own output folder (and so its own ingest).
Reports the training images per second (every process's share, over the training seconds of rank 0's record), the
wall time of the whole command (interpreter, imports, launch, ingest, training, export) and the validation accuracy.

    python bench/distributed_cpu.py [--per-class 200] [--size 32] [--epochs 2] [--bs 16] [--out bench/out/distributed_cpu]

`--parity SEEDS` compares accuracy instead: for each seed, one process at --bs 2B and two at B each (1 thread a process,
one after the other), and prints the pairs, their means and the paired differences (the study of issue 24: 300 images
a class at 8 px, 2 epochs, `--per-class 300 --size 8 --bs 8 --parity 0,1,2`).
"""
import argparse, json, os, subprocess, sys, time
from pathlib import Path

import numpy as np
from PIL import Image

def make_data(root:Path, per_class:int, size:int):
    "Noise photos tinted red, green or blue: `per_class` of each, `size` px"
    rng = np.random.default_rng(0)
    for label, tint in (('red', (40, 0, 0)), ('green', (0, 40, 0)), ('blue', (0, 0, 40))):
        (root/label).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            f = root/label/f'{i}.png'
            if not f.exists(): Image.fromarray(np.clip(rng.integers(0, 216, (size, size, 3)) + tint, 0, 255).astype(np.uint8)).save(f)

def run_side(name:str, data:Path, out:Path, threads:int, processes:int, args) -> dict:
    "One `transferkit train` process; its wall time and what its training.json and report.json say"
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), TRANSFERKIT_OFFLINE='1', MPLBACKEND='Agg')
    cmd = [sys.executable, '-m', 'transferkit', 'train', str(data), '--out', str(out), '--no-pretrained', '--size', str(args.size),
           '--epochs', str(args.epochs), '--bs', str(args.bs * 2 // processes), '--processes', str(processes)]
    t = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t
    if res.returncode: sys.exit(f"{name} failed ({res.returncode}): {res.stderr[-2000:]}")
    rec, rep = (json.loads((out/f).read_text()) for f in ('training.json', 'report.json'))
    images = sum(r['train_images'] for r in rec['epochs']) * rec.get('processes', 1)
    seconds = sum(r['train_seconds'] for r in rec['epochs'])
    return dict(side=name, processes=processes, threads=threads, global_bs=rec.get('global_bs', rec['bs']), img_s=round(images / seconds, 1),
                train_seconds=round(seconds, 1), wall_seconds=round(wall, 1), accuracy=round(rep['accuracy'], 4))

def parity(data:Path, root:Path, seeds:list, args) -> dict:
    "Accuracy of one process at the global batch against two processes, one pair a seed; the pairs and their summary"
    import shutil
    pairs = []
    for seed in seeds:
        pair = []
        for processes in (1, 2):
            out = root/f'parity-{processes}'
            if out.exists(): shutil.rmtree(out) # each run trains from the same start: its own ingest, no earlier model
            env = dict(os.environ, OMP_NUM_THREADS='1', TRANSFERKIT_OFFLINE='1', MPLBACKEND='Agg')
            cmd = [sys.executable, '-m', 'transferkit', 'train', str(data), '--out', str(out), '--no-pretrained', '--size', str(args.size),
                   '--epochs', str(args.epochs), '--bs', str(args.bs * 2 // processes), '--processes', str(processes), '--seed', str(seed)]
            res = subprocess.run(cmd, capture_output=True, text=True, env=env)
            if res.returncode: sys.exit(f"seed {seed}, {processes} process(es) failed ({res.returncode}): {res.stderr[-2000:]}")
            pair.append(json.loads((out/'report.json').read_text())['accuracy'])
        pairs.append(pair); print(json.dumps(dict(seed=seed, one=pair[0], two=pair[1])), flush=True)
    one, two = np.array(pairs).T
    d = two - one
    return dict(seeds=seeds, pairs=pairs, one_mean=round(float(one.mean()), 4), two_mean=round(float(two.mean()), 4),
                diff_mean=round(float(d.mean()), 4), diff_sd=round(float(d.std(ddof=1)), 4) if len(d) > 1 else None)

if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--per-class', type=int, default=200); p.add_argument('--size', type=int, default=32)
    p.add_argument('--epochs', type=int, default=2); p.add_argument('--bs', type=int, default=16, help='the batch of one of the two processes')
    p.add_argument('--parity', help='comma-separated seeds: compare the accuracy of 1 and 2 processes instead of the speed')
    p.add_argument('--out', default='bench/out/distributed_cpu')
    a = p.parse_args()
    root = Path(a.out); data = root/f'data-{a.per_class}x{a.size}'
    make_data(data, a.per_class, a.size)
    if a.parity:
        res = parity(data, root, [int(s) for s in a.parity.split(',')], a)
        print(json.dumps(res))
        (root/'parity.json.part').write_text(json.dumps(res, indent=1)); (root/'parity.json.part').replace(root/'parity.json')
        sys.exit(0)
    rows = [run_side('1 process x 2 threads', data, root/'one', 2, 1, a), run_side('2 processes x 1 thread', data, root/'two', 1, 2, a)]
    for r in rows: print(json.dumps(r))
    print(f"2 processes / 1 process, training img/s: {rows[1]['img_s'] / rows[0]['img_s']:.2f}x; whole command: {rows[1]['wall_seconds'] / rows[0]['wall_seconds']:.2f}x the time")
    (root/'result.json.part').write_text(json.dumps(rows, indent=1)); (root/'result.json.part').replace(root/'result.json')

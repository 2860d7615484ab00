"""The fastai course's per-image `learn.predict` loop vs `transferkit predict` (PyTorch) vs `transferkit predict model.onnx`
(onnxruntime, PIL and numpy), on the same full-size JPEG photos, in one run.

Each way is timed as the whole process the user waits for (start-up and model loading included), --repeats times,
and reported as the median wall time, images/s and the ratio to the loop. The model is trained once beforehand
(from scratch, offline), on other photos of the same three classes, with `transferkit train --onnx`; the three ways
must agree on every label (and on the probabilities within 1e-4).

The photos are train_vs_stock's: crops of three photos bundled with scikit-image (a cat, coffee, a rocket),
jittered and written as 1024x768 JPEGs.

    ./dev bench predict_vs_stock [--n 500] [--size 128] [--repeats 3]
"""
import argparse, json, os, statistics, subprocess, sys, tempfile, time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from train_vs_stock import make_photos

STOCK = '''
import sys
from fastai.vision.all import *
learn = load_learner(Path(sys.argv[1])/'export.pkl')
rows = ['file,label,probability']
for f in sorted(get_image_files(sys.argv[2])):
    label, i, probs = learn.predict(f)
    rows.append(f'{f},{label},{float(probs[i]):.6f}')
Path(sys.argv[3]).write_text('\\n'.join(rows) + '\\n')
'''

def timed(cmd, env=None) -> float:
    "Wall seconds of the process `cmd`"
    t = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if res.returncode: sys.exit(f"{' '.join(map(str, cmd))} failed:\n{res.stderr[-3000:]}")
    return time.perf_counter() - t

def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--n', type=int, default=500, help='photos to predict'); p.add_argument('--size', type=int, default=128)
    p.add_argument('--train-per-class', type=int, default=30); p.add_argument('--epochs', type=int, default=3)
    p.add_argument('--repeats', type=int, default=3); p.add_argument('--work', help='folder to keep the data in (default: a temp folder)')
    a = p.parse_args()
    import pandas as pd
    env = dict(os.environ, TRANSFERKIT_OFFLINE='1', MPLBACKEND='Agg')
    tk = str(Path(sys.executable).parent/'transferkit')
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(a.work or tmp); work.mkdir(parents=True, exist_ok=True)
        photos, train, model = work/'photos', work/'train', work/'model'
        if not photos.exists(): make_photos(photos, -(-a.n // 3), seed=10)
        files = sorted(photos.rglob('*.jpg'))
        for f in files[a.n:]: f.unlink() # exactly --n photos
        if not train.exists(): make_photos(train, a.train_per_class, seed=11)
        if not (model/'model.onnx').exists():
            timed([tk, 'train', train, '--out', model, '--size', str(a.size), '--epochs', str(a.epochs), '--no-pretrained', '--onnx'], env)
        ways = {'stock learn.predict loop': lambda out: [sys.executable, '-c', STOCK, model, photos, out],
                'transferkit predict (PyTorch)': lambda out: [tk, 'predict', model, photos, '--csv', out],
                'transferkit predict model.onnx': lambda out: [tk, 'predict', model/'model.onnx', photos, '--csv', out]}
        load = [os.getloadavg()[0]]
        times = {k: [] for k in ways}
        for r in range(a.repeats): # interleaved, so that a burst of load on the shared machine hits every way alike
            for k, cmd in ways.items(): times[k].append(timed(cmd(work/f'{k.split()[-1].strip("()")}.csv'), env))
            load.append(os.getloadavg()[0])
        preds = {k: pd.read_csv(work/f'{k.split()[-1].strip("()")}.csv').assign(file=lambda d: d.file.map(lambda f: Path(f).name)).set_index('file').sort_index() for k in ways}
        ref = preds['stock learn.predict loop']
        n = len(ref)
        print(f"{n} photos of 1024x768, model {a.size}px resnet18 ({', '.join(json.loads((model/'config.json').read_text())['vocab'])}); "
              f"median of {a.repeats} runs; load average (1 min) during the runs: {min(load):.1f}-{max(load):.1f} on {os.cpu_count()} CPUs\n")
        print('| way | wall s (median) | runs | img/s | vs loop | labels = loop | max prob diff |\n|---|---|---|---|---|---|---|')
        base = statistics.median(times['stock learn.predict loop'])
        for k, ts in times.items():
            med = statistics.median(ts); d = preds[k]
            agree = float((d.label.astype(str) == ref.label.astype(str)).mean()); diff = float((d.probability - ref.probability).abs().max())
            print(f"| {k} | {med:.1f} | {', '.join(f'{t:.1f}' for t in ts)} | {n/med:.1f} | {base/med:.2f}x | {agree:.3f} | {diff:.1e} |")

if __name__ == '__main__': main()

"""Label-noise ranking at defaults: how many planted mislabels the cleaner's first suspects hold, on full-size photos.

The data: `accuracy_vs_stock.py`'s full-size photo sets (1024x768 JPEGs, 100 a class, a fixed train/valid split) with
--noise of the images moved into a random other label's folder of the same split (seeded). A model is trained the way
a user trains it, `train_folder` at its defaults (128 px, 4 epochs, the batch-size rule), from scratch or from the
proxy-pretrained start of `accuracy_vs_stock.py` (--weights, or pretrained here). Then every image of the noisy folder
is ranked, and two numbers say how well: recall@3n (share of the n planted errors among the first 3n suspects, the
issue's goal: >= 0.75) and precision@n.

Rankings, all from the one trained model:
- fastai loss order: `ImageClassifierCleaner`'s, the model's loss on every image (in-sample for the training images);
- transferkit default: `find_suspects(learn=...)`, what `transferkit clean DATA --model M` reports: the confident-learning
  score on out-of-fold heads over the model's body features (out-of-sample probabilities for every image; the default
  since 2026-12-07);
- transferkit model probs: `find_suspects(learn=..., out_of_fold=False)`, the same score on the model's own
  probabilities (in-sample for the training images; the default before);
- cleanlab on the same out-of-fold probabilities: `cleanlab.filter.find_label_issues(..., return_indices_ranked_by=
  'self_confidence')` (its flagged images, ranked), and on the model's own probabilities.

    python -u bench/label_noise.py [--sets surfaces,objects,scenes] [--seeds 3] [--starts scratch,pretrained] [--noise 0.03]
"""
import argparse, json, math, shutil, statistics, sys, tempfile, time
from pathlib import Path
sys.path.insert(0, str(Path(__file__).parent))
from accuracy_vs_stock import SETS, FULL_SIZE, pretrain_weights

METHODS = ('fastai loss order', 'transferkit default', 'transferkit model probs', 'cleanlab, out-of-fold probs', 'cleanlab, model probs')

def plant(data, noise, rng):
    "Move `noise` of the images under `data/{train,valid}/LABEL` into another label's folder of the same split; the moved files, relative"
    from transferkit.core import image_files
    files = sorted(image_files(data)); labels = sorted({f.parent.name for f in files})
    planted = []
    for i in rng.choice(len(files), max(1, round(noise*len(files))), replace=False):
        f = files[i]; new = rng.choice([l for l in labels if l != f.parent.name])
        dest = f.parent.parent/new/f'{f.parent.name}-{f.name}' # a new name: the sets number each label's files alike
        shutil.move(f, dest); planted.append(dest.relative_to(data).as_posix())
    return planted

def rankings(data, learn):
    "Every method's ranking of the images under `data`, most suspect first (relative paths)"
    import numpy as np
    from cleanlab.filter import find_label_issues
    from transferkit.scoring import find_suspects, folder_items, model_probs, learner_features
    from transferkit.features import cross_val_probs
    items = folder_items(data); files = [data/f for f in items.file]
    vocab = [str(v) for v in learn.dls.vocab]; y = np.array([vocab.index(l) for l in items.label])
    probs = model_probs(learn, files, 64)
    oof = cross_val_probs(learner_features(learn, files, 64), y, len(vocab), k=5, seed=42)
    loss = -np.log(np.clip(probs[np.arange(len(y)), y], 1e-7, 1))
    out = {'fastai loss order': items.file[np.argsort(-loss, kind='stable')].tolist()}
    out['transferkit default'] = find_suspects(data, learn=learn, all=True).file.tolist()
    out['transferkit model probs'] = find_suspects(data, learn=learn, out_of_fold=False, all=True).file.tolist()
    for name, p in [('cleanlab, out-of-fold probs', oof), ('cleanlab, model probs', probs)]:
        out[name] = items.file[find_label_issues(y, p, return_indices_ranked_by='self_confidence')].tolist()
    return out

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--sets', default=','.join(FULL_SIZE)); ap.add_argument('--seeds', type=int, default=3)
    ap.add_argument('--per-class', type=int, default=100); ap.add_argument('--noise', type=float, default=0.03)
    ap.add_argument('--starts', default='scratch,pretrained')
    ap.add_argument('--size', type=int, default=128, help="train_folder's default"); ap.add_argument('--epochs', type=int, default=4, help="train_folder's default")
    ap.add_argument('--weights', help='the proxy-pretrained state dict of an earlier accuracy_vs_stock run (skips pretraining)')
    ap.add_argument('--out', default='bench/out/label_noise.json')
    a = ap.parse_args()
    import numpy as np
    from transferkit.pipeline import train_folder
    rows, t_all = [], time.perf_counter()
    with tempfile.TemporaryDirectory() as d:
        d = Path(d); weights = a.weights
        if 'pretrained' in a.starts and not weights:
            weights = d/'proxy.pth'; t = time.perf_counter()
            print(f'pretrained on the proxy task: valid accuracy {pretrain_weights(d, weights, 64, 6, per_class=40):.3f}, {time.perf_counter()-t:.0f} s', flush=True)
        for name in a.sets.split(','):
            for seed in range(a.seeds):
                for start in a.starts.split(','):
                    data = d/f'{name}-{seed}-{start}'; SETS[name](data, a.per_class, seed)
                    planted = set(plant(data, a.noise, np.random.default_rng(1000 + seed))); n = len(planted)
                    t = time.perf_counter()
                    res = train_folder(data, d/'out', size=a.size, epochs=a.epochs, seed=seed, progress=False,
                                       pretrained=start == 'pretrained', weights=weights if start == 'pretrained' else None)
                    train_s = time.perf_counter() - t
                    ranked = rankings(data, res['learn'])
                    row = dict(set=name, seed=seed, start=start, planted=n, images=sum(1 for _ in data.rglob('*.jpg')),
                               valid_accuracy=res['accuracy'], bs=res['record']['bs'], train_seconds=round(train_s, 1),
                               recall_at_3n={m: sum(f in planted for f in r[:3*n])/n for m, r in ranked.items()},
                               precision_at_n={m: sum(f in planted for f in r[:n])/n for m, r in ranked.items()},
                               flagged={m: len(r) for m, r in ranked.items()})
                    rows.append(row); print(json.dumps(row), flush=True)
                    shutil.rmtree(d/'out'); shutil.rmtree(data)
                    Path(a.out).parent.mkdir(parents=True, exist_ok=True); Path(a.out).write_text(json.dumps(dict(settings=vars(a), rows=rows), indent=1))
    print(f'\n{time.perf_counter()-t_all:.0f} s in all; recall@3n (planted mislabels among the first 3n suspects), mean ± standard error over seeds')
    print(f"{'set':10}{'start':12}{'accuracy':>10}" + ''.join(f'{m:>30}' for m in METHODS))
    for name in a.sets.split(','):
        for start in a.starts.split(','):
            rs = [r for r in rows if r['set'] == name and r['start'] == start]
            ms = lambda v: f"{statistics.mean(v):.2f}±{(statistics.stdev(v)/math.sqrt(len(v)) if len(v) > 1 else 0):.2f}"
            print(f"{name:10}{start:12}{ms([r['valid_accuracy'] for r in rs]):>10}" + ''.join(f"{ms([r['recall_at_3n'][m] for r in rs]):>30}" for m in METHODS))

if __name__ == '__main__': main()

"""Label-noise ranking: precision@k of transferkit's suspects vs fastai's plain loss ordering, on planted noise.

The data: scikit-learn's digits (as in the demo), with --noise of the images moved into a random other label's
folder (seeded). A resnet18 is trained on the noisy folder (from scratch, as the demo does: offline there are no
ImageNet weights). Then every image is ranked, and precision@k (k = number of planted errors) says what share of
the top k are planted:

- fastai: `ImageClassifierCleaner`'s order, the trained learner's loss on each image (train and valid together);
- transferkit, model probabilities: `find_suspects(learn=...)` (the default), the confident-learning score on the
  learner's own probabilities;
- transferkit, learner features: `find_suspects(learn=..., out_of_fold=True)`, the score on out-of-fold heads over
  the learner's body features;
- transferkit, cache: `find_suspects(cache=...)`, the score on out-of-fold heads over cached features of a
  pretrained body (a random body offline, or --weights FILE for resnet18 weights).

    ./dev bench label_noise [--noise 0.1] [--epochs 6] [--weights resnet18.pth]
"""
import argparse, json, shutil, tempfile, time
from pathlib import Path

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--noise', type=float, default=0.1); ap.add_argument('--epochs', type=int, default=6)
    ap.add_argument('--size', type=int, default=32); ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--weights', help='pretrained resnet18 state dict for the feature cache (default: random body)')
    ap.add_argument('--out', default=None, help='default: bench/out/label_noise-<epochs>ep.json')
    a = ap.parse_args()
    import numpy as np
    from transferkit.core import image_files
    from transferkit.pipeline import make_digits
    from transferkit.data import get_dls
    from transferkit.learner import train_model
    from transferkit.features import FeatureCache
    from transferkit.scoring import find_suspects, folder_items
    rng = np.random.default_rng(a.seed)
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        data, _ = make_digits(d/'digits', size=a.size, holdout=0)
        files = image_files(data); labels = sorted({f.parent.name for f in files})
        flip = rng.choice(len(files), int(a.noise * len(files)), replace=False)
        planted = set()
        for i in flip:
            f = files[i]; new = rng.choice([l for l in labels if l != f.parent.name])
            shutil.move(f, data/new/f.name); planted.add(f'{new}/{f.name}')
        k = len(planted)
        t = time.perf_counter()
        learn, _ = train_model(get_dls(data, size=a.size, aug=dict(do_flip=False, max_rotate=10.)), epochs=a.epochs, pretrained=False, progress=False)
        train_s = time.perf_counter() - t
        items = folder_items(data)
        # fastai's cleaner: the loss of the trained learner on every image, highest first
        dl = learn.dls.test_dl([data/f for f in items.file], with_labels=True, num_workers=0)
        with learn.no_bar():
            _, _, losses = learn.get_preds(dl=dl, with_loss=True)
            valid_acc = float(learn.validate()[1])
        by_loss = items.file[np.argsort(-losses.numpy(), kind='stable')].tolist()
        prec = lambda ranked: sum(f in planted for f in ranked[:k]) / k
        res = dict(images=len(files), planted=k, noise=a.noise, epochs=a.epochs, size=a.size, train_seconds=round(train_s, 1),
                   valid_accuracy_on_noisy_labels=valid_acc, pretrained_features=a.weights is not None,
                   precision_at_k={'fastai loss order': prec(by_loss)}, seconds={})
        cache = FeatureCache(d/'cache', pretrained=a.weights is not None, weights=a.weights, size=a.size)
        for name, kw in [('transferkit, model probabilities (default)', dict(learn=learn)),
                         ('transferkit, out-of-fold on the learner features', dict(learn=learn, out_of_fold=True)),
                         ('transferkit, out-of-fold on cached features', dict(cache=cache))]:
            t = time.perf_counter()
            sus = find_suspects(data, all=True, **kw)
            res['seconds'][name] = round(time.perf_counter() - t, 1)
            res['precision_at_k'][name] = prec(sus.file.tolist())
    out = Path(a.out or f'bench/out/label_noise-{a.epochs}ep.json')
    out.parent.mkdir(parents=True, exist_ok=True); out.write_text(json.dumps(res, indent=1))
    print(json.dumps(res, indent=1))

if __name__ == '__main__': main()

"""20-configuration head search on cached features vs 20 `fine_tune` runs, on the same photos, in one run.

Both sides see the same resized copy of the photos (shorter side = --size), the same seeded split and the same
grid size (20). Feature side: a cold `FeatureCache` (every image through the body once), then `search_heads`
(k-fold on the training split) and a final fit of the best head, scored on the validation split; the time of a
warm re-run (all features cached) is reported too. Fine-tune side: `train_model` for each of 20 configurations
(5 learning rates x 2 epoch counts x 2 weight decays), scored on the same validation split.

Offline there are no ImageNet weights, so both sides start from the same random body unless --weights FILE is
given; the accuracies then say little about what pretrained features reach, the wall-time ratio is unaffected.

    ./dev bench heads_vs_finetune [--per-class 60] [--size 64] [--weights resnet18.pth]
"""
import argparse, itertools, json, sys, tempfile, time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from train_vs_stock import make_photos

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--per-class', type=int, default=60); ap.add_argument('--size', type=int, default=64)
    ap.add_argument('--weights', help='pretrained resnet18 state dict (default: random body)')
    ap.add_argument('--folds', type=int, default=5); ap.add_argument('--out', default='bench/out/heads_vs_finetune.json')
    a = ap.parse_args()
    import numpy as np, torch
    from fastai.vision.all import parent_label
    from transferkit.pipeline import ingest_folder
    from transferkit.data import get_dls
    from transferkit.learner import train_model
    from transferkit.features import FeatureCache, search_heads, fit_head, head_probs, DEFAULT_GRID
    pretrained = a.weights is not None
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        make_photos(d/'photos', a.per_class)
        data = ingest_folder(d/'photos', d/f'data-{a.size}px', a.size, progress=False)
        dls = get_dls(data, size=a.size, aug=False, verify=False)
        vocab = list(dls.vocab)
        train, valid = list(dls.train_ds.items), list(dls.valid_ds.items)
        yt = np.array([vocab.index(parent_label(f)) for f in train]); yv = np.array([vocab.index(parent_label(f)) for f in valid])

        def head_side(cache_dir):
            "Seconds for: features, the k-fold search, 20 single fits scored on valid; and their accuracies"
            t0 = time.perf_counter()
            fc = FeatureCache(cache_dir, pretrained=pretrained, weights=a.weights, size=a.size, seed=42)
            Xt, Xv = fc.features(train), fc.features(valid)
            t1 = time.perf_counter()
            table = search_heads(Xt, yt, len(vocab), DEFAULT_GRID, k=a.folds)
            t2 = time.perf_counter()
            accs = []  # the fine-tune side's protocol: every configuration fitted on train, scored on valid
            for _, row in table.iterrows():
                cfg = {c: (int(row[c]) if c == 'hidden' else float(row[c])) for c in DEFAULT_GRID}
                accs.append(float((head_probs(fit_head(Xt, yt, len(vocab), **cfg), Xv).argmax(1) == yv).mean()))
            t3 = time.perf_counter()
            return dict(features=t1-t0, search=t2-t1, fits=t3-t2), accs, fc.computed, len(table)

        cold, head_accs, computed, n_cfg = head_side(d/'cache')
        warm, _, warm_computed, _ = head_side(d/'cache')

        grid = [dict(lr=lr, epochs=ep, wd=wd) for lr, ep, wd in itertools.product([5e-4, 1e-3, 2e-3, 5e-3, 1e-2], [2, 4], [1e-4, 1e-2])]
        t = time.perf_counter(); ft_accs = []
        for cfg in grid:
            run_dls = get_dls(data, size=a.size, verify=False)
            learn, _ = train_model(run_dls, epochs=cfg['epochs'], lr=cfg['lr'], wd=cfg['wd'], pretrained=pretrained, weights=a.weights, progress=False)
            with learn.no_bar(): ft_accs.append(float(learn.validate()[1]))
        ft_s = time.perf_counter() - t

    r = lambda x: round(x, 2)
    same = cold['features'] + cold['fits']    # 20 configurations, each trained once and scored on valid: as the fine-tune side
    search = cold['features'] + cold['search'] # what `train_head` does: 20 configurations x k folds, no peeking at valid
    res = dict(images=len(train) + len(valid), size=a.size, pretrained=pretrained, folds=a.folds, configurations=dict(heads=n_cfg, fine_tune=len(grid)),
               heads=dict(features_s_cold=r(cold['features']), features_s_warm=r(warm['features']), images_computed_cold=computed,
                          images_computed_warm=warm_computed, kfold_search_s=r(cold['search']), twenty_fits_s=r(cold['fits']),
                          best_valid_accuracy=max(head_accs), cv_choice_valid_accuracy=head_accs[0]),
               fine_tune=dict(wall_s=r(ft_s), best_valid_accuracy=max(ft_accs), mean_run_s=r(ft_s/len(grid))),
               ratio_same_protocol=round(ft_s/same, 1), ratio_kfold_search=round(ft_s/search, 1))
    Path(a.out).parent.mkdir(parents=True, exist_ok=True); Path(a.out).write_text(json.dumps(res, indent=1))
    print(json.dumps(res, indent=1))

if __name__ == '__main__': main()

"""Validation accuracy: the stock fastai course recipe vs `transferkit train`, mean ± sd over seeds, on three kinds of
photo sets, from scratch and from the same pretrained start.

Sets (each seed makes its own images, split and training seed; both sides get the identical files and the identical
split — `train/` and `valid/` folders, which stock fastai reads with `GrandparentSplitter` — and the bench checks that
their validation lists are equal):
- textures: small crops (15–35% of the side) of four grey scikit-image photos that are textures at that scale: the
  moon's surface, cells under a microscope, a printed page, coins. None of them is a class of the proxy task
  (which uses brick, grass and gravel among its eight), so the pretrained start has not seen these classes;
- digits: scikit-learn's 8×8 digits as 32-px PNGs (`transferkit.pipeline.make_digits`), a sample per class;
- shapes: circles, squares, triangles and crosses of random colour, size, place and rotation on noisy backgrounds
  (hard at 32 px with this few images: near chance for both recipes);
- photos: crops (30–60% of the side) of three colour photos (cat, coffee, rocket), cut differently from the proxy.

Recipes (both at batch size `--bs`, fastai's default 64 and the issue's 32 by default):
- stock: `DataBlock(ImageBlock, CategoryBlock, get_image_files, GrandparentSplitter, parent_label, Resize(size),
  aug_transforms())`, `vision_learner(dls, resnet18, pretrained=...)`, then from scratch `fit_one_cycle(epochs, 2e-3)`
  (the recipe the issue measured), pretrained `fine_tune(epochs)` (one frozen epoch, base_lr 2e-3);
- transferkit: `train_folder(data, out, size, epochs, pretrained, seed, bs)` — everything else its defaults.

Pretrained start: resnet18 trained from scratch on the proxy task of `train_vs_stock.py` (eight other scikit-image
photos), its weights in a private torch cache (TORCH_HOME), loaded by both sides as `pretrained=True`.

    python bench/accuracy_vs_stock.py [--seeds 3] [--epochs 4] [--size 32] [--bs 32,64] [--sets textures,digits,shapes] [--weights FILE]
"""
import argparse, json, math, os, shutil, statistics, subprocess, sys, tempfile, time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from train_vs_stock import make_crops, pretrain_weights

def _split_write(dest, label, images, seed, valid_pct=0.2, ext='png'):
    "Write PIL `images` of `label` into `dest/train/label` and `dest/valid/label`, a seeded `valid_pct` apart"
    import numpy as np
    n = len(images); valid = set(np.random.default_rng(seed).permutation(n)[:max(1, round(n*valid_pct))].tolist())
    for i, im in enumerate(images):
        f = Path(dest)/('valid' if i in valid else 'train')/label/f'{i:04d}.{ext}'
        f.parent.mkdir(parents=True, exist_ok=True); im.save(f, **({'quality': 90} if ext == 'jpg' else {}))

def make_textures(dest, per_class, seed):
    "Crops of four grey scikit-image photos that are textures at that scale, 128-px JPEGs"
    import tempfile
    from PIL import Image
    from skimage import data
    with tempfile.TemporaryDirectory() as d:
        make_crops(d, [(n, getattr(data, n)()) for n in ('moon', 'cell', 'page', 'coins')], per_class, (128, 128), (0.15, 0.35), seed, jitter=True)
        for i, lab in enumerate(sorted(os.listdir(d))):
            _split_write(dest, lab, [Image.open(f).convert('RGB') for f in sorted((Path(d)/lab).iterdir())], seed*100+i, ext='jpg')

def make_digit_set(dest, per_class, seed):
    "`per_class` of scikit-learn's digits per class as 32-px PNGs"
    from PIL import Image
    from transferkit.pipeline import make_digits
    with tempfile.TemporaryDirectory() as d:
        data, _ = make_digits(d, size=32, holdout=0, seed=seed)
        for i, lab in enumerate(sorted(os.listdir(data))):
            _split_write(dest, lab, [Image.open(f).convert('RGB') for f in sorted((data/lab).iterdir())[:per_class]], seed*100+i)

def make_shapes(dest, per_class, seed, size=96):
    "Circles, squares, triangles and crosses of random colour, size, place and rotation on noisy backgrounds"
    import numpy as np
    from PIL import Image, ImageDraw
    rng = np.random.default_rng(seed)
    def poly(kind, c, r, a):
        if kind == 'triangle': k, off = 3, 0
        elif kind == 'square': k, off = 4, math.pi/4
        else: raise ValueError(kind)
        return [(c[0] + r*math.cos(a + off + 2*math.pi*j/k), c[1] + r*math.sin(a + off + 2*math.pi*j/k)) for j in range(k)]
    for i, kind in enumerate(('circle', 'cross', 'square', 'triangle')):
        ims = []
        for _ in range(per_class):
            bg = rng.integers(0, 256, 3); px = np.clip(bg + rng.normal(0, 30, (size, size, 3)), 0, 255).astype('uint8')
            im = Image.fromarray(px); dr = ImageDraw.Draw(im)
            fg = tuple(int(v) for v in (bg + rng.integers(80, 176, 3)) % 256)
            r = rng.uniform(0.15, 0.35)*size; c = rng.uniform(r, size - r, 2); a = rng.uniform(0, 2*math.pi)
            if kind == 'circle': dr.ellipse([c[0]-r, c[1]-r, c[0]+r, c[1]+r], fill=fg)
            elif kind == 'cross':
                w = r/3
                for b in (a, a + math.pi/2):
                    dx, dy, nx, ny = r*math.cos(b), r*math.sin(b), w*math.cos(b + math.pi/2), w*math.sin(b + math.pi/2)
                    dr.polygon([(c[0]-dx-nx, c[1]-dy-ny), (c[0]+dx-nx, c[1]+dy-ny), (c[0]+dx+nx, c[1]+dy+ny), (c[0]-dx+nx, c[1]-dy+ny)], fill=fg)
            else: dr.polygon(poly(kind, c, r, a), fill=fg)
            ims.append(im)
        _split_write(dest, kind, ims, seed*100+i)

def make_photo_crops(dest, per_class, seed):
    "Crops (30–60% of the side) of three colour scikit-image photos not in the proxy task: a cat, coffee, a rocket; 128-px JPEGs"
    from PIL import Image
    from skimage import data
    with tempfile.TemporaryDirectory() as d:
        make_crops(d, [('cat', data.chelsea()), ('coffee', data.coffee()), ('rocket', data.rocket())], per_class, (128, 128), (0.3, 0.6), seed, jitter=True)
        for i, lab in enumerate(sorted(os.listdir(d))):
            _split_write(dest, lab, [Image.open(f).convert('RGB') for f in sorted((Path(d)/lab).iterdir())], seed*100+i, ext='jpg')

def full_size(dest, sources, per_class, seed, scale=(0.3, 0.7), gray=0.):
    """`per_class` photos per `(label, image)` of `sources`, as cameras give them: a crop (`scale` of the side) upscaled to
    1024x768 (a quarter of them 768x1024), a little sensor noise, a random tint or, with probability `gray`, grey, JPEG
    quality 80-95; split 75/25 into train/ and valid/"""
    import io
    import numpy as np
    from PIL import Image, ImageEnhance
    rng = np.random.default_rng(seed)
    for c, (label, img) in enumerate(sources):
        src = Image.fromarray(img).convert('RGB'); W, H = src.size; ims = []
        for i in range(per_class):
            out = (768, 1024) if rng.random() < 0.25 else (1024, 768)
            s = rng.uniform(*scale); w = int(min(W, H*out[0]/out[1])*s); h = int(w*out[1]/out[0])
            x, y = rng.integers(0, W-w+1), rng.integers(0, H-h+1)
            im = src.crop((x, y, x+w, y+h)).resize(out, Image.Resampling.BICUBIC)
            if rng.random() < 0.5: im = im.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
            im = ImageEnhance.Brightness(im).enhance(rng.uniform(0.75, 1.25))
            a = np.asarray(im, dtype=np.float32)
            a = a*rng.uniform(0.85, 1.15, 3) if rng.random() >= gray else a.mean(2, keepdims=True).repeat(3, 2)
            a = np.clip(a + rng.normal(0, 3, a.shape), 0, 255).astype('uint8')
            b = io.BytesIO(); Image.fromarray(a).save(b, 'JPEG', quality=int(rng.integers(80, 96))); ims.append(Image.open(b))
        _split_write(dest, label, ims, seed*100 + c, valid_pct=0.25, ext='jpg')

def make_surfaces(dest, per_class, seed):
    "Full-size photos of three surfaces (scikit-image's grey moon, cells under a microscope, coins), each tinted at random"
    from skimage import data
    full_size(dest, [('moon', data.moon()), ('cells', data.cell()), ('coins', data.coins())], per_class, seed, scale=(0.25, 0.6))

def make_objects(dest, per_class, seed):
    "Full-size photos of three objects (scikit-image's cat, coffee cup, rocket)"
    from skimage import data
    full_size(dest, [('cat', data.chelsea()), ('coffee', data.coffee()), ('rocket', data.rocket())], per_class, seed, scale=(0.35, 0.8))

def make_scenes(dest, per_class, seed):
    "Full-size photos of three scenes (scikit-learn's temple and flower, scikit-image's cameraman), half of them grey"
    from skimage import data
    from sklearn.datasets import load_sample_images
    china, flower = load_sample_images().images
    full_size(dest, [('temple', china), ('flower', flower), ('field', data.camera())], per_class, seed, scale=(0.35, 0.8), gray=0.5)

FULL_SIZE = ('surfaces', 'objects', 'scenes') # >= 800-px JPEGs: the photos users have
SETS = {'surfaces': make_surfaces, 'objects': make_objects, 'scenes': make_scenes,
        'textures': make_textures, 'digits': make_digit_set, 'shapes': make_shapes, 'photos': make_photo_crops}

STOCK = '''
import hashlib, json, sys, time
from fastai.vision.all import *
for t in json.loads(sys.argv[1]):
    t0 = time.perf_counter(); path = Path(t['path'])
    set_seed(t['seed'], reproducible=True)
    dls = DataBlock(blocks=(ImageBlock, CategoryBlock), get_items=get_image_files, splitter=GrandparentSplitter(),
                    get_y=parent_label, item_tfms=Resize(t['size']), batch_tfms=aug_transforms()).dataloaders(path, bs=64 if t['bs'] == 'auto' else t['bs'])
    learn = vision_learner(dls, resnet18, metrics=accuracy, pretrained=bool(t['pretrained'])) # weights from the torch cache
    with learn.no_bar(), learn.no_logging():
        if t['pretrained']: learn.fine_tune(t['epochs'])
        else: learn.fit_one_cycle(t['epochs'], 2e-3)
    valid = sorted(Path(f).relative_to(path).as_posix() for f in dls.valid_ds.items)
    print(json.dumps(dict(t, accuracy=float(learn.validate()[1]), bs_used=dls.train.bs, n_train=len(dls.train_ds),
                          valid=hashlib.sha256('\\n'.join(valid).encode()).hexdigest(), seconds=time.perf_counter()-t0)), flush=True)
'''

OURS = '''
import hashlib, json, sys, time
from pathlib import Path
from transferkit.pipeline import train_folder
for t in json.loads(sys.argv[1]):
    t0 = time.perf_counter()
    args = dict(size=t['size'], epochs=t['epochs'], pretrained=bool(t['pretrained']), seed=t['seed'],
                bs=None if t['bs'] == 'auto' else t['bs'], progress=False, plain=bool(t.get('plain')))
    res = train_folder(t['path'], t['out'], **{**args, **t.get('kw', {})}) # a --variant may set any of them, bs included
    dls, data = res['learn'].dls, Path(t['out'])/f"data-{t['size']}px"
    if t.get('plain'): valid = sorted(Path(f).relative_to(t['path']).as_posix() for f in dls.valid_ds.items) # the originals
    else:
        import pandas as pd # the ingest copy renames files by content: map them back to the originals through its manifest
        origin = {r.file: Path(r.origin).relative_to(t['path']).as_posix() for r in pd.read_csv(data/'manifest.csv').itertuples() if r.status == 'ok'}
        valid = sorted(origin[Path(f).relative_to(data).as_posix()] for f in dls.valid_ds.items)
    print(json.dumps(dict(t, accuracy=res['accuracy'], bs_used=dls.train.bs, n_train=len(dls.train_ds), lr=res['record']['lr'],
                          valid=hashlib.sha256('\\n'.join(valid).encode()).hexdigest(), seconds=time.perf_counter()-t0)), flush=True)
'''

def run(code, tasks, env):
    "Run `tasks` in one process of `code`; its result rows"
    res = subprocess.run([sys.executable, '-c', code, json.dumps(tasks)], capture_output=True, text=True, env=env)
    if res.returncode: sys.exit(f'bench step failed:\n{res.stderr[-3000:]}')
    return [json.loads(l) for l in res.stdout.splitlines() if l.startswith('{')]

SIDES = {'stock': STOCK, 'transferkit': OURS, 'plain': OURS} # plain: `train_folder(plain=True)`, the stock recipe inside transferkit

def _mean_se(v):
    "`mean ± standard error` of `v`"
    return f"{statistics.mean(v):.3f}±{(statistics.stdev(v)/math.sqrt(len(v)) if len(v) > 1 else 0.):.3f}"

def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--sets', default=','.join(FULL_SIZE)); p.add_argument('--seeds', type=int, default=5)
    p.add_argument('--seed-start', type=int, default=0, help='the first seed: shards of one study run side by side (seeds 0-4 and 5-9), then --merge')
    p.add_argument('--merge', help='comma-separated --out files of earlier runs (shards of one study): print their table together, train nothing')
    p.add_argument('--per-class', type=int, default=100, help='images per class (digits: 50)')
    p.add_argument('--epochs', type=int, default=5)
    p.add_argument('--bs', default='32', help="batch sizes, comma-separated: every side at each; 'auto' is each side's default (stock: 64, transferkit: its rule)")
    p.add_argument('--sides', default='stock,transferkit,plain', help=f"of {', '.join(SIDES)}")
    p.add_argument('--starts', default='scratch,pretrained'); p.add_argument('--size', type=int, default=64, help='training size of every set and the proxy task')
    p.add_argument('--pretrain-epochs', type=int, default=6); p.add_argument('--pretrain-per-class', type=int, default=40)
    p.add_argument('--weights', help='the proxy-pretrained state dict of an earlier run (skips pretraining)')
    p.add_argument('--variant', action='append', default=[], metavar='NAME=JSON',
                   help='a transferkit side with other train_folder settings, e.g. \'lr1e-2={"lr": 0.01}\'; name it in --sides')
    p.add_argument('--out', default='bench/out/accuracy_vs_stock.json')
    a = p.parse_args()
    variants = {n: json.loads(kw) for n, kw in (v.split('=', 1) for v in a.variant)}
    if bad := [s for s in a.sides.split(',') if s not in SIDES and s not in variants]: p.error(f'unknown side(s) {bad}: sides are {list(SIDES)} or a --variant')
    if a.merge:
        runs = [json.loads(Path(f).read_text()) for f in a.merge.split(',')]
        rows = [r for run_ in runs for r in run_['rows']]
        union = lambda key: list(dict.fromkeys(v for run_ in runs for v in run_['settings'][key].split(','))) # in order of appearance
        return print_table(rows, union('sets'), [b if b == 'auto' else int(b) for b in union('bs')], union('starts'), union('sides'),
                           len({r['seed'] for r in rows}))
    sets, bss, starts, sides = a.sets.split(','), [b if b == 'auto' else int(b) for b in a.bs.split(',')], a.starts.split(','), a.sides.split(',')
    t_all = time.perf_counter()
    with tempfile.TemporaryDirectory() as d:
        d = Path(d); env = dict(os.environ, TRANSFERKIT_OFFLINE='1')
        if 'pretrained' in starts:
            cache = d/'torch'/'hub'/'checkpoints'; cache.mkdir(parents=True)
            import torchvision
            file = cache/torchvision.models.ResNet18_Weights.DEFAULT.url.split('/')[-1]
            if a.weights: shutil.copy(a.weights, file)
            else:
                t = time.perf_counter(); proxy_acc = pretrain_weights(d, file, a.size, a.pretrain_epochs, per_class=a.pretrain_per_class)
                print(f'pretrained on the proxy task: valid accuracy {proxy_acc:.3f}, {time.perf_counter()-t:.0f} s', flush=True)
                Path(a.out).parent.mkdir(parents=True, exist_ok=True); shutil.copy(file, Path(a.out).with_suffix('.proxy.pth')) # --weights for a re-run
            env['TORCH_HOME'] = str(d/'torch')
        rows = []
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        for name in sets: # one set at a time: each side's trainings in one process; results kept as they come
            make, size = SETS[name], a.size; tasks = []
            for seed in range(a.seed_start, a.seed_start + a.seeds):
                path = d/'sets'/f'{name}-{seed}'; make(path, 50 if name == 'digits' else a.per_class, seed)
                for start in starts:
                    for bs in bss: tasks.append(dict(set=name, seed=seed, path=str(path), size=size, epochs=a.epochs, bs=bs, pretrained=int(start == 'pretrained')))
            for side in sides:
                t = time.perf_counter()
                got = run(SIDES.get(side, OURS), [dict(tk, plain=int(side == 'plain'), kw=variants.get(side, {}), out=str(d/'out'/f"{side}-{tk['set']}-{tk['seed']}-{tk['pretrained']}-{tk['bs']}")) for tk in tasks], env)
                rows += [dict(r, side=side) for r in got]
                print(f'{name}, {side}: {len(got)} trainings, {time.perf_counter()-t:.0f} s', flush=True)
                shutil.rmtree(d/'out', ignore_errors=True)
            key = lambda r: (r['set'], r['seed'], r['pretrained'], r['bs'])
            first = {key(r): r for r in rows if r['side'] == sides[0] and r['set'] == name}
            for r in rows:
                if r['set'] == name and r['side'] != sides[0]:
                    s = first[key(r)]
                    assert (r['valid'], r['n_train']) == (s['valid'], s['n_train']), f'different split for {key(r)}'
            print(f'{name}: identical validation files and training counts on every side, checked ({len(first)} per side)', flush=True)
            Path(a.out).write_text(json.dumps(dict(settings=vars(a), rows=rows), indent=1))
    print(f'\n{time.perf_counter()-t_all:.0f} s in all', end='; ')
    print_table(rows, sets, bss, starts, sides, a.seeds)

def print_table(rows, sets, bss, starts, sides, n_seeds):
    "Validation accuracy per set, start and batch size: each side's mean ± standard error and its paired difference from the first side"
    print(f'validation accuracy, mean ± standard error over {n_seeds} seeds (data, split and training); '
          f'differences in points against {sides[0]}, with the standard error of the paired per-seed differences')
    print(f"{'set':10}{'start':12}{'bs':>5}" + ''.join(f'{s:>16}' for s in sides) + ''.join(f'{s + " − " + sides[0]:>24}' for s in sides[1:]))
    for name in sets:
        for start in starts:
            for bs in bss:
                pick = lambda side: {r['seed']: r['accuracy'] for r in rows if r['side'] == side and r['set'] == name and r['bs'] == bs and r['pretrained'] == (start == 'pretrained')}
                acc = {side: pick(side) for side in sides}
                seeds = sorted(set.intersection(*[set(v) for v in acc.values()]))
                if not seeds: continue
                diffs = []
                for side in sides[1:]:
                    dd = [100*(acc[side][k] - acc[sides[0]][k]) for k in seeds]
                    diffs.append(f"{statistics.mean(dd):+.1f}±{(statistics.stdev(dd)/math.sqrt(len(dd)) if len(dd) > 1 else 0.):.1f}")
                print(f"{name:10}{start:12}{str(bs):>5}" + ''.join(f'{_mean_se([acc[s][k] for k in seeds]):>16}' for s in sides) + ''.join(f'{x:>24}' for x in diffs))

if __name__ == '__main__': main()

"""Stock fastai course recipe vs `transferkit train`, on the same full-size JPEG photos, in one run, as whole processes.

Reports per recipe (median over --repeats): wall time of the whole process (interpreter start, imports, training,
export), peak RSS, validation accuracy, and efficiency = training images/s divided by the bare model step's images/s
(random tensors already in memory, same model, size, batch, precision and memory format, torch's fused AdamW; on the
CPU transferkit trains channels-last, in float32 unless bfloat16 is asked for, on a GPU in bfloat16 or float16
autocast; the stock recipe in float32, default layout).

transferkit is timed under each `TRANSFERKIT_BF16` setting of --bf16 (default `auto,1`: unset — float32 on the CPU,
transferkit's default since session 22 — then bfloat16 asked for, which only a CPU with native bfloat16 runs fast), so
one run shows the ratios of the default and of the opt-in. (`0` is the same as unset on the CPU.)

The photos: three easy classes (crops of three photos bundled with scikit-image: a cat, coffee, a rocket),
jittered and written as 1024x768 JPEGs, split into `train/` and `valid/` folders: both recipes train and validate on
the same files (stock fastai reads them with `GrandparentSplitter`; the bench checks the lists). Each repeat is a new
seed: a new draw of the photos, a new split and a new training seed, the same for both recipes; wall times are
medians, accuracy the mean over the seeds. Each recipe runs --timings times per seed (default 2, in alternating order,
each in a new output folder); a seed's wall time is each side's fastest, as the machine's drift only ever adds time
(the ratio of the first timings alone, and of CPU seconds, are printed beside it).
Offline there are no ImageNet weights, so by default both recipes start from random weights and train the whole
network with one-cycle at lr 2e-3 (the stock script: `fit_one_cycle(epochs, 2e-3)`, the course's from-scratch recipe).

To compare at the same pretrained start, give both recipes the same weights: --weights FILE (a torchvision
resnet18 state dict), or --pretrain, which trains resnet18 from scratch on a different task (eight other
scikit-image photos and textures: astronaut, bricks, grass, ...) and uses its weights. Either way the file goes into
a private torch cache (TORCH_HOME), so both recipes load it exactly as they load ImageNet weights (`pretrained=True`)
and both run `fine_tune` (one frozen epoch, then --epochs). The stock script exports (`learn.export`) as
`transferkit train` does.

    python bench/train_vs_stock.py [--per-class 100] [--size 128] [--epochs 5] [--repeats 3] [--bf16 auto,1] [--pretrain]
"""
import argparse, json, os, shutil, statistics, subprocess, sys, tempfile, time
from pathlib import Path

def make_crops(dest, images, per_class, size, scale, seed, jitter=False):
    "`per_class` random crops (sides `scale` of the original) of each `(label, image)`, resized to `size`, as JPEGs in label folders"
    import numpy as np
    from PIL import Image, ImageEnhance
    rng = np.random.default_rng(seed)
    for label, img in images:
        src = Image.fromarray(img).convert('RGB'); W, H = src.size
        (Path(dest)/label).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            s = rng.uniform(*scale); w, h = int(W*s), int(H*s)
            x, y = rng.integers(0, W-w+1), rng.integers(0, H-h+1)
            im = src.crop((x, y, x+w, y+h)).resize(size, Image.Resampling.BICUBIC)
            if jitter: # random flip and brightness
                if rng.random() < 0.5: im = im.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
                im = ImageEnhance.Brightness(im).enhance(rng.uniform(0.7, 1.3))
            im.save(Path(dest)/label/f'{i:04d}.jpg', quality=90)

def make_photos(dest, per_class, seed=0):
    "1024x768 JPEG crops of three bundled photos, one folder per class"
    from skimage import data
    make_crops(dest, [('cat', data.chelsea()), ('coffee', data.coffee()), ('rocket', data.rocket())], per_class, (1024, 768), (0.45, 0.9), seed, jitter=True)

PROXY = [('astronaut', 'astronaut'), ('brick', 'brick'), ('grass', 'grass'), ('gravel', 'gravel'),
         ('hubble', 'hubble_deep_field'), ('ihc', 'immunohistochemistry'), ('retina', 'retina'), ('motorcycle', 'stereo_motorcycle')]

def make_proxy(dest, per_class, seed=1):
    "160x120 crops of eight other bundled images (none of the benchmark's classes), one folder per class"
    from skimage import data
    images = [(label, getattr(data, name)()) for label, name in PROXY]
    make_crops(dest, [(label, img[0] if isinstance(img, tuple) else img) for label, img in images], per_class, (160, 120), (0.3, 0.8), seed)

def pretrain_weights(work, dest, size, epochs=8, per_class=60):
    "A torchvision resnet18 state dict (1000-class fc, as the torch cache holds it) trained from scratch on the proxy task"
    import torch, torchvision
    from transferkit.pipeline import train_folder
    make_proxy(Path(work)/'proxy', per_class)
    res = train_folder(Path(work)/'proxy', Path(work)/'proxy-out', size=size, epochs=epochs, pretrained=False, progress=False)
    model = torchvision.models.resnet18(num_classes=1000)
    torch.nn.Sequential(*list(model.children())[:-2]).load_state_dict(res['learn'].model[0].state_dict())
    torch.save(model.state_dict(), dest)
    return res['accuracy']

def split_folders(path, valid_pct=0.2, seed=0):
    "Move the label folders under `path` into `train/` and `valid/` (a seeded `valid_pct` of each class): both recipes then use the same split"
    import numpy as np
    path = Path(path); rng = np.random.default_rng(seed)
    for lab in sorted(p.name for p in path.iterdir() if p.is_dir()):
        files = sorted((path/lab).iterdir()); valid = set(rng.permutation(len(files))[:max(1, round(len(files)*valid_pct))].tolist())
        for k, f in enumerate(files):
            dest = path/('valid' if k in valid else 'train')/lab; dest.mkdir(parents=True, exist_ok=True); f.rename(dest/f.name)
        (path/lab).rmdir()

STOCK = '''
import hashlib, json, resource, sys, time
t0 = time.perf_counter()
from fastai.vision.all import *
path, out, size, epochs, bs, pretrained, seed = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), bool(int(sys.argv[6])), int(sys.argv[7])
class Timer(Callback):
    def before_fit(self): self.n, self.t = 0, 0.
    def before_train(self): self.t0 = time.perf_counter()
    def after_batch(self):
        if self.training: self.n += find_bs(self.yb) # the images trained on: the last partial batch is dropped
    def after_train(self): self.t += time.perf_counter() - self.t0
set_seed(seed, reproducible=True)
dls = DataBlock(blocks=(ImageBlock, CategoryBlock), get_items=get_image_files, splitter=GrandparentSplitter(),
                get_y=parent_label, item_tfms=Resize(size), batch_tfms=aug_transforms()).dataloaders(path, bs=bs)
learn = vision_learner(dls, resnet18, metrics=accuracy, pretrained=pretrained) # weights from the torch cache (TORCH_HOME)
timer = Timer()
with learn.no_bar(), learn.no_logging():
    if pretrained: learn.fine_tune(epochs, cbs=[timer])
    else: learn.fit_one_cycle(epochs, 2e-3, cbs=[timer]) # the course's from-scratch recipe
acc = float(learn.validate()[1])
out.mkdir(parents=True, exist_ok=True); learn.export(out/'export.pkl')
valid = sorted(Path(f).relative_to(path).as_posix() for f in dls.valid_ds.items)
print(json.dumps(dict(wall=time.perf_counter()-t0, accuracy=acc, train_ips=timer.n/timer.t if timer.t else 0, bs=dls.train.bs,
                      device=str(dls.device), valid=hashlib.sha256('\\n'.join(valid).encode()).hexdigest(),
                      peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss/1024)))
'''

# transferkit's side is the `transferkit train` command itself, as a user runs it (the console script beside this
# Python); its numbers are read from what it writes, its peak RSS from the kernel's record of the child (`os.wait4`)
TK = str(Path(sys.executable).parent/'transferkit')

def run_child(argv, env):
    "`(returncode, stdout, stderr, wall seconds, peak RSS MB, CPU seconds)` of a process (CPU: user + system, its waited-for children included)"
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t = time.perf_counter()
        p = subprocess.Popen(argv, stdout=out, stderr=err, env=env)
        _, status, usage = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t
        p.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0); err.seek(0)
        return p.returncode, out.read().decode(), err.read().decode(), wall, usage.ru_maxrss/1024, usage.ru_utime + usage.ru_stime

def run_ours(photos, out, size, epochs, bs, pretrained, env, seed=42):
    "Time `transferkit train` as a process; its accuracy, training img/s, precision and split, from its output and record"
    import hashlib, pandas as pd
    from transferkit.ingest import ingest_copy
    args = ['train', photos, '--out', out, '--size', size, '--epochs', epochs, *([] if bs == 'auto' else ['--bs', bs]), '--seed', seed] + ([] if pretrained else ['--no-pretrained'])
    rc, stdout, stderr, wall, rss, cpu = run_child([TK, *map(str, args)], env)
    if rc: sys.exit(f'transferkit train failed:\n{stderr[-3000:]}')
    rec = json.loads((Path(out)/'training.json').read_text()); rows = rec['epochs']
    data = ingest_copy(out, size) # the ingest copy names files by content: back to the originals through its manifest
    m = pd.read_csv(data/'manifest.csv')
    valid = sorted(Path(o).relative_to(photos).as_posix() for o, st in zip(m.origin, m.status) if st == 'ok' and Path(o).relative_to(photos).parts[0] == 'valid')
    acc = float(next(l for l in stdout.splitlines() if l.startswith('Validation accuracy:')).split(':')[1].split()[0])
    return dict(wall=wall, cpu=cpu, accuracy=acc, bf16=rec['bf16'], amp=rec.get('amp'), channels_last=rec.get('channels_last', False), bs=rec['bs'], device=rec['device'],
                train_ips=sum(r['train_images'] for r in rows)/sum(r['train_seconds'] for r in rows), valid=hashlib.sha256('\n'.join(valid).encode()).hexdigest(),
                peak_rss_mb=rss)

# The bare model step: a random batch already on the device, the same model, torch's fused AdamW (the fastest plain
# step), on the CPU with the heap kept as `fit_learner` keeps it (`kept_heap`: the comparison is of the loop, not of the
# allocator); shared by the bare-step process and the paired measurement below
BARE_STEP = '''
import time, torch
from contextlib import nullcontext
from fastai.vision.all import create_vision_model, resnet18, nn
from transferkit.speed import kept_heap
def bare_ips(x, y, n_cls, dtype, channels_last, n):
    with kept_heap() if x.device.type == 'cpu' else nullcontext(): return _bare_ips(x, y, n_cls, dtype, channels_last, n)
def _bare_ips(x, y, n_cls, dtype, channels_last, n):
    "Images/s of `n` bare steps on the batch `x`, `y` after 3 to warm up; `dtype`: the autocast precision, or None for float32"
    dev = x.device
    model = create_vision_model(resnet18, n_cls, pretrained=False).to(dev).train()
    opt = torch.optim.AdamW(model.parameters(), 1e-3, fused=True); lossf = nn.CrossEntropyLoss()
    scaler = torch.amp.GradScaler(dev.type, enabled=dtype == torch.float16)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(memory_format=fmt); xb = x.contiguous(memory_format=fmt)
    def step():
        opt.zero_grad()
        with torch.autocast(dev.type, dtype=dtype or torch.bfloat16, enabled=dtype is not None): loss = lossf(model(xb).float(), y)
        scaler.scale(loss).backward(); scaler.step(opt); scaler.update()
    for _ in range(3): step()
    if dev.type == 'cuda': torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(n): step()
    if dev.type == 'cuda': torch.cuda.synchronize()
    return n*len(x)/(time.perf_counter()-t)
'''

BARE = BARE_STEP + '''
import json, sys
size, bs, n_cls = int(sys.argv[1]), int(sys.argv[2]), 3
dev = torch.device('cuda' if torch.cuda.is_available() else 'cpu')
x, y = torch.randn(bs, 3, size, size, device=dev), torch.randint(0, n_cls, (bs,), device=dev)
from transferkit.speed import cpu_bf16_supported
amp = [None] + ([torch.bfloat16] if (torch.cuda.is_bf16_supported() if dev.type == 'cuda' else cpu_bf16_supported()) else []) + ([torch.float16] if dev.type == 'cuda' else [])
name = {None: 'fp32', torch.bfloat16: 'bf16', torch.float16: 'fp16'}
n = 30 if dev.type == 'cuda' else 8
print(json.dumps({f"{name[a]}{'_cl' if c else ''}": bare_ips(x, y, n_cls, a, c, n) for a in amp for c in (False, True)}))
'''

# The loop's overhead, measured in one process so that the machine's drift between processes does not count: the
# learner `transferkit train` builds (`get_dls` on its ingest copy, resident batches, `make_learner`), trained by
# `fit_learner` for two epochs (the second one's img/s: the first holds the one-time kernel set-up), alternating with the
# bare step of the same variant (precision and memory format as `fit_learner` chose), `rounds` times
PAIRED = BARE_STEP + '''
import json, statistics, sys
from pathlib import Path
from transferkit.data import get_dls
from transferkit.learner import make_learner, fit_learner, gpu_amp_dtype
data, size, bs, rounds = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
dls = get_dls(data, size=size, bs=bs, resident=True, verify=False) # as `train_folder` makes them: the cache is already built
learn = make_learner(dls, pretrained=False)
dev = torch.device(dls.device or 'cpu')
x, y = torch.randn(bs, 3, size, size, device=dev), torch.randint(0, len(dls.vocab), (bs,), device=dev)
ratios, loops, bares = [], [], []
for r in range(rounds):
    rows, bf16 = fit_learner(learn, 2, fine_tune=False, progress=False)
    ips = rows[-1]['train_images']/rows[-1]['train_seconds']
    amp = gpu_amp_dtype() if dev.type == 'cuda' else torch.bfloat16 if bf16 else None # the precision the fit used
    b = bare_ips(x, y, len(dls.vocab), amp, dev.type == 'cpu', len(dls.train))
    loops.append(ips); bares.append(b); ratios.append(ips/b)
print(json.dumps(dict(efficiency=statistics.median(ratios), best=max(loops)/max(bares), ratios=ratios, loop_ips=loops, bare_ips=bares, bf16=bf16)))
'''

def run(code, *args, env=None):
    "The JSON `code` prints last, its `wall` the whole process's time (interpreter start included, as for `transferkit train`)"
    rc, stdout, stderr, wall, rss, cpu = run_child([sys.executable, '-c', code, *map(str, args)], env)
    if rc: sys.exit(f'bench step failed:\n{stderr[-3000:]}')
    res = json.loads(stdout.strip().splitlines()[-1])
    return res | dict(wall=wall, cpu=cpu) | (dict(peak_rss_mb=rss) if 'peak_rss_mb' in res else {})

def _variant(res):
    "The bare-step variant a recipe's run trained with"
    prec = {'bfloat16': 'bf16', 'float16': 'fp16'}.get(res.get('amp')) or ('bf16' if res.get('bf16') else 'fp32')
    return prec + ('_cl' if res.get('channels_last') else '')

def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--per-class', type=int, default=100); p.add_argument('--size', type=int, default=128)
    p.add_argument('--epochs', type=int, default=5); p.add_argument('--bs', default='32', help="batch size of both recipes; 'auto': each its default (stock fastai's 64, transferkit's rule)")
    p.add_argument('--repeats', type=int, default=3, help='runs of each recipe, each on a new draw of the photos, a new split and a new training seed (the same for both recipes)')
    p.add_argument('--bf16', default='auto,1', help='TRANSFERKIT_BF16 settings to time transferkit under, comma-separated (auto: unset, float32 on the CPU; 1: bfloat16)')
    p.add_argument('--weights', default='', help='a torchvision resnet18 state dict both recipes start from')
    p.add_argument('--pretrain', action='store_true', help='make those weights: resnet18 trained from scratch on a different task')
    p.add_argument('--pretrain-epochs', type=int, default=8); p.add_argument('--pretrain-size', type=int, default=0, help='image size of the proxy task (default --size)')
    p.add_argument('--timings', type=int, default=2, help="processes of each recipe per seed, in alternating order; a seed's wall time is each side's fastest (the machine's drift only ever adds time)")
    p.add_argument('--paired-rounds', type=int, default=5, help="rounds of transferkit's training loop against the bare step in one process, after each run (0: none)")
    p.add_argument('--out', default='bench/out/train_vs_stock.json')
    a = p.parse_args()
    settings = a.bf16.split(',')
    from transferkit.ingest import ingest_copy
    with tempfile.TemporaryDirectory() as d:
        env, pretrained, proxy_acc = dict(os.environ, TRANSFERKIT_OFFLINE='1'), 0, None
        env.pop('TRANSFERKIT_BF16', None)
        if a.weights or a.pretrain:
            import torchvision
            cache = Path(d)/'torch'/'hub'/'checkpoints'; cache.mkdir(parents=True)
            file = cache/torchvision.models.ResNet18_Weights.DEFAULT.url.split('/')[-1]
            if a.pretrain:
                t = time.perf_counter(); proxy_acc = pretrain_weights(d, file, a.pretrain_size or a.size, a.pretrain_epochs)
                print(f'pretrained on the proxy task: valid accuracy {proxy_acc:.3f}, {time.perf_counter()-t:.0f} s', flush=True)
            else: shutil.copy(a.weights, file)
            env['TORCH_HOME'], pretrained = str(Path(d)/'torch'), 1
        names = ['stock'] + [f'transferkit bf16={s}' for s in settings]
        runs = {n: [] for n in names}
        bare = {} # batch size -> bare step results
        for r in range(a.repeats):
            photos = Path(d)/f'photos{r}'; make_photos(photos, a.per_class, seed=r); split_folders(photos, seed=r)
            # rotate the order, and reverse it on every other timing, so drift on a shared machine does not favour one side
            order, timed = names[r % len(names):] + names[:r % len(names)], {n: [] for n in names}
            for t in range(a.timings):
                for name in order if t % 2 == 0 else order[::-1]:
                    out = Path(d)/f'out{r}-{names.index(name)}-{t}' # a new folder each time: no run finds another's ingest copy
                    if name == 'stock': res = run(STOCK, photos, out, a.size, a.epochs, 64 if a.bs == 'auto' else a.bs, pretrained, 42 + r, env=env)
                    else:
                        s = name.split('=')[1]; tk_env = env if s == 'auto' else dict(env, TRANSFERKIT_BF16=s)
                        res = run_ours(photos, out, a.size, a.epochs, a.bs, pretrained, tk_env, seed=42 + r)
                        if t == 0 and a.paired_rounds: res['paired'] = run(PAIRED, ingest_copy(out, a.size), a.size, res['bs'], a.paired_rounds, env=tk_env)
                    timed[name].append(res); print(name, r, t, json.dumps(res), flush=True)
                    shutil.rmtree(out, ignore_errors=True)
            for name, rs in timed.items(): # the first timing's results; the wall time the fastest of the timings
                runs[name].append(rs[0] | dict(seed=r, wall=min(x['wall'] for x in rs), walls=[x['wall'] for x in rs], cpus=[x['cpu'] for x in rs],
                                               accuracies=[x['accuracy'] for x in rs]))
            assert len({x['valid'] for v in runs.values() for x in v if x['seed'] == r}) == 1, 'the recipes validated on different files'
            shutil.rmtree(photos)
            for bs in {x['bs'] for v in runs.values() for x in v}: bare.setdefault(bs, []).append(run(BARE, a.size, bs))
    med = lambda name, k: statistics.median(x[k] for x in runs[name])
    # each side's efficiency against the bare step at its own batch size, precision and memory format
    summary = {}
    for name in names:
        variant, bs = statistics.mode(_variant(x) for x in runs[name]), statistics.mode(x['bs'] for x in runs[name])
        # a CPU without native bfloat16 has no bare bf16 step to compare with (TRANSFERKIT_BF16=1 emulates it there)
        bare_ips = statistics.median(b[variant] for b in bare[bs]) if all(variant in b for b in bare[bs]) else float('nan')
        summary[name] = dict(wall_s=med(name, 'wall'), accuracy=med(name, 'accuracy'), accuracy_mean=statistics.mean(x['accuracy'] for x in runs[name]),
                             peak_rss_mb=med(name, 'peak_rss_mb'), train_ips=med(name, 'train_ips'), bs=bs, variant=variant, bare_ips=bare_ips,
                             efficiency_in_run=med(name, 'train_ips')/bare_ips, device=runs[name][0].get('device'))
        if all('paired' in x for x in runs[name]):
            summary[name]['efficiency_paired'] = statistics.median(x['paired']['efficiency'] for x in runs[name])
            summary[name]['efficiency_paired_best'] = statistics.median(x['paired']['best'] for x in runs[name])
    per_seed = lambda n, f=lambda x: x['wall']: [f(x)/f(y) for x, y in zip(runs[n], runs['stock'])] # the repeats are in seed order on both sides
    first, cpu = lambda x: x['walls'][0], lambda x: statistics.mean(x['cpus'])
    ratios = {n: dict(wall=summary[n]['wall_s']/summary['stock']['wall_s'], wall_per_seed=per_seed(n), wall_mean=statistics.mean(per_seed(n)),
                      first_wall_per_seed=per_seed(n, first), first_wall_mean=statistics.mean(per_seed(n, first)),
                      cpu_per_seed=per_seed(n, cpu), cpu_mean=statistics.mean(per_seed(n, cpu)), accuracy_points=100*(summary[n]['accuracy_mean']-summary['stock']['accuracy_mean']),
                      train_ips=summary[n]['train_ips']/summary['stock']['train_ips']) for n in names[1:]}
    out = dict(summary=summary, ratios=ratios, pretrained=bool(pretrained), proxy_accuracy=proxy_acc, identical_split=True,
               settings=vars(a) | dict(images=3*a.per_class, photo_size='1024x768', runs=runs, bare=bare))
    Path(a.out).parent.mkdir(parents=True, exist_ok=True); Path(a.out).write_text(json.dumps(out, indent=1))
    print(f"\nmedians of {a.repeats} runs (seeds: a new photo draw, split and training seed each; accuracy: the mean); both recipes trained and validated on the same files (checked); weights: {'pretrained' if pretrained else 'random'}")
    print("img/s: the whole run's training images a second (all epochs); bare: the bare step in its own process after each repeat; "
          "in run: their ratio; paired: the loop against the bare step alternating in one process (each run's median over its rounds; the median over runs); "
          "best: the same rounds' fastest loop against their fastest bare step (the host's drift only ever slows a round)")
    print(f"{'':22}{'wall s':>8}{'acc':>8}{'peak MB':>9}{'bs':>4}{'img/s':>8}{'bare':>8}{'variant':>9}{'in run':>8}{'paired':>8}{'best':>8}")
    for name in names:
        s = summary[name]; paired = ''.join(f"{s[k]:8.2f}" if k in s else f"{'-':>8}" for k in ('efficiency_paired', 'efficiency_paired_best'))
        print(f"{name:22}{s['wall_s']:8.1f}{s['accuracy']:8.3f}{s['peak_rss_mb']:9.0f}{s['bs']:4}{s['train_ips']:8.1f}{s['bare_ips']:8.1f}{s['variant']:>9}{s['efficiency_in_run']:8.2f}{paired}")
    for n, r in ratios.items():
        eff = summary[n].get('efficiency_paired', summary[n]['efficiency_in_run'])
        best = f" (fastest rounds: {summary[n]['efficiency_paired_best']:.2f})" if 'efficiency_paired_best' in summary[n] else ''
        print(f"{n}/stock: whole process {r['wall']:.2f}x (per seed {', '.join(f'{v:.2f}' for v in r['wall_per_seed'])}: mean {r['wall_mean']:.2f}x), "
              f"training img/s {r['train_ips']:.2f}x, accuracy (mean of runs) {r['accuracy_points']:+.1f} points; efficiency against the bare step {eff:.2f}{best}")
        print(f"{'':{len(n) + 8}}first timing of each seed only: mean {r['first_wall_mean']:.2f}x (per seed {', '.join(f'{v:.2f}' for v in r['first_wall_per_seed'])}); "
              f"CPU seconds (user + system): mean {r['cpu_mean']:.2f}x (per seed {', '.join(f'{v:.2f}' for v in r['cpu_per_seed'])})")

if __name__ == '__main__': main()

"""Stock fastai course recipe vs transferkit's `train_folder`, on the same full-size JPEG photos, in one run.

Reports per recipe (median over --repeats): wall time, peak RSS, validation accuracy, and efficiency =
training images/s divided by the bare model step's images/s (random tensors already in memory, same model, size,
batch, precision and memory format, torch's fused AdamW: on the CPU transferkit trains channels-last, in bfloat16
autocast where the CPU computes it natively; the stock recipe in float32, default layout).

The photos: three easy classes (crops of three photos bundled with scikit-image: a cat, coffee, a rocket),
jittered and written as 1024x768 JPEGs. Offline there are no ImageNet weights, so by default both recipes start
from random weights: the stock recipe still runs `fine_tune` (one epoch on a frozen random body, then --epochs),
transferkit trains the whole network for --epochs (one-cycle), as each does by default.

To compare accuracy at the same starting point, give both recipes the same pretrained weights: --weights FILE
(a torchvision resnet18 state dict), or --pretrain, which trains resnet18 from scratch on a different task (eight
other scikit-image photos and textures: astronaut, bricks, grass, ...) and uses its weights. Either way the file
goes into a private torch cache (TORCH_HOME), so both recipes load it exactly as they load ImageNet weights
(`pretrained=True`) and both run `fine_tune` (one frozen epoch, then --epochs).

The bare step runs at each recipe's own batch size (transferkit shrinks the batch on small data sets).

    ./dev bench train_vs_stock [--per-class 100] [--size 128] [--epochs 5] [--repeats 3] [--pretrain]
"""
import argparse, json, resource, statistics, subprocess, sys, tempfile, time
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

STOCK = '''
import json, resource, sys, time
t0 = time.perf_counter()
from fastai.vision.all import *
path, size, epochs, bs, pretrained = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
class Timer(Callback):
    def before_fit(self): self.n, self.t = 0, 0.
    def before_train(self): self.t0 = time.perf_counter()
    def after_train(self): self.t += time.perf_counter() - self.t0; self.n += len(self.dls.train.dataset)
set_seed(42, reproducible=True)
dls = DataBlock(blocks=(ImageBlock, CategoryBlock), get_items=get_image_files, splitter=RandomSplitter(0.2, seed=42),
                get_y=parent_label, item_tfms=Resize(size), batch_tfms=aug_transforms()).dataloaders(path, bs=bs)
learn = vision_learner(dls, resnet18, metrics=accuracy, pretrained=bool(int(pretrained))) # weights from the torch cache (TORCH_HOME)
timer = Timer()
with learn.no_bar(), learn.no_logging():
    learn.fine_tune(epochs, cbs=[timer])
acc = float(learn.validate()[1])
print(json.dumps(dict(wall=time.perf_counter()-t0, accuracy=acc, train_ips=timer.n/timer.t if timer.t else 0, bs=dls.train.bs,
                      peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss/1024)))
'''

OURS = '''
import json, resource, sys, time
t0 = time.perf_counter()
from transferkit.pipeline import train_folder
path, out, size, epochs, bs, pretrained = sys.argv[1:7]
res = train_folder(path, out, size=int(size), epochs=int(epochs), bs=int(bs), pretrained=bool(int(pretrained)), progress=False) # weights from the torch cache
rows = res['record']['epochs']
print(json.dumps(dict(wall=time.perf_counter()-t0, accuracy=res['accuracy'], bf16=res['record']['bf16'], channels_last=res['record'].get('channels_last', False), bs=res['learn'].dls.train.bs,
                      train_ips=sum(r['train_images'] for r in rows)/sum(r['train_seconds'] for r in rows),
                      peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss/1024)))
'''

BARE = '''
import json, sys, time, torch
from fastai.vision.all import *
size, bs, n_cls = int(sys.argv[1]), int(sys.argv[2]), 3
x, y = torch.randn(bs, 3, size, size), torch.randint(0, n_cls, (bs,))
def ips(bf16, channels_last):
    model = create_vision_model(resnet18, n_cls, pretrained=False).train()
    opt = torch.optim.AdamW(model.parameters(), 1e-3, fused=True); lossf = nn.CrossEntropyLoss() # the fastest plain step: fused optimizer
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(memory_format=fmt); xb = x.contiguous(memory_format=fmt)
    def step():
        opt.zero_grad()
        with torch.autocast('cpu', dtype=torch.bfloat16, enabled=bf16): loss = lossf(model(xb).float(), y)
        loss.backward(); opt.step()
    for _ in range(2): step()
    n = 8; t = time.perf_counter()
    for _ in range(n): step()
    return n*bs/(time.perf_counter()-t)
from transferkit.learner import cpu_bf16_supported
res = {f"{'bf16' if b else 'fp32'}{'_cl' if c else ''}": ips(b, c) for b in (False, True) for c in (False, True) if not b or cpu_bf16_supported()}
print(json.dumps(res))
'''

def run(code, *args, env=None):
    res = subprocess.run([sys.executable, '-c', code, *map(str, args)], capture_output=True, text=True, env=env)
    if res.returncode: sys.exit(f'bench step failed:\n{res.stderr[-3000:]}')
    return json.loads(res.stdout.strip().splitlines()[-1])

def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--per-class', type=int, default=100); p.add_argument('--size', type=int, default=128)
    p.add_argument('--epochs', type=int, default=5); p.add_argument('--bs', type=int, default=32)
    p.add_argument('--repeats', type=int, default=3)
    p.add_argument('--weights', default='', help='a torchvision resnet18 state dict both recipes start from')
    p.add_argument('--pretrain', action='store_true', help='make those weights: resnet18 trained from scratch on a different task')
    p.add_argument('--pretrain-epochs', type=int, default=8)
    p.add_argument('--out', default='bench/out/train_vs_stock.json')
    a = p.parse_args()
    with tempfile.TemporaryDirectory() as d:
        photos = Path(d)/'photos'; make_photos(photos, a.per_class)
        env, pretrained, proxy_acc = None, 0, None
        if a.weights or a.pretrain:
            import os, shutil, torchvision
            cache = Path(d)/'torch'/'hub'/'checkpoints'; cache.mkdir(parents=True)
            file = cache/torchvision.models.ResNet18_Weights.DEFAULT.url.split('/')[-1]
            if a.pretrain:
                t = time.perf_counter(); proxy_acc = pretrain_weights(d, file, a.size, a.pretrain_epochs)
                print(f'pretrained on the proxy task: valid accuracy {proxy_acc:.3f}, {time.perf_counter()-t:.0f} s', flush=True)
            else: shutil.copy(a.weights, file)
            env, pretrained = os.environ | {'TORCH_HOME': str(Path(d)/'torch')}, 1
        runs = {'stock': [], 'transferkit': []}
        bare = {} # batch size -> bare step results
        for r in range(a.repeats):
            # alternate the order so drift on a shared machine does not favour one side
            for name in (['stock', 'transferkit'] if r % 2 == 0 else ['transferkit', 'stock']):
                res = run(STOCK, photos, a.size, a.epochs, a.bs, pretrained, env=env) if name == 'stock' else \
                      run(OURS, photos, Path(d)/f'out{r}', a.size, a.epochs, a.bs, pretrained, env=env)
                runs[name].append(res); print(name, r, json.dumps(res), flush=True)
            for bs in {x['bs'] for v in runs.values() for x in v}: bare.setdefault(bs, []).append(run(BARE, a.size, bs))
    med = lambda name, k: statistics.median(x[k] for x in runs[name])
    # each side's efficiency against the bare step at its own batch size, precision and memory format
    # (transferkit: bfloat16 where the CPU has it, channels-last on the CPU)
    tk_bf16, tk_cl = (any(x.get(k) for x in runs['transferkit']) for k in ('bf16', 'channels_last'))
    variant = {'stock': 'fp32', 'transferkit': ('bf16' if tk_bf16 else 'fp32') + ('_cl' if tk_cl else '')}
    bs_of = {name: statistics.mode(x['bs'] for x in runs[name]) for name in runs}
    bare_ips = {name: statistics.median(b[variant[name]] for b in bare[bs_of[name]]) for name in runs}
    summary = {name: dict(wall_s=med(name, 'wall'), accuracy=med(name, 'accuracy'), peak_rss_mb=med(name, 'peak_rss_mb'), train_ips=med(name, 'train_ips'),
                          bs=bs_of[name], bare_ips=bare_ips[name], efficiency=med(name, 'train_ips')/bare_ips[name]) for name in runs}
    summary['ratio'] = dict(wall=summary['transferkit']['wall_s']/summary['stock']['wall_s'],
                            peak_rss=summary['transferkit']['peak_rss_mb']/summary['stock']['peak_rss_mb'],
                            accuracy_points=100*(summary['transferkit']['accuracy']-summary['stock']['accuracy']))
    summary['bare_variant'] = variant; summary['pretrained'] = bool(pretrained); summary['proxy_accuracy'] = proxy_acc
    summary['settings'] = vars(a) | dict(images=3*a.per_class, photo_size='1024x768', runs=runs, bare=bare)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True); Path(a.out).write_text(json.dumps(summary, indent=1))
    print(f"\n{'':12}{'wall s':>8}{'acc':>8}{'peak MB':>9}{'bs':>4}{'img/s':>8}{'bare':>8}{'effic.':>8}")
    for name in ('stock', 'transferkit'):
        s = summary[name]; print(f"{name:12}{s['wall_s']:8.1f}{s['accuracy']:8.3f}{s['peak_rss_mb']:9.0f}{s['bs']:4}{s['train_ips']:8.1f}{s['bare_ips']:8.1f}{s['efficiency']:8.2f}")
    r = summary['ratio']; print(f"transferkit/stock: wall {r['wall']:.2f}x, peak RSS {r['peak_rss']:.2f}x, accuracy {r['accuracy_points']:+.1f} points; "
                               f"bare step: {variant}; weights: {'pretrained' if pretrained else 'random'}")

if __name__ == '__main__': main()

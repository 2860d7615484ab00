"""Stock fastai course recipe vs transferkit's `train_folder`, on the same full-size JPEG photos, in one run.

Reports per recipe (median over --repeats): wall time, peak RSS, validation accuracy, and efficiency =
training images/s divided by the bare model step's images/s (random tensors, same model, size, batch and
precision: transferkit trains in bfloat16 autocast on CPUs that compute it natively, the stock recipe in float32).

The photos: three easy classes (crops of three photos bundled with scikit-image: a cat, coffee, a rocket),
jittered and written as 1024x768 JPEGs. Offline there are no ImageNet weights, so both recipes start from
random weights unless --weights FILE is given: the stock recipe then still runs `fine_tune` (one frozen
epoch, then --epochs), transferkit trains the whole network for --epochs (one-cycle), as each does by default.

    ./dev bench train_vs_stock [--per-class 100] [--size 128] [--epochs 5] [--repeats 3]
"""
import argparse, json, resource, statistics, subprocess, sys, tempfile, time
from pathlib import Path

def make_photos(dest, per_class, seed=0):
    "1024x768 JPEG crops of three bundled photos, one folder per class"
    import numpy as np
    from PIL import Image, ImageEnhance
    from skimage import data
    rng = np.random.default_rng(seed)
    for label, img in [('cat', data.chelsea()), ('coffee', data.coffee()), ('rocket', data.rocket())]:
        src = Image.fromarray(img).convert('RGB'); W, H = src.size
        (Path(dest)/label).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            s = rng.uniform(0.45, 0.9); w, h = int(W*s), int(H*s)
            x, y = rng.integers(0, W-w+1), rng.integers(0, H-h+1)
            im = src.crop((x, y, x+w, y+h)).resize((1024, 768), Image.Resampling.BICUBIC)
            if rng.random() < 0.5: im = im.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
            im = ImageEnhance.Brightness(im).enhance(rng.uniform(0.7, 1.3))
            im.save(Path(dest)/label/f'{i:04d}.jpg', quality=90)

STOCK = '''
import json, resource, sys, time
t0 = time.perf_counter()
from fastai.vision.all import *
from fastai.callback.core import Callback
path, size, epochs, bs, weights = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
class Timer(Callback):
    def before_fit(self): self.n, self.t = 0, 0.
    def before_train(self): self.t0 = time.perf_counter()
    def after_train(self): self.t += time.perf_counter() - self.t0; self.n += len(self.dls.train.dataset)
set_seed(42, reproducible=True)
dls = DataBlock(blocks=(ImageBlock, CategoryBlock), get_items=get_image_files, splitter=RandomSplitter(0.2, seed=42),
                get_y=parent_label, item_tfms=Resize(size), batch_tfms=aug_transforms()).dataloaders(path, bs=bs)
learn = vision_learner(dls, resnet18, metrics=accuracy, pretrained=False)
if weights:
    from transferkit.learner import load_body_weights
    load_body_weights(learn, resnet18, weights); dls.add_tfms([Normalize.from_stats(*imagenet_stats)], 'after_batch')
timer = Timer(); n = t = 0
with learn.no_bar(), learn.no_logging():
    learn.fine_tune(epochs, cbs=[timer])
acc = float(learn.validate()[1])
print(json.dumps(dict(wall=time.perf_counter()-t0, accuracy=acc, train_ips=timer.n/timer.t if timer.t else 0,
                      peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss/1024)))
'''

OURS = '''
import json, resource, sys, time
t0 = time.perf_counter()
from transferkit.pipeline import train_folder
path, out, size, epochs, bs, weights = sys.argv[1:7]
res = train_folder(path, out, size=int(size), epochs=int(epochs), bs=int(bs), pretrained=bool(weights), weights=weights or None, progress=False)
rows = res['record']['epochs']
print(json.dumps(dict(wall=time.perf_counter()-t0, accuracy=res['accuracy'], bf16=res['record']['bf16'],
                      train_ips=sum(r['train_images'] for r in rows)/sum(r['train_seconds'] for r in rows),
                      peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss/1024)))
'''

BARE = '''
import json, sys, time, torch
from fastai.vision.all import *
size, bs, n_cls = int(sys.argv[1]), int(sys.argv[2]), 3
model = create_vision_model(resnet18, n_cls, pretrained=False)
opt = torch.optim.Adam(model.parameters(), 1e-3); lossf = nn.CrossEntropyLoss()
x, y = torch.randn(bs, 3, size, size), torch.randint(0, n_cls, (bs,))
def step():
    opt.zero_grad(); lossf(model(x), y).backward(); opt.step()
model.train()
def ips(ctx):
    with ctx:
        for _ in range(2): step()
        n = 8; t = time.perf_counter()
        for _ in range(n): step()
    return n*bs/(time.perf_counter()-t)
from transferkit.learner import cpu_bf16_supported
print(json.dumps(dict(bare_ips=ips(torch.autocast('cpu', enabled=False)),
                      bare_bf16_ips=ips(torch.autocast('cpu', dtype=torch.bfloat16)) if cpu_bf16_supported() else None)))
'''

def run(code, *args):
    res = subprocess.run([sys.executable, '-c', code, *map(str, args)], capture_output=True, text=True)
    if res.returncode: sys.exit(f'bench step failed:\n{res.stderr[-3000:]}')
    return json.loads(res.stdout.strip().splitlines()[-1])

def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--per-class', type=int, default=100); p.add_argument('--size', type=int, default=128)
    p.add_argument('--epochs', type=int, default=5); p.add_argument('--bs', type=int, default=32)
    p.add_argument('--repeats', type=int, default=3); p.add_argument('--weights', default='')
    p.add_argument('--out', default='bench/out/train_vs_stock.json')
    a = p.parse_args()
    with tempfile.TemporaryDirectory() as d:
        photos = Path(d)/'photos'; make_photos(photos, a.per_class)
        runs = {'stock': [], 'transferkit': []}
        bare = []
        for r in range(a.repeats):
            # alternate the order so drift on a shared machine does not favour one side
            for name in (['stock', 'transferkit'] if r % 2 == 0 else ['transferkit', 'stock']):
                res = run(STOCK, photos, a.size, a.epochs, a.bs, a.weights) if name == 'stock' else \
                      run(OURS, photos, Path(d)/f'out{r}', a.size, a.epochs, a.bs, a.weights)
                runs[name].append(res); print(name, r, json.dumps(res), flush=True)
            bare.append(run(BARE, a.size, a.bs))
    med = lambda name, k: statistics.median(x[k] for x in runs[name])
    bare_ips = statistics.median(b['bare_ips'] for b in bare)
    # each side's efficiency against the bare step at its own precision (transferkit uses bfloat16 where the CPU has it)
    tk_bf16 = any(x.get('bf16') for x in runs['transferkit'])
    bare_tk = statistics.median(b['bare_bf16_ips'] for b in bare) if tk_bf16 else bare_ips
    summary = {name: dict(wall_s=med(name, 'wall'), accuracy=med(name, 'accuracy'), peak_rss_mb=med(name, 'peak_rss_mb'), train_ips=med(name, 'train_ips'),
                          efficiency=med(name, 'train_ips')/(bare_tk if name == 'transferkit' else bare_ips)) for name in runs}
    summary['ratio'] = dict(wall=summary['transferkit']['wall_s']/summary['stock']['wall_s'],
                            peak_rss=summary['transferkit']['peak_rss_mb']/summary['stock']['peak_rss_mb'],
                            accuracy_points=100*(summary['transferkit']['accuracy']-summary['stock']['accuracy']))
    summary['bare_ips'] = bare_ips; summary['bare_ips_transferkit_precision'] = bare_tk; summary['transferkit_bf16'] = tk_bf16
    summary['settings'] = vars(a) | dict(images=3*a.per_class, photo_size='1024x768', runs=runs)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True); Path(a.out).write_text(json.dumps(summary, indent=1))
    print(f"\n{'':12}{'wall s':>8}{'acc':>8}{'peak MB':>9}{'img/s':>8}{'effic.':>8}")
    for name in ('stock', 'transferkit'):
        s = summary[name]; print(f"{name:12}{s['wall_s']:8.1f}{s['accuracy']:8.3f}{s['peak_rss_mb']:9.0f}{s['train_ips']:8.1f}{s['efficiency']:8.2f}")
    r = summary['ratio']; print(f"transferkit/stock: wall {r['wall']:.2f}x, peak RSS {r['peak_rss']:.2f}x, accuracy {r['accuracy_points']:+.1f} points; bare step {bare_ips:.1f} img/s (fp32), {bare_tk:.1f} img/s at transferkit's precision (bf16: {tk_bf16})")

if __name__ == '__main__': main()

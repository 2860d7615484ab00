"""Stock fastai segmentation recipe vs `transferkit train-seg`, on the same images, split and epochs, in one run, as whole processes.

The data, --n JPEGs --orig-size px high, exact masks, 3 classes, trained at --size px: `--scenes textures` (the
default, `make_texture_scenes`: 4:3 full-size scenes of scikit-image's brick and grass in their own colours on gravel
or photo crops) or `--scenes shapes` (`transferkit.segment.make_seg_data`: discs and squares of striped and checked
textures on smooth noise, up to 1.25x as wide; from scratch both recipes stay blank on these).

The stock side is the course's recipe as a script: `SegmentationDataLoaders.from_label_func(path, fnames, label_func,
codes, item_tfms=Resize(size, method='squish'), batch_tfms=aug_transforms())` (squish: transferkit's geometry, so
both validate the same pixels), `unet_learner(dls, resnet18)`, `fine_tune(epochs)`, `learn.export()`. The
transferkit side is the `transferkit train-seg` command as a user runs it. Both are timed from outside the process
(interpreter start to exit), validate on the same images (the list is checked) and report mean IoU on them the same
way (pixels of the validation images at the training size, IoU per class over all of them, the mean over classes).

Offline there are no ImageNet weights, so by default both start from the same proxy-pretrained resnet18 (the idea
of bench/train_vs_stock.py: resnet18 trained from scratch on eight other scikit-image photos, put into a private
torch cache, so both load it as they load ImageNet weights and both run `fine_tune`). --weights FILE uses a
state dict you have instead; --scratch starts both from random weights (stock: `fit_one_cycle(epochs, 2e-3)`).

Each of --seeds draws new images (the data maker's seed), a new split and a new training seed, the same on both sides;
transferkit runs under each `TRANSFERKIT_BF16` setting of --bf16 (default `auto,0`: the CPU decides, then bfloat16 forced
off), so one run shows the ratios with and without native bfloat16. Reported: mean IoU over the seeds, the median of
the per-seed wall ratios.

    python bench/seg_vs_stock.py [--scenes textures|shapes] [--n 80] [--orig-size 768] [--size 64] [--epochs 4] [--bs 8|auto] [--seeds 3] [--bf16 auto,0] [--weights FILE | --scratch]
"""
import argparse, hashlib, json, math, os, resource, subprocess, sys, tempfile, time
from pathlib import Path

STOCK = '''
import hashlib, json, sys, time
from fastai.vision.all import *
path, out, size, epochs, bs, pretrained, seed = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), bool(int(sys.argv[6])), int(sys.argv[7])
codes = np.loadtxt(path/'codes.txt', dtype=str)
fnames = sorted(get_image_files(path/'images'))
def label_func(fn): return path/'masks'/f'{fn.stem}.png'
set_seed(seed, reproducible=True)
dls = SegmentationDataLoaders.from_label_func(path, fnames, label_func, codes=codes, valid_pct=0.2, seed=seed, bs=bs,
                                              item_tfms=Resize(size, method='squish'), batch_tfms=aug_transforms())
learn = unet_learner(dls, resnet18, pretrained=pretrained) # weights from the torch cache (TORCH_HOME)
with learn.no_bar(), learn.no_logging():
    if pretrained: learn.fine_tune(epochs)
    else: learn.fit_one_cycle(epochs, 2e-3)
out.mkdir(parents=True, exist_ok=True); learn.export(out/'export.pkl')
with learn.no_bar(): probs, targs = learn.get_preds()
n = len(codes); t, p = targs.flatten().long(), probs.argmax(1).flatten()
cm = torch.bincount(t*n + p, minlength=n*n).view(n, n).double()
tp = cm.diag(); union = cm.sum(0) + cm.sum(1) - tp
iou = [float(tp[i]/union[i]) for i in range(n) if union[i] > 0]
valid = sorted(Path(f).stem for f in dls.valid_ds.items)
print(json.dumps(dict(mean_iou=sum(iou)/len(iou), valid=hashlib.sha256('\\n'.join(valid).encode()).hexdigest(), bs=dls.train.bs)))
'''

TEXTURE_CODES = ['background', 'brick', 'grass']

def make_texture_scenes(dest, n, size, seed):
    """`n` full-size photo-like scenes (`size` high, 4:3, JPEG quality 85-95) with exact masks: a background of
    scikit-image's gravel or a crop of one of its colour photos, and one to three regions (discs, ellipses, turned
    rectangles, polygons) of its brick and grass photos at a random scale; the grey textures in their own colours
    (brick red, grass green, gravel grey-brown) give or take 15% a channel, each lit and noised at random"""
    import numpy as np
    from PIL import Image, ImageDraw
    from skimage import data
    rng = np.random.default_rng(seed); dest = Path(dest); H, W = size, size*4//3
    tex = {k: getattr(data, k)().astype(np.float32) for k in ('brick', 'grass', 'gravel')}
    photos = [data.coffee(), data.chelsea(), data.astronaut(), data.rocket()]
    tint = dict(brick=(1.15, 0.7, 0.55), grass=(0.6, 1.1, 0.5), gravel=(0.95, 0.9, 0.8)) # their colours, as photographed
    def layer(src, zoom, colour=(1, 1, 1)):
        "`src` tiled, a random window of it zoomed by `zoom` to (H, W), in `colour` give or take 15%: float (H, W, 3)"
        h, w = max(8, int(H/zoom)), max(8, int(W/zoom))
        t = np.tile(src, (h//src.shape[0] + 2, w//src.shape[1] + 2) + (1,)*(src.ndim - 2))
        y, x = rng.integers(0, t.shape[0] - h), rng.integers(0, t.shape[1] - w)
        a = t[y:y+h, x:x+w]
        a = np.asarray(Image.fromarray(np.clip(a, 0, 255).astype(np.uint8)).resize((W, H), Image.Resampling.BICUBIC), np.float32)
        if a.ndim == 2: a = a[..., None].repeat(3, 2)
        return a*np.asarray(colour)*rng.uniform(0.85, 1.15, 3)*rng.uniform(0.8, 1.2)
    def photo():
        "A crop (40-90% of the side) of one of `photos`, resized to (H, W), lit at random: float (H, W, 3)"
        p = photos[rng.integers(len(photos))]; s = rng.uniform(0.4, 0.9)
        h, w = int(min(p.shape[0], p.shape[1]*H/W)*s), int(min(p.shape[0], p.shape[1]*H/W)*s*W/H)
        y, x = rng.integers(0, p.shape[0] - h + 1), rng.integers(0, p.shape[1] - w + 1)
        return np.asarray(Image.fromarray(p[y:y+h, x:x+w]).resize((W, H), Image.Resampling.BICUBIC), np.float32)*rng.uniform(0.8, 1.2)
    for i in range(n):
        img = layer(tex['gravel'], rng.uniform(1.5, 4), tint['gravel']) if rng.random() < 0.5 else photo()
        mask = Image.new('L', (W, H), 0)
        for _ in range(rng.integers(1, 4)):
            cls = int(rng.integers(1, 3)); r = rng.uniform(0.12, 0.3)*H
            cx, cy = rng.uniform(0.5*r, W - 0.5*r), rng.uniform(0.5*r, H - 0.5*r)
            m = Image.new('L', (W, H), 0); d = ImageDraw.Draw(m); kind = rng.integers(4); a0 = rng.uniform(0, 2*math.pi)
            if kind == 0: d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=1)
            elif kind == 1: d.ellipse([cx - r, cy - 0.6*r, cx + r, cy + 0.6*r], fill=1)
            else:
                k = 4 if kind == 2 else int(rng.integers(5, 9))
                rs = [r]*k if kind == 2 else rng.uniform(0.6, 1, k)*r
                d.polygon([(cx + q*math.cos(a0 + 2*math.pi*j/k), cy + q*math.sin(a0 + 2*math.pi*j/k)) for j, q in enumerate(rs)], fill=1)
            inside = np.asarray(m, bool)
            img[inside] = layer(tex[TEXTURE_CODES[cls]], rng.uniform(2, 4), tint[TEXTURE_CODES[cls]])[inside]
            mask.paste(cls, mask=m.point(lambda v: 255*v))
        img = np.clip(img + rng.normal(0, 4, img.shape), 0, 255).astype(np.uint8)
        for sub in ('images', 'masks'): (dest/sub).mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(dest/'images'/f'{i:04d}.jpg', quality=int(rng.integers(85, 96)))
        mask.save(dest/'masks'/f'{i:04d}.png')
    (dest/'codes.txt').write_text('\n'.join(TEXTURE_CODES) + '\n')
    return dest

def _child_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN); return r.ru_utime + r.ru_stime

def run(cmd, env):
    "`(result, wall s, cpu s)` of the process `cmd`: CPU seconds (user + system) depend less on what else the shared machine runs"
    t, c = time.perf_counter(), _child_cpu()
    res = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if res.returncode: sys.exit(f'bench step failed: {" ".join(map(str, cmd[:4]))}\n{res.stderr[-3000:]}')
    return res, time.perf_counter() - t, _child_cpu() - c

def run_stock(data, out, a, pretrained, env, seed):
    res, wall, cpu = run([sys.executable, '-c', STOCK, *map(str, (data, out, a.size, a.epochs, 64 if a.bs == 'auto' else a.bs, int(pretrained), seed))], env)
    return json.loads(res.stdout.strip().splitlines()[-1]) | dict(wall=wall, cpu=cpu)

def run_ours(data, out, a, pretrained, env, seed):
    args = ['train-seg', data, '--out', out, '--size', a.size, '--epochs', a.epochs, *([] if a.bs == 'auto' else ['--bs', a.bs]), '--seed', seed] + ([] if pretrained else ['--no-pretrained'])
    res, wall, cpu = run([str(Path(sys.executable).parent/'transferkit'), *map(str, args)], env) # the console command, as a user runs it
    rep, rec = json.loads((Path(out)/'report.json').read_text()), json.loads((Path(out)/'training.json').read_text())
    valid = sorted(Path(r['file']).stem for r in rep['images'])
    return dict(mean_iou=rep['mean_iou'], mean_dice=rep['mean_dice'], valid=hashlib.sha256('\n'.join(valid).encode()).hexdigest(),
                bs=rec['bs'], bf16=rec['bf16'], channels_last=rec['channels_last'], wall=wall, cpu=cpu)

def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--scenes', default='textures', choices=['textures', 'shapes'], help="textures: brick and grass regions on gravel or photos (make_texture_scenes); shapes: transferkit's make_seg_data")
    p.add_argument('--n', type=int, default=80); p.add_argument('--orig-size', type=int, default=768)
    p.add_argument('--size', type=int, default=64); p.add_argument('--epochs', type=int, default=4); p.add_argument('--bs', default='8', help="a batch size for both, or auto: each recipe's default (stock: fastai's 64; transferkit: its rule)")
    p.add_argument('--weights', default='', help='a torchvision resnet18 state dict both recipes start from')
    p.add_argument('--scratch', action='store_true', help='both from random weights (no proxy pretraining)')
    p.add_argument('--pretrain-epochs', type=int, default=6); p.add_argument('--pretrain-size', type=int, default=64)
    p.add_argument('--seeds', type=int, default=3, help='data, split and training seeds: N of them, from --seed-start')
    p.add_argument('--seed-start', type=int, default=0, help='the first seed: shards of one study run side by side')
    p.add_argument('--bf16', default='auto,0', help='TRANSFERKIT_BF16 settings to time transferkit under, comma-separated (auto: unset)')
    p.add_argument('--out', default='bench/out/seg_vs_stock.json')
    a = p.parse_args()
    import statistics as st
    from transferkit.segment import make_seg_data
    modes = [m.strip() for m in a.bf16.split(',')]
    with tempfile.TemporaryDirectory() as d:
        env, pretrained, proxy_acc = dict(os.environ, TRANSFERKIT_OFFLINE='1', MPLBACKEND='Agg'), not a.scratch, None
        env.pop('TRANSFERKIT_BF16', None)
        if pretrained:
            import shutil, torchvision
            sys.path.insert(0, str(Path(__file__).parent))
            from train_vs_stock import pretrain_weights
            cache = Path(d)/'torch'/'hub'/'checkpoints'; cache.mkdir(parents=True)
            file = cache/torchvision.models.ResNet18_Weights.DEFAULT.url.split('/')[-1]
            if a.weights: shutil.copy(a.weights, file)
            else:
                t = time.perf_counter(); proxy_acc = pretrain_weights(d, file, a.pretrain_size, a.pretrain_epochs, per_class=40)
                print(f'pretrained on the proxy task: valid accuracy {proxy_acc:.3f}, {time.perf_counter()-t:.0f} s', flush=True)
            env['TORCH_HOME'] = str(Path(d)/'torch')
        runs = []
        for seed in range(a.seed_start, a.seed_start + a.seeds):
            make = make_texture_scenes if a.scenes == 'textures' else make_seg_data
            data = make(Path(d)/f'data-{seed}', a.n, a.orig_size, seed)
            row = dict(seed=seed, stock=run_stock(data, Path(d)/f'out-stock-{seed}', a, pretrained, env, seed))
            for m in modes:
                e = dict(env, **({} if m == 'auto' else {'TRANSFERKIT_BF16': m}))
                row[f'transferkit-bf16-{m}'] = run_ours(data, Path(d)/f'out-tk-{m}-{seed}', a, pretrained, e, seed)
                assert row['stock']['valid'] == row[f'transferkit-bf16-{m}']['valid'], 'the recipes validated on different images'
            runs.append(row); print(json.dumps(row), flush=True)
    names = ['stock'] + [f'transferkit-bf16-{m}' for m in modes]
    summary = {n: dict(mean_iou=st.mean(r[n]['mean_iou'] for r in runs), sd_iou=st.pstdev([r[n]['mean_iou'] for r in runs]),
                       median_wall=st.median(r[n]['wall'] for r in runs), median_cpu=st.median(r[n]['cpu'] for r in runs)) for n in names}
    for n in names[1:]:
        summary[n] |= dict(wall_ratio=st.median(r[n]['wall']/r['stock']['wall'] for r in runs), cpu_ratio=st.median(r[n]['cpu']/r['stock']['cpu'] for r in runs),
                           iou_points=100*(summary[n]['mean_iou'] - summary['stock']['mean_iou']))
        diffs = [100*(r[n]['mean_iou'] - r['stock']['mean_iou']) for r in runs] # paired: the same images and split
        summary[n] |= dict(iou_points_per_seed=diffs, iou_points_se=st.stdev(diffs)/len(diffs)**0.5 if len(diffs) > 1 else float('nan'))
    out = dict(runs=runs, summary=summary, load_average=os.getloadavg(), pretrained=pretrained, proxy_accuracy=proxy_acc, identical_split=True, settings=vars(a))
    Path(a.out).parent.mkdir(parents=True, exist_ok=True); Path(a.out).write_text(json.dumps(out, indent=1))
    print(f"\n{a.seeds} seed(s); same images and validation images on both sides (checked); start: {'proxy-pretrained' if pretrained else 'random'} resnet18")
    for n in names:
        r = summary[n]; extra = f"   ratio {r['wall_ratio']:.2f}x wall, {r['cpu_ratio']:.2f}x CPU (goal <= 0.7x), IoU {r['iou_points']:+.1f} ± {r['iou_points_se']:.1f} points paired (goal: within 1)" if n != 'stock' else ''
        print(f"{n:22} median wall {r['median_wall']:6.1f} s   CPU {r['median_cpu']:6.1f} s   mean IoU {r['mean_iou']:.3f} ± {r['sd_iou']:.3f}{extra}")
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")

if __name__ == '__main__': main()

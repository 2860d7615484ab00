"""torchvision's reference detection training loop vs `transferkit train-detect`: same model, data, size and epochs;
whole processes.

The data, made offline: `transferkit.detect.make_detect_data` with scikit-image's bundled colour photos as
backgrounds (astronaut, coffee, chelsea, rocket, immunohistochemistry, hubble_deep_field: random crops) and discs,
squares and triangles of random colours, sizes and turns pasted on them, exact boxes, some scenes empty: --n scenes
--img-size px high (up to 1.25x as wide) to train on, and 60 held-out scenes on other photos (colorwheel, retina,
camera, coins: none of them a training background) that both sides predict.

The stock side is torchvision's detection tutorial as a script: a `Dataset` of the COCO file (images as tensors,
boxes in pixels, a random horizontal flip),
`DataLoader(batch_size=--stock-bs, shuffle=True, collate_fn=tuple(zip(*batch)))`,
the tutorial's `SGD(lr=0.005, momentum=0.9, weight_decay=0.0005)` with `StepLR(step_size=3, gamma=0.1)` and its
`train_one_epoch` (references/detection/engine.py: a linear warm-up over the first epoch's first 1000 steps, the
sum of the loss dict, a step per batch), --epochs times. The model is the same on both sides: transferkit's default
detector (`transferkit.detect.detector`, Faster R-CNN on resnet18 + FPN, GroupNorm body, from scratch) for --size px
inputs. The transferkit side is `transferkit train-detect DATA --out DIR --size S --epochs E --seed s --no-pretrained`
then `transferkit predict-detect DIR HELD --out P --threshold 0.05`, as a user runs them. Both train on the same images:
the 80% that `train-detect` keeps after its seeded split (fastai's `RandomSplitter(0.2, seed)`, done the same way in
the stock script), at --size px (the stock model's own transform resizes each image to fit --size, keeping its
aspect; transferkit squishes it to --size x --size).

Both sides are scored the same way: COCO mAP@0.5 and mAP@[.5:.95] (torchmetrics' MeanAveragePrecision) of their
held-out predictions in the input images' pixels, against the exact boxes. Each of --seeds draws new scenes and a new
training seed, the same on both sides. Reported per seed and as mean and spread (min-max), with the ratio of whole-
process wall times (interpreter start to exit; CPU seconds too, which depend less on a busy machine).

    python bench/detect_vs_stock.py [--n 150] [--img-size 256] [--size 256] [--epochs 12] [--seeds 3] [--stock-bs 2]
"""
import argparse, json, os, resource, subprocess, sys, tempfile, time
from pathlib import Path

STOCK = r'''
import json, math, sys, time, torch, torchvision
from pathlib import Path
from PIL import Image
from transferkit.detect import detector, DEFAULT_DETECTOR
data, held, out = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
size, epochs, bs, seed = int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]), int(sys.argv[7])
torch.manual_seed(seed)
doc = json.loads((data/'annotations.json').read_text())
cats = [c['id'] for c in sorted(doc['categories'], key=lambda c: c['id'])]

class Shapes(torch.utils.data.Dataset): # the tutorial's PennFudanDataset, for a COCO file
    def __init__(self, root, doc):
        self.root, self.images = root, doc['images']
        self.anns = {im['id']: [] for im in doc['images']}
        for a in doc['annotations']: self.anns[a['image_id']].append(a)
    def __len__(self): return len(self.images)
    def __getitem__(self, i):
        im = self.images[i]
        img = torchvision.transforms.functional.to_tensor(Image.open(self.root/'images'/im['file_name']).convert('RGB'))
        a = self.anns[im['id']]
        boxes = torch.tensor([[x, y, x + w, y + h] for x, y, w, h in (b['bbox'] for b in a)],
                             dtype=torch.float32).reshape(-1, 4)
        labels = torch.tensor([cats.index(b['category_id']) + 1 for b in a], dtype=torch.int64)
        if torch.rand(1) < 0.5: # RandomHorizontalFlip(0.5)
            img = img.flip(-1)
            boxes[:, [0, 2]] = img.shape[-1] - boxes[:, [2, 0]]
        return img, dict(boxes=boxes, labels=labels)

def train_one_epoch(model, optimizer, data_loader, device, epoch): # torchvision references/detection/engine.py
    model.train()
    lr_scheduler = None
    if epoch == 0:
        warmup_factor, warmup_iters = 1.0 / 1000, min(1000, len(data_loader) - 1)
        lr_scheduler = torch.optim.lr_scheduler.LinearLR(optimizer, start_factor=warmup_factor,
                                                         total_iters=warmup_iters)
    for images, targets in data_loader:
        images = list(image.to(device) for image in images)
        targets = [{k: v.to(device) for k, v in t.items()} for t in targets]
        loss_dict = model(images, targets)
        losses = sum(loss for loss in loss_dict.values())
        if not math.isfinite(losses.item()): sys.exit(f"Loss is {losses.item()}, stopping training")
        optimizer.zero_grad()
        losses.backward()
        optimizer.step()
        if lr_scheduler is not None: lr_scheduler.step()

model = detector(DEFAULT_DETECTOR, len(cats) + 1, size)
# the training images `train-detect` keeps: fastai's RandomSplitter(0.2, seed)
torch.manual_seed(seed)
cut = int(0.2*len(doc['images']))
train = torch.utils.data.Subset(Shapes(data, doc), torch.randperm(len(doc['images']))[cut:].tolist())
torch.manual_seed(seed)
loader = torch.utils.data.DataLoader(train, batch_size=bs, shuffle=True, num_workers=0,
                                     collate_fn=lambda b: tuple(zip(*b)))
params = [p for p in model.parameters() if p.requires_grad]
optimizer = torch.optim.SGD(params, lr=0.005, momentum=0.9, weight_decay=0.0005)
lr_scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=3, gamma=0.1)
for epoch in range(epochs):
    train_one_epoch(model, optimizer, loader, 'cpu', epoch)
    lr_scheduler.step()
model.eval()
results = []
with torch.no_grad():
    for k, f in enumerate(sorted((held/'images').iterdir()), 1):
        # boxes come back in the input's pixels
        o = model([torchvision.transforms.functional.to_tensor(Image.open(f).convert('RGB'))])[0]
        for b, l, s in zip(o['boxes'].tolist(), o['labels'].tolist(), o['scores'].tolist()):
            results.append(dict(image_id=k, file_name=f.name, category_id=cats[l - 1],
                                bbox=[b[0], b[1], b[2] - b[0], b[3] - b[1]], score=s))
out.mkdir(parents=True, exist_ok=True)
(out/'predictions.json').write_text(json.dumps(results))
'''

PHOTOS = ('astronaut', 'coffee', 'chelsea', 'rocket', 'immunohistochemistry', 'hubble_deep_field')
HELD_PHOTOS = ('colorwheel', 'retina', 'camera', 'coins')
# (skimage's `cat` is `chelsea`: the held-out scenes used to share two photos with the training ones)

def photos(names):
    import numpy as np
    from skimage import data
    arrays = [np.asarray(getattr(data, n)()) for n in names]
    return [np.stack([a]*3, -1) if a.ndim == 2 else a[..., :3] for a in arrays] # grey photos as RGB

def _child_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime

def run(cmd, env):
    "`(wall s, cpu s)` of the process `cmd`"
    t, c = time.perf_counter(), _child_cpu()
    res = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if res.returncode: sys.exit(f'bench step failed: {" ".join(map(str, cmd[:4]))}\n{res.stderr[-3000:]}')
    return time.perf_counter() - t, _child_cpu() - c

def score(pred_file, held) -> dict:
    "mAP@0.5 and mAP@[.5:.95] of the COCO results in `pred_file` against the held-out set `held`"
    import torch
    from transferkit.detect import read_coco, _map
    images, classes = read_coco(held)
    ids = dict(zip(classes['names'], classes['ids']))
    # predictions name the files relative to the folder given
    by_file = {Path(im['file']).name: ([], [], []) for im in images}
    for r in json.loads(Path(pred_file).read_text()):
        x, y, w, h = r['bbox']
        p = by_file[r['file_name']]
        p[0].append([x, y, x + w, y + h])
        p[1].append(r['score'])
        p[2].append(r['category_id'])
    preds = [dict(boxes=torch.tensor(b, dtype=torch.float32).reshape(-1, 4),
                  scores=torch.tensor(s, dtype=torch.float32), labels=torch.tensor(l, dtype=torch.long))
             for b, s, l in (by_file[Path(im['file']).name] for im in images)]
    targs = [dict(boxes=torch.tensor(im['boxes'], dtype=torch.float32).reshape(-1, 4),
                  labels=torch.tensor([ids[l] for l in im['labels']], dtype=torch.long)) for im in images]
    r = _map(preds, targs)
    return dict(map_50=float(r['map_50']), map=float(r['map']))

def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--n', type=int, default=150)
    p.add_argument('--img-size', type=int, default=256)
    p.add_argument('--size', type=int, default=256)
    p.add_argument('--epochs', type=int, default=12)
    p.add_argument('--seeds', type=int, default=3)
    p.add_argument('--first-seed', type=int, default=0)
    p.add_argument('--stock-bs', type=int, default=2, help="the tutorial's batch size")
    p.add_argument('--threads', type=int, default=int(os.environ.get('OMP_NUM_THREADS', 2)))
    a = p.parse_args()
    from transferkit.detect import make_detect_data
    env = dict(os.environ, OMP_NUM_THREADS=str(a.threads), TRANSFERKIT_BARS='0', PYTHONWARNINGS='ignore')
    tk = str(Path(sys.executable).parent/'transferkit')
    rows = []
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        train_bg, held_bg = photos(PHOTOS), photos(HELD_PHOTOS)
        for seed in range(a.first_seed, a.first_seed + a.seeds):
            data = make_detect_data(d/f'data{seed}', n=a.n, size=a.img_size, seed=1000 + seed, backgrounds=train_bg)
            held = make_detect_data(d/f'held{seed}', n=60, size=a.img_size, seed=5000 + seed, backgrounds=held_bg)
            sw, sc = run([sys.executable, '-c', STOCK,
                          *map(str, (data, held, d/f'stock{seed}', a.size, a.epochs, a.stock_bs, seed))], env)
            stock = score(d/f'stock{seed}'/'predictions.json', held)
            tw, tc = run([tk, 'train-detect', str(data), '--out', str(d/f'tk{seed}'), '--size', str(a.size),
                          '--epochs', str(a.epochs), '--seed', str(seed), '--no-pretrained'], env)
            pw, pc = run([tk, 'predict-detect', str(d/f'tk{seed}'), str(held/'images'), '--out', str(d/f'pred{seed}'),
                          '--threshold', '0.05'], env)
            ours = score(d/f'pred{seed}'/'predictions.json', held)
            row = dict(seed=seed, stock_map_50=stock['map_50'], stock_map=stock['map'], tk_map_50=ours['map_50'],
                       tk_map=ours['map'], stock_wall=round(sw, 1), tk_wall=round(tw + pw, 1), stock_cpu=round(sc, 1),
                       tk_cpu=round(tc + pc, 1), wall_ratio=round((tw + pw)/sw, 3))
            rows.append(row)
            print(json.dumps(row), flush=True)
    f = lambda k: (sum(r[k] for r in rows)/len(rows), min(r[k] for r in rows), max(r[k] for r in rows))
    for k in ('tk_map_50', 'stock_map_50', 'tk_map', 'stock_map'):
        m, lo, hi = f(k)
        print(f'{k}: mean {m:.3f} (min {lo:.3f}, max {hi:.3f})')
    ratios = sorted(r['wall_ratio'] for r in rows)
    print(f"mAP@0.5 difference (transferkit - stock): {f('tk_map_50')[0] - f('stock_map_50')[0]:+.3f}; "
          f"wall ratio transferkit/stock, median {ratios[len(ratios)//2]:.2f}x "
          f"({a.n} scenes of {a.img_size} px at --size {a.size}, {a.epochs} epochs, {a.threads} thread(s))")

if __name__ == '__main__': main()

"""Study: what makes a torchvision detector on the resnet18 body learn fast from scratch on CPU.
One run per call: python bench/detect_study.py '{"arch": "fcos", ...}'  -> one JSON line (held-out mAP@0.5, s/epoch)."""
import json, sys, time, tempfile
from pathlib import Path
import numpy as np, torch, torchvision
from torch import nn
from torchvision.models.detection import FasterRCNN, FCOS, RetinaNet
from torchvision.models.detection.fcos import FCOSHead
from torchvision.models.detection.retinanet import RetinaNetHead
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.backbone_utils import BackboneWithFPN
from torchvision.ops.feature_pyramid_network import LastLevelMaxPool, LastLevelP6P7, ExtraFPNBlock
from fastai.vision.all import Learner, Adam, set_seed
import transferkit.detect as D
from transferkit.learner import fit_learner

TRAIN_PHOTOS = ('astronaut', 'coffee', 'chelsea', 'rocket', 'immunohistochemistry', 'hubble_deep_field')
HELD_PHOTOS = ('colorwheel', 'retina', 'camera', 'grass', 'brick', 'coins')

def photos(names):
    from skimage import data
    out = []
    for n in names:
        a = np.asarray(getattr(data, n)())
        if a.ndim == 2: a = np.stack([a]*3, -1)
        if a.dtype != np.uint8: a = (255*(a - a.min())/(np.ptp(a) or 1)).astype(np.uint8)
        out.append(a[..., :3])
    return out

class NoExtra(ExtraFPNBlock):
    def forward(self, results, x, names): return results, names

LAYERS = dict(layer1=64, layer2=128, layer3=256, layer4=512)

def build(c, n_classes):
    size = c['size']; ch = c.get('ch', 128); levels = c.get('levels', ['layer2', 'layer3', 'layer4'])
    norm = {'bn': None, 'gn': lambda ch_: nn.GroupNorm(32, ch_), 'frozen': torchvision.ops.FrozenBatchNorm2d}[c.get('body_norm', 'bn')]
    body = torchvision.models.resnet18(weights=None, zero_init_residual=bool(c.get('zir')), **({'norm_layer': norm} if norm else {}))
    extra = {'p6p7': LastLevelP6P7(ch, ch), 'pool': LastLevelMaxPool(), 'none': NoExtra()}[c.get('extra', 'none')]
    bb = BackboneWithFPN(body, {l: str(i) for i, l in enumerate(levels)}, [LAYERS[l] for l in levels], ch, extra_blocks=extra)
    n_maps = len(levels) + {'p6p7': 2, 'pool': 1, 'none': 0}[c.get('extra', 'none')]
    strides = [2**(int(l[-1]) + 1) for l in levels] + [2**(int(levels[-1][-1]) + 2 + i) for i in range(n_maps - len(levels))]
    base = c.get('anchor', 1 if c['arch'] == 'fcos' else 4) # anchor size = base * stride (FCOS: objects of max distance 4-8x it)
    kw = dict(min_size=size, max_size=size)
    arch = c['arch']
    if arch == 'faster':
        ag = AnchorGenerator(tuple((base*s, 2*base*s) for s in strides), ((0.5, 1., 2.),)*n_maps)
        fk = {}
        gn = lambda ch_: nn.GroupNorm(16, ch_)
        if c.get('box_head') == 'conv': # torchvision's v2 recipe: 4 normalised convs and one FC (Li et al. 2021)
            from torchvision.models.detection.faster_rcnn import FastRCNNConvFCHead, FastRCNNPredictor
            fk['box_head'] = FastRCNNConvFCHead((ch, 7, 7), [ch]*c.get('head_convs', 4), [c.get('fc', 1024)], norm_layer=gn)
            fk['box_predictor'] = FastRCNNPredictor(c.get('fc', 1024), n_classes)
        elif c.get('fc'):
            from torchvision.models.detection.faster_rcnn import TwoMLPHead, FastRCNNPredictor
            fk['box_head'] = TwoMLPHead(ch*49, c['fc']); fk['box_predictor'] = FastRCNNPredictor(c['fc'], n_classes)
        if c.get('rpn_convs'):
            from torchvision.models.detection.rpn import RPNHead
            fk['rpn_head'] = RPNHead(ch, ag.num_anchors_per_location()[0], conv_depth=c['rpn_convs'])
        if 'box_predictor' in fk: n_classes = None
        m = FasterRCNN(bb, n_classes, **fk, rpn_anchor_generator=ag, rpn_pre_nms_top_n_train=1000, rpn_post_nms_top_n_train=500,
                       rpn_pre_nms_top_n_test=500, rpn_post_nms_top_n_test=300, box_batch_size_per_image=c.get('box_batch', 128), box_positive_fraction=c.get('pos_frac', 0.25), box_score_thresh=0.01, **kw)
    elif arch == 'fcos':
        ag = AnchorGenerator(tuple((base*s,) for s in strides), ((1.,),)*n_maps)
        head = FCOSHead(ch, 1, n_classes, num_convs=c.get('convs', 4))
        m = FCOS(bb, n_classes, anchor_generator=ag, head=head, score_thresh=0.05, center_sampling_radius=c.get('csr', 1.5), **kw)
    elif arch == 'retina':
        ag = AnchorGenerator(tuple((base*s, round(base*s*1.26), round(base*s*1.59)) for s in strides), ((0.5, 1., 2.),)*n_maps)
        norm = (lambda ch_: nn.GroupNorm(16, ch_)) if c.get('gn') else None
        head = RetinaNetHead(ch, 9, n_classes, norm_layer=norm)
        m = RetinaNet(bb, n_classes, anchor_generator=ag, head=head, score_thresh=0.05, **kw)
    return m

def score(model, held_dir, size):
    images, classes = D.read_coco(held_dir); ids = dict(zip(classes['names'], range(1, 1 + len(classes['names']))))
    model.eval(); preds, targs = [], []
    with torch.no_grad():
        for s in range(0, len(images), 8):
            batch = images[s:s+8]; x = []
            for im in batch:
                from PIL import Image
                img = Image.open(im['file']).convert('RGB').resize((size, size), Image.Resampling.BILINEAR)
                x.append(torch.from_numpy(np.asarray(img).transpose(2, 0, 1).copy()).float()/255)
            for im, o in zip(batch, model(x)):
                sx, sy = im['width']/size, im['height']/size
                b = o['boxes'] * torch.tensor([sx, sy, sx, sy])
                preds.append(dict(boxes=b, scores=o['scores'], labels=o['labels']))
                targs.append(dict(boxes=torch.tensor(im['boxes'], dtype=torch.float32).reshape(-1, 4), labels=torch.tensor([ids[l] for l in im['labels']], dtype=torch.long)))
    r = D._map(preds, targs)
    one = lambda d: dict(d, labels=torch.ones_like(d['labels']))
    ra = D._map([one(p) for p in preds], [one(t) for t in targs]) # class-agnostic: are the shapes found at all?
    return float(r['map_50']), float(r['map']), float(ra['map_50'])

def main():
    c = dict(arch='fcos', size=128, n=100, held=40, epochs=6, lr=1e-3, bs=4, seed=0, data_seed=0, scale=[0.06, 0.3], max_objects=4, aug=True, wd=None)
    c.update(json.loads(sys.argv[1]))
    torch.set_num_threads(int(c.get('threads', 1)))
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        kw = dict(scale=tuple(c['scale']), max_objects=c['max_objects'])
        data = D.make_detect_data(d/'data', n=c['n'], size=c.get('img_size', c['size']), seed=1000 + c['data_seed'], backgrounds=photos(TRAIN_PHOTOS), **kw)
        held = D.make_detect_data(d/'held', n=c['held'], size=c.get('img_size', c['size']), seed=5000 + c['data_seed'], backgrounds=photos(TRAIN_PHOTOS if c.get('same') else HELD_PHOTOS), **kw)
        dls = D.get_detect_dls(data, size=c['size'], valid_pct=0.2, seed=c['seed'], bs=c['bs'], aug=c['aug'])
        set_seed(c['seed'], reproducible=True)
        model = D.DetectorModel(build(c, len(dls.vocab)))
        from fastai.optimizer import SGD
        from functools import partial
        opt = partial(SGD, mom=0.9) if c.get('opt') == 'sgd' else D.fused_adam
        learn = Learner(dls, model, loss_func=D.detect_loss, opt_func=opt, cbs=[D.DetectionTargets()], **({'wd': c['wd']} if c['wd'] is not None else {}))
        t = time.time()
        from fastai.callback.core import Callback
        class Log(Callback):
            def after_epoch(self): print(json.dumps(dict(epoch=self.epoch, loss=round(float(self.smooth_loss), 3), s=round(time.time() - t))), file=sys.stderr, flush=True)
        learn.add_cb(Log())
        if c.get('clip'):
            from fastai.callback.training import GradientClip
            learn.add_cb(GradientClip(c['clip']))
        if c.get('sched') == 'flat_cos':
            learn.fit_flat_cos(c['epochs'], lr=c['lr'], pct_start=c.get('pct', 0.5)); rows = []
        else: rows, _ = fit_learner(learn, c['epochs'], fine_tune=False, lr=c['lr'], progress=False, channels_last=False)
        train_s = time.time() - t
        if c.get('save'):
            import shutil
            torch.save(model.detector.state_dict(), c['save'] + '.pth'); shutil.copytree(held, c['save'] + '-held', dirs_exist_ok=True)
            shutil.copytree(data, c['save'] + '-data', dirs_exist_ok=True)
        m50, m, m50a = score(model.detector, held, c['size'])
        held2 = D.make_detect_data(d/'held2', n=c['held'], size=c.get('img_size', c['size']), seed=7000 + c['data_seed'], backgrounds=photos(TRAIN_PHOTOS), **kw)
        m50s, _, m50sa = score(model.detector, held2, c['size'])
        losses = [round(r.get('train_loss', float('nan')), 3) for r in rows] if rows and isinstance(rows[0], dict) else rows
    print(json.dumps(dict(c, map_50=round(m50, 4), map_50_same=round(m50s, 4), agn_50=round(m50a, 4), agn_50_same=round(m50sa, 4), map=round(m, 4), s_epoch=round(train_s/c['epochs'], 1), losses=losses)), flush=True)

if __name__ == '__main__': main()

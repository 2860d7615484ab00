"""Diagnosis for issue 23: can the default FCOS on the resnet18 body overfit a few scenes (training mAP@0.5 ~ 1)?
python wip/detect_overfit.py '{"epochs": 60, "lr": 2e-3}'  -> per-epoch mean loss on stderr, one JSON line: training mAP@0.5 in
eval mode (running BatchNorm statistics) and with batch statistics. 9 scenes at 256 px (8 train, 1 valid), batch 4, no augmentation."""
import sys, json, time; sys.path.insert(0, 'wip')
import torch, numpy as np
from pathlib import Path
import transferkit.detect as D
from detect_study import photos, TRAIN_PHOTOS, build, score
from fastai.vision.all import Learner, set_seed
from fastai.callback.core import Callback
from transferkit.learner import fit_learner
c=dict(arch='fcos', size=256, n=9, epochs=50, bs=4, lr=1e-3, aug=False, threads=2, seed=0); c.update(json.loads(sys.argv[1]) if len(sys.argv)>1 else {})
torch.set_num_threads(c['threads'])
d=Path(f"/tmp/det/of{c['size']}_{c['n']}")
if not (d/'annotations.json').exists(): D.make_detect_data(d, n=c['n'], size=c['size'], seed=11, backgrounds=photos(TRAIN_PHOTOS))
dls=D.get_detect_dls(d, size=c['size'], valid_pct=1/c['n']+1e-3, seed=0, bs=c['bs'], aug=c['aug'])
print('train', len(dls.train_ds), 'valid', len(dls.valid_ds), 'bs', dls.train.bs, file=sys.stderr)
set_seed(c['seed'], reproducible=True)
model=D.DetectorModel(build(c, len(dls.vocab)))
learn=Learner(dls, model, loss_func=D.detect_loss, opt_func=D.fused_adam, cbs=[D.DetectionTargets()])
t=time.time(); losses=[]
class Log(Callback):
    def after_batch(self):
        if self.training: losses.append(round(float(self.loss.detach()),3))
    def after_epoch(self): print(self.epoch, round(time.time()-t), np.mean(losses[-len(self.dls.train):]).round(3), file=sys.stderr, flush=True)
learn.add_cb(Log())
fit_learner(learn, c['epochs'], fine_tune=False, lr=c['lr'], progress=False, channels_last=False)
# training mAP: eval mode, on the training items
files=set(str(it['file']) for it in dls.train.items)
import json as J
m=model.detector; m.eval()
images,_=D.read_coco(d); tr=[im for im in images if str(im['file']) in files]
def mp(m):
    preds,targs=[],[]
    with torch.no_grad():
        for im in tr:
            from PIL import Image
            img=Image.open(im['file']).convert('RGB').resize((c['size'],c['size']))
            x=torch.from_numpy(np.asarray(img).transpose(2,0,1).copy()).float()/255
            o=m([x])[0]; sx,sy=im['width']/c['size'],im['height']/c['size']
            preds.append(dict(boxes=o['boxes']*torch.tensor([sx,sy,sx,sy]),scores=o['scores'],labels=o['labels']))
            targs.append(dict(boxes=torch.tensor(im['boxes']).reshape(-1,4).float(),labels=torch.tensor([dls.vocab.o2i[l] for l in im['labels']])))
    return float(D._map(preds,targs)['map_50'])
e=mp(m)
# batch statistics: BatchNorm in training mode, the detector's outputs in eval mode
m.eval()
for mod in m.modules():
    if isinstance(mod, torch.nn.BatchNorm2d): mod.train()
tb=mp(m)
print(json.dumps(dict(c, train_map50_eval=round(e,3), train_map50_batchstats=round(tb,3), s=round(time.time()-t), first=losses[:5], last=losses[-5:])))

"Training on a GPU: mixed precision's dtype, placement, and an export without mixed precision — on the CPU where mocks reach, on a GPU (`-m gpu`, bench/gpu/run.sh) for the rest"
import os
from pathlib import Path
from unittest.mock import patch

import numpy as np, pytest, torch
from PIL import Image

needs_gpu = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a CUDA GPU')]

def toy_folder(root, n=8, size=32):
    "Two easy classes: dark and light squares with a little noise"
    rng = np.random.default_rng(0)
    for label, base in [('dark', 40), ('light', 210)]:
        (Path(root)/label).mkdir(parents=True, exist_ok=True)
        for i in range(n): Image.fromarray(np.clip(base + rng.normal(0, 20, (size, size, 3)), 0, 255).astype('uint8')).save(Path(root)/label/f'{i}.png')
    return Path(root)

def mixed_precision(learn): return [cb for cb in learn.cbs if type(cb).__name__ == 'MixedPrecision']

@pytest.mark.parametrize('bf16_ok', [True, False])
def test_gpu_learner_autocasts_in_the_dtype_the_gpu_has_and_exports_without_it(tmp_path, bf16_ok):
    "The GPU branch of `make_learner` (forced with fp16=True on the CPU): bfloat16 where supported, else float16; `export_model` drops it"
    from fastai.learner import load_learner
    from transferkit.data import get_dls
    from transferkit.learner import make_learner
    from transferkit.export import export_model
    dls = get_dls(toy_folder(tmp_path/'toy'), size=32, bs=4)
    with patch.object(torch.cuda, 'is_bf16_supported', return_value=bf16_ok):
        learn = make_learner(dls, pretrained=False, fp16=True)
    (mp,) = mixed_precision(learn)
    assert getattr(mp.amp_mode, 'value', mp.amp_mode) == ('bf16' if bf16_ok else 'fp16')
    export_model(learn, tmp_path/'out')
    assert not mixed_precision(learn) # to_fp32 before the pickle
    back = load_learner(tmp_path/'out'/'export.pkl', cpu=True)
    assert not mixed_precision(back) and all(p.dtype == torch.float32 for p in back.model.parameters())

def test_default_device_is_the_gpu_when_there_is_one():
    from transferkit.learner import default_device
    with patch.object(torch.cuda, 'is_available', return_value=True): assert default_device().type == 'cuda'
    with patch.object(torch.cuda, 'is_available', return_value=False): assert default_device().type == 'cpu'

@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a CUDA GPU')
@pytest.mark.parametrize('env', ['', '0'])
def test_training_on_the_gpu(tmp_path, monkeypatch, env):
    "One epoch on the GPU: model and batches there, the forward pass autocast in bfloat16 (float16 with TRANSFERKIT_BF16=0), an export that loads on the CPU"
    import transferkit.learner as L, transferkit.pipeline as P
    monkeypatch.setenv('TRANSFERKIT_BF16', env)
    want = torch.bfloat16 if env == '' and torch.cuda.is_bf16_supported() else torch.float16
    seen, hooks = [], []
    make, export = L.make_learner, P.report_and_export
    def spy_make(*a, **k): # the body's output: its dtype and device, batch by batch
        learn = make(*a, **k)
        hooks.append(learn.model[0].register_forward_hook(lambda m, i, o: seen.append((o.dtype, o.device.type))))
        return learn
    def unhook_export(*a, **k): # a hook is no part of the export
        for h in hooks: h.remove()
        return export(*a, **k)
    monkeypatch.setattr(L, 'make_learner', spy_make); monkeypatch.setattr(P, 'report_and_export', unhook_export)
    res = P.train_folder(toy_folder(tmp_path/'toy'), tmp_path/'out', size=32, epochs=1, bs=4, pretrained=False, progress=False)
    rec = res['record']
    assert rec['device'].startswith('cuda') and rec['amp'] == {torch.bfloat16: 'bfloat16', torch.float16: 'float16'}[want]
    assert (want, 'cuda') in seen, seen[:3]
    assert np.isfinite(rec['epochs'][0]['train_loss'])
    learn = L.load_model(tmp_path/'out', cpu=True)
    assert not mixed_precision(learn) and next(learn.model.parameters()).device.type == 'cpu'
    assert len(learn.get_preds(dl=learn.dls.test_dl(sorted((tmp_path/'toy'/'dark').iterdir())))[0]) == 8

@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a CUDA GPU')
def test_dls_and_learner_on_the_gpu_by_default(tmp_path):
    "Without a device argument the batches and the model go to the GPU, loaded by worker processes"
    from transferkit.data import get_dls
    from transferkit.learner import make_learner
    dls = get_dls(toy_folder(tmp_path/'toy'), size=32, bs=4)
    x, y = dls.one_batch()
    assert x.device.type == 'cuda' and dls.train.num_workers == 4
    learn = make_learner(dls, pretrained=False)
    assert next(learn.model.parameters()).device.type == 'cuda' and mixed_precision(learn)

"""`transferkit train-detect` and `predict-detect` end to end, in subprocesses: training from scratch on tiny scenes,
the model folder, predictions in the input images' pixels, and bad data sets refused before any work with one line
naming the file and the fix"""
import json
from pathlib import Path

import pytest
from PIL import Image

from transferkit.detect import make_detect_data, SHAPES, ANNOTATIONS

from conftest import ENV, run, run_batch, one_line_error

@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    "train-detect run once, from scratch, on 16 scenes of 48 px"
    d = tmp_path_factory.mktemp('detect')
    data = make_detect_data(d/'data', n=16, size=48, seed=0)
    res = run('train-detect', data, '--out', d/'model', '--size', 48, '--epochs', 1, '--bs', 4, '--no-pretrained')
    assert res.returncode == 0, res.stderr[-3000:]
    return d, data, res.stdout

def test_train_detect_writes_the_model_folder(trained):
    d, data, stdout = trained
    assert 'mAP@0.5:' in stdout and ', '.join(SHAPES) in stdout
    model = d/'model'
    for f in ['model.safetensors', 'config.json', 'model_card.json', 'training.json', 'report.json', 'report.md',
              'worst_cases.png']:
        assert (model/f).is_file(), f
    assert not (model/'export.pkl').exists() # nothing to unpickle
    cfg = json.loads((model/'config.json').read_text())
    assert cfg['kind'] == 'detection' and cfg['classes'] == SHAPES and cfg['arch'] == 'fasterrcnn_resnet18_fpn'
    assert cfg['options']['body_norm'] == 'group' and (cfg['height'], cfg['width']) == (48, 48)
    rep = json.loads((model/'report.json').read_text())
    assert set(rep['per_class']) == set(SHAPES) and {'map', 'map_50', 'map_75'} <= set(rep)
    assert not any(Path(r['file']).is_absolute() for r in rep['images'])

def test_predict_detect_writes_coco_results_in_input_pixels(trained, tmp_path):
    d, data, _ = trained
    Image.new('RGB', (97, 61), (120, 40, 200)).save(tmp_path/'odd.png')
    (tmp_path/'bad.jpg').write_bytes(b'<html>not an image</html>')
    res = run('predict-detect', d/'model', data/'images'/'0003.jpg', tmp_path/'odd.png', tmp_path/'bad.jpg',
              '--out', tmp_path/'pred', '--threshold', 0)
    assert res.returncode == 0, res.stderr[-3000:]
    assert 'of 2 image(s)' in res.stdout and 'bad.jpg could not be read' in res.stderr
    # after one epoch maybe none (torchvision drops scores under 0.05)
    preds = json.loads((tmp_path/'pred'/'predictions.json').read_text())
    # files given one by one are named by their names
    sizes = {'0003.jpg': Image.open(data/'images'/'0003.jpg').size, 'odd.png': (97, 61)}
    for p in preds:
        assert set(p) == {'image_id', 'file_name', 'category', 'category_id', 'bbox', 'score'}
        assert p['category'] in SHAPES
        w, h = sizes[p['file_name']]
        x, y, bw, bh = p['bbox']
        assert 0 <= x and 0 <= y and x + bw <= w + 1e-3 and y + bh <= h + 1e-3
    assert Image.open(tmp_path/'pred'/'odd.jpg').size == (97, 61) and (tmp_path/'pred'/'0003.jpg').is_file()
    assert not (tmp_path/'pred'/'bad.jpg').exists()

def _edit(data, fn):
    doc = json.loads((data/ANNOTATIONS).read_text())
    fn(doc)
    (data/ANNOTATIONS).write_text(json.dumps(doc))

def _ann(**kw): return lambda doc: doc['annotations'][0].update(kw)

SPOILS = [ # (what goes wrong, the words of its one-line error)
    (lambda p: (p/ANNOTATIONS).unlink(), ['No annotations.json in', 'COCO format']),
    (lambda p: (p/ANNOTATIONS).write_text('{"images": [}'),
     ['annotations.json is not valid JSON', 'export the annotations again']),
    (lambda p: _edit(p, lambda doc: doc.pop('annotations')),
     ['annotations.json has no lists of images, annotations and categories']),
    (lambda p: _edit(p, _ann(bbox=[5, 5, 0, 10])),
     ['annotations.json: annotation 1 of 0000.jpg has a box of zero size', 'remove it']),
    (lambda p: _edit(p, _ann(bbox=[30, 30, 40, 40])),
     ['annotations.json: annotation 1 of 0000.jpg has a box [30, 30, 40, 40] outside the', 'fix or remove it']),
    (lambda p: _edit(p, _ann(category_id=9)), ['names category_id 9, which no category has', 'add the category']),
    (lambda p: _edit(p, _ann(image_id=77)), ['names image_id 77, which no image has']),
    (lambda p: _edit(p, lambda doc: doc['images'].append(dict(doc['images'][0], file_name='0001.jpg'))),
     ['image id 1 is used twice', 'give each image its own id']),
    (lambda p: (p/'images'/'0002.jpg').unlink(), ['0002.jpg does not exist', 'add the image or remove it']),
    (lambda p: (p/'images'/'0002.jpg').write_bytes(b'not a jpeg'),
     ['Image', '0002.jpg cannot be read', 'replace it or remove it']),
]

def test_bad_input_stops_before_any_work(trained, tmp_path):
    """In one process: each spoiled data set, missing pretrained weights, an unknown --arch and `predict-detect` on a
    data folder, each exit 2 with one line naming the file, nothing written"""
    argvs = []
    for k, (spoil, _) in enumerate(SPOILS):
        data = make_detect_data(tmp_path/f'data{k}', n=4, size=40, seed=1, max_objects=2)
        # the first box: a good one on 0000.jpg
        _edit(data, lambda doc: doc['annotations'][0].update(image_id=1, bbox=[2, 2, 10, 10]))
        spoil(data)
        argvs.append(['train-detect', data, '--out', tmp_path/f'out{k}', '--size', 32, '--epochs', 1,
                      '--no-pretrained'])
    d, data, _ = trained
    argvs += [['train-detect', data, '--out', tmp_path/'out-w', '--size', 32],
              ['train-detect', data, '--out', tmp_path/'out-a', '--arch', 'yolo9000', '--no-pretrained'],
              ['predict-detect', data, data/'images'/'0001.jpg', '--out', tmp_path/'p']]
    words = [w for _, w in SPOILS] + [['Pretrained weights for resnet18', '--no-pretrained'],
                                      ['Unknown detector', 'yolo9000'],
                                      ['holds no config.json + model.safetensors', 'train-detect']]
    # no weights in this torch cache
    for res, w in zip(run_batch(*argvs, env=dict(ENV, TORCH_HOME=str(tmp_path/'torch'))), words):
        one_line_error(res, *w)
    assert not any((tmp_path/f'out{k}').exists() for k in range(len(SPOILS)))
    assert not (tmp_path/'out-w').exists() and not (tmp_path/'out-a').exists()

def test_export_onnx_of_the_detector_matches_pytorch(trained, tmp_path):
    """export-onnx on a detector folder: model.onnx checked with onnxruntime, listed in config.json; onnxruntime alone
    then gives PyTorch's boxes"""
    import shutil
    d, data, _ = trained
    model = tmp_path/'model'
    shutil.copytree(d/'model', model)
    res = run('export-onnx', model, '--images', data/'images')
    assert res.returncode == 0, res.stderr[-3000:]
    cfg = json.loads((model/'config.json').read_text())
    assert cfg['onnx']['file'] == 'model.onnx' and 'model.onnx' in cfg['files']
    assert cfg['onnx']['inputs']['image'] == ['uint8', 3, 48, 48]
    import numpy as np, onnxruntime as ort
    img = np.asarray(Image.open(data/'images'/'0001.jpg').convert('RGB').resize((48, 48))).transpose(2, 0, 1).copy()
    boxes, labels, scores = ort.InferenceSession(str(model/'model.onnx')).run(None, {'image': img})
    assert boxes.shape == (len(scores), 4) and labels.shape == scores.shape


def test_weights_file_starts_a_frozen_batchnorm_body(trained, tmp_path):
    "--weights FILE: the resnet18 body starts from it with its BatchNorm statistics frozen, as config.json says"
    import torch, torchvision
    from safetensors.torch import load_file
    _, data, _ = trained
    body = torchvision.models.resnet18()
    with torch.no_grad(): body.bn1.running_mean.fill_(0.25)  # a statistic no fresh network has
    torch.save(body.state_dict(), tmp_path/'r18.pth')
    res = run('train-detect', data, '--out', tmp_path/'model', '--size', 48, '--epochs', 1,
              '--weights', tmp_path/'r18.pth')
    assert res.returncode == 0, res.stderr[-3000:]
    assert json.loads((tmp_path/'model'/'config.json').read_text())['options']['body_norm'] == 'frozen'
    weights = load_file(tmp_path/'model'/'model.safetensors')
    kept = weights["backbone.body.bn1.running_mean"]
    assert torch.allclose(kept, torch.full((64,), 0.25)) # kept through training

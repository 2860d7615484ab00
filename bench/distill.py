"""Knowledge distillation: a big teacher, the student distilled from it, and the same student trained on labels alone.

Reports validation accuracy (mean ± sd over --seeds training seeds, same data and split), parameter counts, and
inference img/s on this CPU (eval mode, `torch.inference_mode`, float32, batches of random images; teacher and
students timed in turns, best of --reps) at the training size and at 224 px.

Data (offline): a set of `accuracy_vs_stock.py`, --set: `textures` (crops of four grey scikit-image photos: moon,
cells, page, coins; 128-px JPEGs) or the full-size photo sets (`surfaces`, `objects`, `scenes`: 1024x768 JPEGs), in
`train/` and `valid/` folders (a fixed split), made once.
Pretrained starts: ImageNet weights cannot be downloaded here, so each architecture is trained from scratch on the
proxy task of `train_vs_stock.py` (eight other scikit-image photos) and its body saved as a torchvision state dict,
used through `weights=` exactly as cached ImageNet weights would be.

- teacher: `train_folder(arch=--teacher, weights=proxy)`, `--teacher-epochs` of `fine_tune`, on the students' images
  plus --teacher-extra more a class (other crops of the same photos, made with another seed), as a teacher trained on
  a larger set than the user's would be; validated on the students' validation images; it must beat the student
  trained on labels alone (seed 0) by --teacher-margin, or it is trained again with twice the epochs (twice at most),
  and the bench refuses to go on with a teacher that still does not (distilling a weaker teacher cannot help);
- distilled: `distill_folder(teachers=[teacher], student=--student, weights=proxy, temperature=1, alpha=0.5)` (its defaults): the
  teacher sees each training batch the student sees (the default), or with --cached each image once, un-augmented;
- label-only: `train_folder(arch=--student, weights=proxy)`, same epochs, seeds, batch size and augmentation.

Validation: 26 images a class (104 in all at the default --per-class 130), so that one image is under 1 point.

    python bench/distill.py [--teacher resnet50] [--student resnet18] [--seeds 5] [--seed-start 0] [--epochs 4] [--size 32] [--per-class 130]
"""
import argparse, json, statistics, sys, tempfile, time, warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from train_vs_stock import make_proxy
from accuracy_vs_stock import SETS

def proxy_weights(arch, proxy, work, dest, size, epochs):
    "A full torchvision state dict of `arch` whose body was trained from scratch on the `proxy` label folders; its proxy accuracy"
    import torch
    from fastai.vision.all import create_body, model_meta
    from transferkit.weights import get_arch
    from transferkit.pipeline import train_folder
    res = train_folder(proxy, Path(work)/f'proxy-{arch}', size=size, epochs=epochs, arch=arch, pretrained=False, progress=False)
    fn = get_arch(arch); model = fn(weights=None)
    create_body(model, 3, True, model_meta.get(fn, {}).get('cut')).load_state_dict(res['learn'].model[0].state_dict()) # the body shares model's modules
    torch.save(model.state_dict(), dest)
    return res['accuracy']

def n_params(folder) -> int:
    from transferkit.learner import load_model
    return sum(p.numel() for p in load_model(folder, cpu=True).model.parameters())

def img_per_s(folders, size, bs, reps):
    "img/s of each model folder's network on random `size`-px batches, timed in turns, best of `reps` (the machine is shared: the best is the least disturbed)"
    import torch
    from transferkit.learner import load_model
    nets = [load_model(f, cpu=True).model.eval() for f in folders]
    x, times = torch.randn(bs, 3, size, size), [[] for _ in nets]
    with torch.inference_mode():
        for n in nets: n(x) # warm-up
        for _ in range(reps):
            for t, n in zip(times, nets):
                t0 = time.perf_counter(); n(x); t.append(time.perf_counter() - t0)
    return [bs/min(t) for t in times]

def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--teacher', default='resnet50'); p.add_argument('--student', default='resnet18')
    p.add_argument('--seeds', type=int, default=5); p.add_argument('--seed-start', type=int, default=0, help='the first seed: more seeds in a later run'); p.add_argument('--epochs', type=int, default=4); p.add_argument('--teacher-epochs', type=int, default=12)
    p.add_argument('--size', type=int, default=32); p.add_argument('--per-class', type=int, default=130); p.add_argument('--bs', type=int, default=32)
    p.add_argument('--proxy-epochs', type=int, default=10); p.add_argument('--proxy-per-class', type=int, default=30)
    p.add_argument('--temperature', type=float, default=1.); p.add_argument('--alpha', type=float, default=0.5)
    p.add_argument('--teacher-margin', type=float, default=0.04, help='how much better than the label-only student the teacher must be')
    p.add_argument('--set', default='textures', choices=sorted(SETS), help="accuracy_vs_stock.py's data set (surfaces, objects, scenes: full-size photos); a --work folder holds one set")
    p.add_argument('--teacher-extra', type=int, default=260, help="images a class the teacher trains on beside the students' (0: the same set)")
    p.add_argument('--cached', action='store_true', help="the teacher's logits of each image computed once, un-augmented")
    p.add_argument('--reps', type=int, default=7); p.add_argument('--out', default='bench/out/distill.json')
    p.add_argument('--work', help='folder kept between runs: the data, proxy weights, teacher and label-only students are '
                   'made once and read back, so a run with another --temperature/--alpha trains only the distilled students')
    a = p.parse_args()
    warnings.simplefilter('ignore')
    from transferkit.distill import distill_folder
    t_all, log = time.perf_counter(), lambda s: print(f'[{time.perf_counter()-t_all:5.0f} s] {s}', flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(a.work or tmp); d.mkdir(parents=True, exist_ok=True)
        if not (d/'data').exists(): SETS[a.set](d/'data', a.per_class, seed=0)
        if not (d/'proxy').exists(): make_proxy(d/'proxy', a.proxy_per_class)
        tdata = d/f'teacher-data-x{a.teacher_extra}' if a.teacher_extra else d/'data'
        if not tdata.exists(): # the students' set, and more training images of the same kinds
            import shutil
            SETS[a.set](d/'extra-tmp', a.teacher_extra, seed=1)
            shutil.copytree(d/'data', d/'teacher-tmp')
            for f in sorted((d/'extra-tmp').rglob('*.jpg')):
                (d/'teacher-tmp'/'train'/f.parent.name/f'extra-{f.parent.parent.name}-{f.name}').write_bytes(f.read_bytes())
            shutil.rmtree(d/'extra-tmp'); (d/'teacher-tmp').rename(tdata)
        w = {}
        for arch in dict.fromkeys([a.teacher, a.student]):
            w[arch] = d/f'{arch}.pth'
            if not w[arch].exists():
                log(f'{arch} pretrained on the proxy task: valid accuracy {proxy_weights(arch, d/"proxy", d, w[arch], a.size, a.proxy_epochs):.3f}')
        common = dict(size=a.size, bs=a.bs, pretrained=True, progress=False)
        def train_folder(data, out, **kw): # a --work folder's teacher is read back, not trained again; students are
            import transferkit.pipeline as tp # trained in every run (a student of older code draws other batches)
            if a.work and Path(out).name.startswith('teacher') and (Path(out)/'report.json').is_file():
                return json.loads((Path(out)/'report.json').read_text())
            return tp.train_folder(data, out, **kw)
        first = train_folder(d/'data', d/'labels-0', arch=a.student, weights=w[a.student], epochs=a.epochs, seed=0, **common)
        log(f"label-only {a.student}, seed 0: valid accuracy {first['accuracy']:.3f}")
        for tries in range(3): # the teacher must know more than the student can learn from labels
            epochs = a.teacher_epochs * 2**tries
            teacher = train_folder(tdata, d/f'teacher-{epochs}-x{a.teacher_extra}', arch=a.teacher, weights=w[a.teacher], epochs=epochs, **common)
            log(f"teacher {a.teacher}, {epochs} epochs: valid accuracy {teacher['accuracy']:.3f}")
            if teacher['accuracy'] >= first['accuracy'] + a.teacher_margin: break
        else:
            sys.exit(f"bench/distill.py: the teacher ({teacher['accuracy']:.3f} after {epochs} epochs) is not {a.teacher_margin:.2f} better than "
                     f"{a.student} trained on labels ({first['accuracy']:.3f}): distilling it cannot help; give the teacher more images or epochs")
        rows = []
        for seed in range(a.seed_start, a.seed_start + a.seeds):
            r = distill_folder(d/'data', d/f"distilled{'-cached' if a.cached else ''}-x{a.teacher_extra}-{seed}", [d/f'teacher-{epochs}-x{a.teacher_extra}'], student=a.student, weights=w[a.student], epochs=a.epochs, seed=seed,
                               temperature=a.temperature, alpha=a.alpha, cached=a.cached, cache=d/f'teacher-{epochs}-x{a.teacher_extra}-logits', **common)
            rows.append(dict(kind='distilled', seed=seed, accuracy=r['accuracy'], teacher_images_computed=r['record']['distillation'].get('teacher_images_computed', 0)))
            r = first if seed == 0 else train_folder(d/'data', d/f'labels-{seed}', arch=a.student, weights=w[a.student], epochs=a.epochs, seed=seed, **common)
            rows.append(dict(kind='label-only', seed=seed, accuracy=r['accuracy']))
            log(f"seed {seed}: distilled {rows[-2]['accuracy']:.3f} (teacher logits computed: {rows[-2]['teacher_images_computed']}), label-only {rows[-1]['accuracy']:.3f}")
        folders = [d/f'teacher-{epochs}-x{a.teacher_extra}', d/f"distilled{'-cached' if a.cached else ''}-x{a.teacher_extra}-{a.seed_start}", d/'labels-0']
        speed = {s: img_per_s(folders, s, 64 if s <= 64 else 16, a.reps) for s in (a.size, 224)}
        params = [n_params(f) for f in folders]
        acc = {k: [r['accuracy'] for r in rows if r['kind'] == k] for k in ('distilled', 'label-only')}
        sd = lambda v: statistics.stdev(v) if len(v) > 1 else 0.
        table = [dict(model=f'teacher {a.teacher} ({epochs} ep, +{a.teacher_extra}/class)', accuracy=[teacher['accuracy']], params=params[0], **{f'img_s_{s}': v[0] for s,v in speed.items()}),
                 dict(model=f'distilled {a.student}', accuracy=acc['distilled'], params=params[1], **{f'img_s_{s}': v[1] for s,v in speed.items()}),
                 dict(model=f'label-only {a.student}', accuracy=acc['label-only'], params=params[2], **{f'img_s_{s}': v[2] for s,v in speed.items()})]
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        Path(a.out).write_text(json.dumps(dict(settings=vars(a), table=table, rows=rows), indent=1))
    log(f"done; {'cached' if a.cached else 'batch'} targets, T={a.temperature}, alpha={a.alpha}, {a.seeds} seeds, {a.epochs} epochs, {a.size} px")
    print(f"{'model':24}{'valid accuracy':>20}{'params (M)':>12}{f'img/s {a.size}px':>14}{'img/s 224px':>13}")
    for r in table:
        print(f"{r['model']:24}{statistics.mean(r['accuracy']):13.3f} ± {sd(r['accuracy']):.3f}{r['params']/1e6:12.2f}{r[f'img_s_{a.size}']:14.0f}{r['img_s_224']:13.1f}")
    t, s = table[0], table[1]
    print(f"student/teacher img/s: {s[f'img_s_{a.size}']/t[f'img_s_{a.size}']:.2f}x at {a.size} px, {s['img_s_224']/t['img_s_224']:.2f}x at 224 px; "
          f"distilled - label-only: {100*(statistics.mean(acc['distilled']) - statistics.mean(acc['label-only'])):+.1f} "
          f"± {100*sd([x - y for x, y in zip(acc['distilled'], acc['label-only'])])/len(acc['distilled'])**0.5:.1f} points (paired, standard error)")

if __name__ == '__main__': main()

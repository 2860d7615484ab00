"""Give a second environment the torch the first one has, as hard links: `./dev test-latest` needs torch in .venv-latest
as well, and a second copy of its CUDA build takes about 7 GB, more than a CI disk may have left.

Run with the first environment's Python: `.venv/bin/python tools/share_torch.py .venv-latest/bin/python torch==2.14.1 ...`.
It links every file that pip's RECORD lists for the pinned packages and for what they need, as installed here, into the
other environment's site-packages, so that pip there sees them installed and keeps them (a later upgrade there unlinks
its own names only). Console scripts are copied with the other environment's Python in their first line.
Exits 1, having linked nothing, where it cannot share (other versions here, another Python, another file system); the
caller then installs torch the usual way.
"""
import os, re, subprocess, sys, sysconfig
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path


def _key(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def closure(names):
    "The installed distributions `names` need, themselves included and through the extras asked for, as {key: Distribution}"
    from packaging.requirements import Requirement
    seen, done, todo = {}, set(), [(n, "") for n in names]
    while todo:
        name, extra = todo.pop()
        if (_key(name), extra) in done: continue
        done.add((_key(name), extra))
        try: d = seen.get(_key(name)) or distribution(name)
        except PackageNotFoundError: continue  # another platform's requirement
        seen[_key(name)] = d
        for r in map(Requirement, d.requires or []):
            if r.marker is None or r.marker.evaluate({"extra": extra}):
                todo += [(r.name, e) for e in {"", *r.extras}]
    return seen


def main(other_python, *pins):
    here = Path(sysconfig.get_paths()["purelib"]).resolve()
    there_info = subprocess.run([other_python, "-c", "import sys, sysconfig; print(sysconfig.get_paths()['purelib']); "
                                 "print(sys.version_info[:2]); print(sys.prefix); import importlib.metadata as m; "
                                 "print(' '.join(d.metadata['Name'] for d in m.distributions()))"],
                                capture_output=True, text=True, check=True).stdout.split("\n")
    there, there_prefix = Path(there_info[0]).resolve(), Path(there_info[2])
    if there_info[1] != str(sys.version_info[:2]):
        return f"share_torch: {other_python} is Python {there_info[1]}, this one {sys.version_info[:2]}: not shared"
    wanted = dict(p.split("==") for p in pins)
    for name, version in wanted.items():
        try: have = distribution(name).version
        except PackageNotFoundError: have = None
        if have != version: return f"share_torch: {sys.prefix} has {name} {have}, not {version}: not shared"
    has = {_key(n) for n in there_info[3].split()}  # what the other environment has already (pip, setuptools) stays its own
    dists = {k: d for k, d in closure(wanted).items() if k not in has}
    made = []
    try:
        for d in dists.values():
            for f in d.files or []:
                src = Path(d.locate_file(f)).resolve()
                if not src.is_file(): continue
                try: rel = src.relative_to(here)
                except ValueError:  # a console script in bin/: its first line names this environment's Python
                    if src.parent.name != "bin": continue
                    dst = there_prefix / "bin" / src.name
                    if dst.exists(): continue
                    text = src.read_bytes()
                    if text.startswith(b"#!"):
                        text = b"#!" + str(there_prefix / "bin" / "python").encode() + text[text.index(b"\n"):]
                    dst.write_bytes(text); dst.chmod(src.stat().st_mode); made.append(dst)
                    continue
                dst = there / rel
                if dst.exists(): continue
                dst.parent.mkdir(parents=True, exist_ok=True)
                os.link(src, dst); made.append(dst)
    except OSError as e:
        for p in made: p.unlink(missing_ok=True)
        return f"share_torch: cannot link into {there} ({e.strerror}): not shared"
    print(f"share_torch: {len(dists)} packages ({', '.join(sorted(dists))[:200]}) linked from {here} into {there}")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))

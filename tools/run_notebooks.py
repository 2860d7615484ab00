"""Run the code cells of every notebook in nbs/ as `nbdev_test` does, without nbdev: with nbclient and a fresh kernel each.

Mirrors nbdev_test's selection: notebooks under `nbs_path` (recursively when `recursive`), skipping files and folders
whose names start with `_` or `.`, folders holding a `.notest` file and notebooks whose front matter says
`skip_exec: true`; within a notebook, skips cells marked `#| eval: false`, cells carrying one of settings.ini's
`tst_flags` (unless given in --flags) and cells calling `nbdev_export(`. Each notebook runs in its own kernel, started
in the notebook's folder with IN_TEST=1 and the repo root on PYTHONPATH, and stops at its first failing cell.

    python tools/run_notebooks.py [NOTEBOOK_OR_FOLDER ...] [--flags slow] [--n_workers 2] [--timeout 1200]
"""
import argparse, configparser, json, os, re, subprocess, sys, time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_directive_re = re.compile(r'^\s*#\s*\|')
_cell_magic_re = re.compile(r'^\s*%%\w+')
_ansi_re = re.compile(r'\x1b\[[0-9;]*[A-Za-z]')

def config():
    "settings.ini's [DEFAULT] section"
    c = configparser.ConfigParser(delimiters=['=']); c.read(ROOT/'settings.ini', encoding='utf-8')
    return c['DEFAULT']

def directives(source):
    "The leading `#|` directives of a cell's `source` as {name: args}, parsed as nbdev's `extract_directives` does"
    res = {}
    for line in source.splitlines():
        if not line.strip(): continue
        if not (_directive_re.match(line) or _cell_magic_re.match(line)): break
        s = re.sub(r'^\s*#\s*\|', '#|', line)
        if s.strip().endswith(':'): s = s.replace(':', '')  # `#| hide:` is `#| hide`
        s = s.replace(':', ': ').strip()[2:].split()
        if s: res[s[0]] = s[1:]
    return res

def runs(cell, skip_flags):
    "Does `nbdev_test` run `cell`?"
    if cell['cell_type'] != 'code': return False
    src = ''.join(cell['source'])
    if 'nbdev_export' + '(' in src: return False
    d = directives(src)
    if d.get('eval:', [''])[0].lower() == 'false': return False
    return not (skip_flags & d.keys())

def skip_exec(nb):
    "Does the notebook's YAML front matter (a first raw or markdown cell fenced by `---`) say `skip_exec: true`?"
    first = next((c for c in nb['cells'] if c['cell_type'] in ('raw', 'markdown')), None)
    src = ''.join(first['source']).strip() if first else ''
    if not src.startswith('---'): return False
    m = re.search(r'^skip_exec:\s*(\S+)', src.split('---')[1] if src.count('---') >= 2 else '', re.M)
    return bool(m) and m.group(1).lower() in ('true', 'yes', '1', 'y', 't', 'on')

def notebooks(paths, cfg):
    "The notebooks `nbdev_test` would pick under `paths` (default: settings.ini's `nbs_path`)"
    res = []
    for p in map(Path, paths or [ROOT/cfg.get('nbs_path', 'nbs')]):
        if p.is_file(): res.append(p); continue
        recursive = cfg.get('recursive', 'False').lower() in ('true', '1', 'yes')
        for dirpath, dirs, files in os.walk(p):
            dirs[:] = sorted(d for d in dirs if recursive and not re.match(r'^[_.]', d))
            if '.notest' in files: continue
            res += [Path(dirpath)/f for f in sorted(files) if f.endswith('.ipynb') and not re.match(r'^[_.]', f)]
    return res

def run_one(path, skip_flags, timeout):
    "Execute `path`'s selected cells in a new kernel; print the first failing cell and its error; exit status 1 on failure"
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError
    nb = nbformat.read(path, as_version=4)
    if skip_exec(nb): return 0
    idx = [i for i,c in enumerate(nb.cells) if runs(c, skip_flags)]
    nb.cells = [nb.cells[i] for i in idx]
    os.environ['IN_TEST'] = '1'
    os.environ['PYTHONPATH'] = os.pathsep.join([str(ROOT)] + [p for p in [os.environ.get('PYTHONPATH')] if p])
    current = {}
    client = NotebookClient(nb, timeout=timeout, startup_timeout=180, kernel_name='python3', allow_errors=False,
                            resources={'metadata': {'path': str(Path(path).parent)}},
                            on_cell_execute=lambda cell, cell_index: current.update(i=cell_index))
    try: client.execute()
    except Exception as e:
        where = f"cell {idx[current['i']]}" if 'i' in current else 'start-up'
        msg = str(e) if isinstance(e, CellExecutionError) else f"{type(e).__name__}: {e}"
        print(f"{path} failed at {where}:\n{_ansi_re.sub('', msg)}", file=sys.stderr)
        return 1
    return 0

def main():
    cfg = config()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('paths', nargs='*', help='notebooks or folders (default: settings.ini nbs_path)')
    ap.add_argument('--flags', default='', help='space separated tst_flags to run that are normally skipped')
    ap.add_argument('--n_workers', type=int, default=2, help='notebooks run at once')
    ap.add_argument('--timeout', type=int, default=1200, help='seconds one cell may run')
    ap.add_argument('--one', action='store_true', help=argparse.SUPPRESS)  # internal: run the one notebook given
    a = ap.parse_args()
    skip_flags = set(cfg.get('tst_flags', '').split()) - set(a.flags.split())
    if a.one: sys.exit(run_one(a.paths[0], skip_flags, a.timeout))
    nbs = notebooks(a.paths, cfg)
    if not nbs: sys.exit('run_notebooks: no notebooks found')
    def child(p):  # a process per notebook: nothing leaks between notebooks, and output is printed whole
        t = time.time()
        r = subprocess.run([sys.executable, __file__, '--one', str(p), '--flags', a.flags, '--timeout', str(a.timeout)],
                           capture_output=True, text=True)
        return p, r, time.time() - t
    failed = []
    with ThreadPoolExecutor(max(1, a.n_workers)) as ex:
        for p, r, secs in ex.map(child, nbs):
            print(f"{'ok  ' if r.returncode == 0 else 'FAIL'} {p.name} ({secs:.0f} s)", flush=True)
            if r.returncode: failed.append(p.name); sys.stderr.write(r.stdout + r.stderr); sys.stderr.flush()
    print(f"{len(nbs) - len(failed)} passed, {len(failed)} failed")
    if failed: sys.exit(f"notebooks failed: {' '.join(failed)}")

if __name__ == '__main__': main()

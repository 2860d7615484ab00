"""Build the docs site from the notebooks: one HTML page per notebook in `nbs/` (index.ipynb -> index.html), each titled by its
title cell (`# Title` + `> description`), a sidebar that groups the pages by task, a search box that works offline (from file://),
links between notebooks rewritten to the pages, and pictures from `nbs/images/`. With `--execute` every notebook is run first
(nbclient, a fresh kernel each, in `nbs/` as nbdev_test runs them) so that the pages show the tables, plots and reports it makes;
the notebooks on disk stay as they are (clean).
Quarto (nbdev's own site builder) downloads a binary at install time, so this uses nbconvert's HTML exporter instead.

    python tools/build_docs.py [--nbs nbs] [--out _docs] [--execute] [--workers N]
"""
from __future__ import annotations
import argparse, functools, html, json, os, re, shutil, sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path


_DIRECTIVE = re.compile(r'^\s*#\s*\|\s*([\w-]+)') # nbdev's `#| name ...` lines
_NB_LINK = re.compile(r'''(href=["'])(?:\./)?(?:nbs/)?([\w.-]+)\.ipynb(#[^"']*)?(["'])''')
_REMOTE_SCRIPT = re.compile(r'<script[^>]*\bsrc="https?://[^"]*"[^>]*>\s*</script>\s*')
_IMG = re.compile(r'<img\b[^>]*?\bsrc="([^"]*)"[^>]*>')
_HEADING = re.compile(r'<h([1-6])\b[^>]*\bid="([^"]+)"[^>]*>(.*?)</h\1>', re.S)
IMAGES = 'images' # nbs/images/ -> OUT/images/: pictures the notebooks and the README show

# The sidebar: the tasks a user comes with, in the order of the README's path, and each page under the task it serves.
# A notebook not named here is listed under API, by its title, so a new one is never left out.
TASKS = ['Get started', 'Train', 'Clean', 'Package and predict', 'Sources', 'Other systems', 'API']
PAGES = {'index': ('Get started', 'Your photos → a model'),
         '70_pipeline': ('Train', 'Train a folder'), '10_data': ('Train', 'Data folders'), '40_report': ('Train', 'The report'),
         '20_learner': ('Train', 'Learner and record'), '12_weights': ('Train', 'Pretrained weights'), '08_speed': ('Train', 'Speed'),
         '15_checks': ('Train', 'Checks before a run'),
         '50_scoring': ('Clean', 'Find suspect images'), '55_widget': ('Clean', 'The cleaner widget'), '52_journal': ('Clean', 'Apply and undo'),
         '60_export': ('Package and predict', 'The model folder'), '06_predict': ('Package and predict', 'Predict without fastai'),
         '05_modelfolder': ('Package and predict', 'Swapping a folder in'), '90_cli': ('Package and predict', 'The transferkit command'),
         '02_sources': ('Sources', 'Folder, DuckDuckGo, S3'), '01_ingest': ('Sources', 'Verify and record'),
         '30_features': ('Other systems', 'Heads on cached features'), '80_distill': ('Other systems', 'Distillation'),
         '85_segment': ('Other systems', 'Segmentation'),
         '00_core': ('API', 'core')}

_CSS = """<style>
body{margin-left:250px}
nav.tk-nav{position:fixed;top:0;left:0;bottom:0;width:230px;overflow-y:auto;z-index:10;background:#f7f7f7;border-right:1px solid #ddd;padding:.8em 1em;font:14px system-ui,-apple-system,'Segoe UI',sans-serif;box-sizing:border-box}
nav.tk-nav .tk-home{font-weight:bold;font-size:1.2em;text-decoration:none;color:#000}
nav.tk-nav .tk-task{margin:1em 0 .2em;font-weight:600;color:#555;text-transform:uppercase;font-size:.8em;letter-spacing:.04em}
nav.tk-nav a.tk-page{display:block;padding:.15em 0 .15em .6em;text-decoration:none}
nav.tk-nav a.tk-here{font-weight:bold;color:#000;border-left:3px solid #1a73e8;padding-left:calc(.6em - 3px)}
#tk-search{width:100%;margin-top:.8em;padding:.3em;box-sizing:border-box}
#tk-results{margin:.3em 0;padding:0;list-style:none}
#tk-results li{margin:.3em 0}#tk-results small{color:#666;display:block}
h1.tk-title,p.tk-description{font-family:system-ui,-apple-system,'Segoe UI',sans-serif}
p.tk-description{font-size:1.15em;color:#555}
p.tk-missing{border:1px dashed #c60;background:#fff8f0;padding:.8em;color:#a40}
details.tk-source>summary{cursor:pointer;font-family:monospace;padding:.3em;background:#f5f5f5;border:1px solid #e0e0e0;white-space:pre-wrap}
</style>"""

# Exported cells show as their signature and docstring, the source one click away: pages read as documentation, not as code
_FOLD_JS = """<script>
document.querySelectorAll('.celltag_tk-export .jp-Cell-inputWrapper').forEach(function(w) {
  var pre = w.querySelector('pre'), lines = (pre ? pre.textContent : w.textContent).split('\\n');
  var defs = lines.filter(function(l) { return /^(async def|def|class) /.test(l); }).map(function(l) { return l.replace(/:\\s*$/, ''); });
  var doc = '';
  if (defs.length == 1) {
    var next = (lines[lines.findIndex(function(l) { return /^(async def|def|class) /.test(l); }) + 1] || '').trim();
    if (/^["']/.test(next)) doc = ' — ' + next.replace(/^["']+|["']+$/g, '');
  }
  var d = document.createElement('details'), s = document.createElement('summary');
  d.className = 'tk-source'; s.textContent = (defs.length ? defs.join('  ·  ') : lines.find(function(l) { return l.trim(); }) || 'source') + doc;
  w.parentNode.insertBefore(d, w); d.appendChild(s); d.appendChild(w);
});
</script>"""

_SEARCH_JS = r"""
(function() {
  var box = document.getElementById('tk-search'), list = document.getElementById('tk-results');
  function esc(s) { return s.replace(/[&<>"]/g, function(c) { return {'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;'}[c]; }); }
  function search(q) {
    var terms = q.toLowerCase().split(/\s+/).filter(Boolean), hits = [];
    if (!terms.length) return hits;
    TK_INDEX.forEach(function(e) {
      var t = e.t.toLowerCase(), x = e.x.toLowerCase(), score = 0;
      for (var i = 0; i < terms.length; i++) {
        var inT = t.indexOf(terms[i]) >= 0, inX = x.indexOf(terms[i]) >= 0;
        if (!inT && !inX) return;
        score += (inT ? 10 : 0) + (inX ? 1 : 0);
      }
      hits.push([score, e]);
    });
    return hits.sort(function(a, b) { return b[0] - a[0]; }).slice(0, 15).map(function(h) { return h[1]; });
  }
  box.addEventListener('input', function() {
    list.innerHTML = search(box.value).map(function(e) {
      return '<li><a href="' + esc(e.p + (e.a ? '#' + e.a : '')) + '">' + esc(e.t) + '</a><small>' + esc(e.n) + '</small></li>';
    }).join('') || (box.value.trim() ? '<li>No match</li>' : '');
  });
})();
"""

def directives(cell) -> list:
    "The names of the nbdev directives (`#| hide`, `#| export`, ...) at the top of `cell`"
    return [m.group(1) for line in cell.source.splitlines() if (m := _DIRECTIVE.match(line))]

def title_of(nb) -> tuple:
    "`(title, description)` from the notebook's title cell: `# Title` then `> description`"
    for cell in nb.cells:
        if cell.cell_type != 'markdown': continue
        lines = [l.strip() for l in cell.source.strip().splitlines()]
        if lines and lines[0].startswith('# ') and not lines[0].startswith('# #'):
            desc = next((l[1:].strip() for l in lines[1:] if l.startswith('>')), '')
            return lines[0][2:].strip(), desc
        break
    return None, ''

def doc_cells(nb) -> list:
    "The cells nbdev's docs show: no hidden cells, no `default_exp` cell, no `## Heading -` cell, no directive lines, no title cell; exported cells tagged `tk-export`"
    import nbformat # imported where used: a bad argument is answered at once (it takes seconds to import)
    out, titled = [], False
    for cell in nb.cells:
        names = directives(cell)
        if 'hide' in names or 'default_exp' in names: continue
        src = cell.source.strip()
        if cell.cell_type == 'markdown':
            if src.startswith('#') and src.splitlines()[0].rstrip().endswith(' -'): continue # nbdev's rm_header_dash
            if not titled and src.startswith('# '): # the page's title and description come from this cell
                titled = True
                rest = [l for l in src.splitlines()[1:] if not l.lstrip().startswith('>')]
                if not '\n'.join(rest).strip(): continue
                cell = nbformat.v4.new_markdown_cell('\n'.join(rest).strip(), id=cell.get('id'))
        if cell.cell_type == 'code':
            tags = ['tk-export'] if {'export', 'exports'} & set(names) else []
            cell = nbformat.v4.new_code_cell('\n'.join(l for l in cell.source.splitlines() if not _DIRECTIVE.match(l)).strip('\n'),
                                             outputs=cell.get('outputs', []), metadata={'tags': tags} if tags else {}, id=cell.get('id'))
            if not cell.source.strip(): continue
        out.append(cell)
    return out

def page_name(nb_path) -> str:
    "The page a notebook becomes: `10_data.ipynb` -> `10_data.html`"
    return Path(nb_path).stem + '.html'

def rewrite_links(text:str, pages:set) -> str:
    "Links to notebooks (`nbs/10_data.ipynb`, `10_data.ipynb#x`) pointed at their pages, for those in `pages`"
    def sub(m):
        page = m.group(2) + '.html'
        return f'{m.group(1)}{page}{m.group(3) or ""}{m.group(4)}' if page in pages else m.group(0)
    return _NB_LINK.sub(sub, text)

def fix_anchors(text:str) -> str:
    "In-page links written GitHub's way (`#where-images-come-from`) pointed at nbconvert's heading ids (`Where-images-come-from`)"
    ids = {i.lower(): i for _, i, _ in _HEADING.findall(text)}
    return re.sub(r'href="#([^"]+)"', lambda m: f'href="#{ids.get(m.group(1).lower(), m.group(1))}"', text)

def local_images(text:str, out:Path) -> str:
    "Pictures from `nbs/images/` pointed at `OUT/images/`; one that is not there yet becomes a visible note naming the file"
    def sub(m):
        src = m.group(1)
        if re.match(r'(data:|https?:|//)', src): return m.group(0)
        rel = re.sub(r'^(\./)?(nbs/)?', '', src)
        if (out/rel).is_file(): return m.group(0).replace(f'src="{src}"', f'src="{rel}"')
        alt = re.search(r'\balt="([^"]*)"', m.group(0))
        return (f'<p class="tk-missing">Picture not made yet: <code>nbs/{html.escape(rel)}</code>'
                f'{" (" + alt.group(1) + ")" if alt and alt.group(1) else ""}; the browser tests write it.</p>')
    return _IMG.sub(sub, text)

def nav_html(entries:list, here:str) -> str:
    "The sidebar: the home link, the search box, and every page under its task; `entries` of `(page, task, label)`"
    here_attr, other = ' class="tk-page tk-here" aria-current="page"', ' class="tk-page"'
    parts = ['<nav class="tk-nav"><a class="tk-home" href="index.html">transferkit</a>',
             '<input id="tk-search" type="search" placeholder="Search the docs" aria-label="Search the docs"><ul id="tk-results"></ul>']
    for task in TASKS:
        order = list(PAGES) # a task's pages in the order PAGES gives, then the others by file name
        links = [(p, l) for p, t, l in sorted(entries, key=lambda e: (order.index(e[0][:-5]) if e[0][:-5] in order else len(order), e[0])) if t == task]
        if not links: continue
        parts.append(f'<div class="tk-task">{html.escape(task)}</div>')
        parts += [f'<a href="{html.escape(p)}"{here_attr if p == here else other}>{html.escape(l)}</a>' for p, l in links]
    return ''.join(parts) + '</nav>'

@functools.cache
def _exporter():
    from nbconvert import HTMLExporter # imported when a page is made: a bad argument is answered at once
    # one for every page (its templates load once); code goes in as pygments highlights it: bleach's pass over every cell's
    # input (`clean_html`, for untrusted notebooks) took half the build, and these are the project's own notebooks
    return HTMLExporter(template_name='lab', exclude_input_prompt=True, exclude_output_prompt=True, filters={'clean_html': lambda s: s})

def render(nb, title:str, desc:str, nav:str, pages:set, out:Path=Path('.')) -> str:
    "One page: nbconvert's HTML of the docs cells, titled `title`, `nav` at the side, pictures from `out`/images"
    import nbformat # imported where used: a bad argument is answered at once (it takes seconds to import)
    nb = nbformat.v4.new_notebook(cells=doc_cells(nb), metadata=dict(nb.metadata, title=title))
    body, _ = _exporter().from_notebook_node(nb)
    desc = re.sub(r'`([^`]+)`', r'<code>\1</code>', html.escape(desc)) # the description's inline code, as nbdev shows it
    head = f'<h1 class="tk-title">{html.escape(title)}</h1>' + (f'<p class="tk-description">{desc}</p>' if desc else '')
    body = _REMOTE_SCRIPT.sub('', body) # require.js and MathJax from a CDN: the site works offline, from file://
    body = body.replace('</head>', _CSS + '</head>', 1)
    body = re.sub(r'(<body[^>]*>)', lambda m: m.group(1) + nav + '<main class="jp-Notebook tk-page">' + head + '</main>', body, count=1)
    body = body.replace('</body>', _FOLD_JS + '<script src="search.js"></script></body>', 1)
    return local_images(fix_anchors(rewrite_links(body, pages)), out)

def _text(fragment:str) -> str:
    "The words of an HTML fragment"
    fragment = re.sub(r'<(script|style)\b.*?</\1>', ' ', fragment, flags=re.S)
    return ' '.join(html.unescape(re.sub(r'<[^>]+>', ' ', fragment)).replace('¶', ' ').split())

def search_entries(page:str, title:str, text:str) -> list:
    "One search entry per section of a built page: `p` page, `a` heading id, `t` heading, `n` the page's title, `x` the section's words"
    main = text[text.find('</nav>'):]
    heads = list(_HEADING.finditer(main))
    entries = [dict(p=page, a='', t=title, n=title, x=_text(main[:heads[0].start()] if heads else main)[:4000])]
    for h, nxt in zip(heads, heads[1:] + [None]):
        entries.append(dict(p=page, a=html.unescape(h.group(2)), t=_text(h.group(3)), n=title, x=_text(main[h.end():nxt.start() if nxt else None])[:4000]))
    return entries

def _write(path:Path, text:str):
    tmp = path.with_name(f'.{path.name}.part'); tmp.write_text(text, encoding='utf-8'); os.replace(tmp, path)

def execute(path, timeout:int=600):
    "The notebook at `path` run top to bottom in a fresh kernel in its folder (as nbdev_test runs it, flagged cells too); the file is not changed"
    import nbformat # imported where used: a bad argument is answered at once (it takes seconds to import)
    from nbclient import NotebookClient
    root = str(Path(path).resolve().parent.parent) # the checkout the notebooks belong to, imported before any installed transferkit
    os.environ.update(TRANSFERKIT_OFFLINE='1', PYTHONPATH=os.pathsep.join(filter(None, [root, os.environ.get('PYTHONPATH')])))
    os.environ.pop('MPLBACKEND', None) # the kernel's own inline backend, so that plots show on the pages
    sys.path.insert(0, str(Path(__file__).resolve().parent)); from run_notebooks import runs # nbdev_test's choice of cells
    nb = nbformat.read(path, as_version=4)
    # the cells nbdev_test runs, plus those it leaves to a flag (`#| slow`) such as index.ipynb's run of the path: the docs show them
    live = nbformat.v4.new_notebook(cells=[c for c in nb.cells if runs(c, set())], metadata=nb.metadata) # the same cell objects: outputs land in `nb`
    try: NotebookClient(live, timeout=timeout, interrupt_on_timeout=True, kernel_name='python3', allow_errors=True,
                        resources={'metadata': {'path': str(Path(path).parent)}}).execute()
    except Exception as e: nb.metadata['tk_failed'] = f'{type(e).__name__}: {e}'[:200] # the kernel died: the page shows what ran before
    return nb

def _errors(nb) -> list:
    "What went wrong running `nb`: the kernel's failure, then each cell's error"
    return ([nb.metadata['tk_failed']] if 'tk_failed' in nb.metadata else []) + [f"{o.get('ename')}: {o.get('evalue', '')}"[:200] for c in nb.cells if c.cell_type == 'code' for o in c.get('outputs', []) if o.get('output_type') == 'error']

class DocsError(Exception): "Bad input to the build: one line naming it and the fix"

def build(nbs='nbs', out='_docs', run:bool=False, workers:int=1, log=lambda m: print(m, file=sys.stderr)) -> list:
    "Write the site for the notebooks in `nbs` to `out` (executing them first when `run`); the pages written"
    nbs, out = Path(nbs), Path(out)
    paths = sorted(nbs.glob('*.ipynb'), key=lambda p: (p.stem != 'index', p.name))
    if not any(p.stem == 'index' for p in paths): raise DocsError(f'{nbs} has no index.ipynb: give --nbs the folder of the notebooks (the site needs a home page)')
    import nbformat
    books = [(p, nbformat.read(p, as_version=4)) for p in paths]
    entries = []
    for p, nb in books:
        title, _ = title_of(nb)
        if title is None: raise DocsError(f"{p}: the first markdown cell must be the title, '# Title' then '> description'")
        task, label = PAGES.get(p.stem, ('API', title))
        entries.append((page_name(p), task, label))
    if run:
        with ProcessPoolExecutor(max(1, workers)) as ex: ran = list(ex.map(execute, [p for p, _ in books])) # each in a process of its own, its environment too
        books = [(p, nb) for (p, _), nb in zip(books, ran)]
        for p, nb in books:
            if errs := _errors(nb): log(f'warning: {p.name} did not run cleanly ({len(errs)} error(s), shown on its page): {errs[0]}')
    pages = {e[0] for e in entries}
    out.mkdir(parents=True, exist_ok=True)
    if (nbs/IMAGES).is_dir(): shutil.copytree(nbs/IMAGES, out/IMAGES, dirs_exist_ok=True)
    written, index = [], []
    for (p, nb), (page, _, _) in zip(books, entries):
        title, desc = title_of(nb)
        text = render(nb, title, desc, nav_html(entries, page), pages, out)
        _write(out/page, text)
        index += search_entries(page, title, text)
        written.append(out/page)
    _write(out/'search.js', 'var TK_INDEX = ' + json.dumps(index, ensure_ascii=False) + ';\n' + _SEARCH_JS) # a script, not JSON: fetch() is refused from file://
    return written

if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--nbs', default='nbs'); ap.add_argument('--out', default='_docs')
    ap.add_argument('--execute', action=argparse.BooleanOptionalAction, default=False, help='run every notebook first, so that the pages show its outputs')
    ap.add_argument('--workers', type=int, default=1, help='notebooks run at once with --execute')
    a = ap.parse_args()
    try: pages = build(a.nbs, a.out, run=a.execute, workers=a.workers)
    except DocsError as e: sys.exit(print(f'build_docs: error: {e}', file=sys.stderr) or 2)
    print(f'{len(pages)} pages in {a.out}/ (open {Path(a.out)/"index.html"})')

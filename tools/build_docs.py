"""Build the docs site from the notebooks: one HTML page per notebook in `nbs/` (index.ipynb -> index.html), each titled by its
title cell (`# Title` + `> description`), a nav between the pages, links between notebooks rewritten to the pages; nothing is run.
Quarto (nbdev's own site builder) downloads a binary at install time, so this uses nbconvert's HTML exporter instead.

    python tools/build_docs.py [--nbs nbs] [--out _docs]
"""
from __future__ import annotations
import argparse, html, os, re
from pathlib import Path

import nbformat
from nbconvert import HTMLExporter

_DIRECTIVE = re.compile(r'^\s*#\s*\|\s*([\w-]+)') # nbdev's `#| name ...` lines
_NB_LINK = re.compile(r'''(href=["'])(?:\./)?(?:nbs/)?([\w.-]+)\.ipynb(#[^"']*)?(["'])''')
_REMOTE_SCRIPT = re.compile(r'<script[^>]*\bsrc="https?://[^"]*"[^>]*>\s*</script>\s*')
_NAV_CSS = """<style>
nav.tk-nav{position:sticky;top:0;z-index:10;background:#f7f7f7;border-bottom:1px solid #ddd;padding:.5em 1em;font:14px sans-serif}
nav.tk-nav a{margin-right:1em;text-decoration:none}
nav.tk-nav a.tk-here{font-weight:bold;color:#000}
h1.tk-title,p.tk-description{font-family:system-ui,-apple-system,'Segoe UI',sans-serif}
p.tk-description{font-size:1.15em;color:#555}
</style>"""

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
    "The cells nbdev's docs show: no hidden cells, no `default_exp` cell, no `## Heading -` cell, no directive lines, no title cell"
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
                cell = nbformat.v4.new_markdown_cell('\n'.join(rest).strip())
        if cell.cell_type == 'code':
            cell = nbformat.v4.new_code_cell('\n'.join(l for l in cell.source.splitlines() if not _DIRECTIVE.match(l)).strip('\n'),
                                             outputs=cell.get('outputs', []))
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

def nav_html(entries:list, here:str) -> str:
    "A nav bar linking every page: `entries` of `(page, title)`"
    here_attr = ' class="tk-here" aria-current="page"'
    links = ''.join(f'<a href="{html.escape(p)}"{here_attr if p == here else ""}>{html.escape(t)}</a>' for p,t in entries)
    return f'<nav class="tk-nav">{links}</nav>'

def render(nb, title:str, desc:str, nav:str, pages:set) -> str:
    "One page: nbconvert's HTML of the docs cells, titled `title`, `nav` at the top"
    nb = nbformat.v4.new_notebook(cells=doc_cells(nb), metadata=dict(nb.metadata, title=title))
    exp = HTMLExporter(template_name='lab', exclude_input_prompt=True, exclude_output_prompt=True)
    body, _ = exp.from_notebook_node(nb)
    desc = re.sub(r'`([^`]+)`', r'<code>\1</code>', html.escape(desc)) # the description's inline code, as nbdev shows it
    head = f'<h1 class="tk-title">{html.escape(title)}</h1>' + (f'<p class="tk-description">{desc}</p>' if desc else '')
    body = _REMOTE_SCRIPT.sub('', body) # require.js and MathJax from a CDN: the site works offline, from file://
    body = body.replace('</head>', _NAV_CSS + '</head>', 1)
    body = re.sub(r'(<body[^>]*>)', lambda m: m.group(1) + nav + '<main class="jp-Notebook tk-page">' + head + '</main>', body, count=1)
    return rewrite_links(body, pages)

def build(nbs='nbs', out='_docs') -> list:
    "Write the site for the notebooks in `nbs` to `out`; the pages written"
    nbs, out = Path(nbs), Path(out)
    paths = sorted(nbs.glob('*.ipynb'), key=lambda p: (p.stem != 'index', p.name))
    if not any(p.stem == 'index' for p in paths): raise SystemExit(f'{nbs} has no index.ipynb: the site needs a home page')
    books = [(p, nbformat.read(p, as_version=4)) for p in paths]
    entries = []
    for p, nb in books:
        title, _ = title_of(nb)
        if title is None: raise SystemExit(f"{p}: the first markdown cell must be the title, '# Title' then '> description'")
        entries.append((page_name(p), title))
    pages = {e[0] for e in entries}
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for (p, nb), (page, title) in zip(books, entries):
        text = render(nb, title, title_of(nb)[1], nav_html(entries, page), pages)
        tmp = out/f'.{page}.part'; tmp.write_text(text, encoding='utf-8'); os.replace(tmp, out/page)
        written.append(out/page)
    return written

if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--nbs', default='nbs'); ap.add_argument('--out', default='_docs')
    a = ap.parse_args()
    pages = build(a.nbs, a.out)
    print(f'{len(pages)} pages in {a.out}/ (open {Path(a.out)/"index.html"})')

"Write README.md from nbs/index.ipynb (what `nbdev_readme` does, without needing quarto)"
import json, os, re
from pathlib import Path

DOCS_ONLY = '<!-- docs only -->' # a markdown cell that opens with this is for the docs site alone (it introduces cells that run)

def cell_md(cell):
    "Markdown for one notebook cell; hidden cells, docs-only cells and cells that run give nothing (the README shows code to type, never output)"
    src = ''.join(cell['source']).strip()
    if not src or src.startswith('#| hide') or src.startswith(DOCS_ONLY): return None
    if cell['cell_type'] == 'markdown': return src
    if not re.search(r'^#\|\s*eval:\s*false', src, re.M): return None
    lines = [l for l in src.splitlines() if not l.startswith('#|')]
    if all(l.startswith('!') for l in lines if l.strip()):
        return '```sh\n' + '\n'.join(l[1:] for l in lines) + '\n```'
    return '```python\n' + '\n'.join(lines) + '\n```'

def make_readme(root=Path(__file__).parent.parent):
    nb = json.loads((root/'nbs'/'index.ipynb').read_text())
    parts = [p for p in map(cell_md, nb['cells']) if p]
    text = '\n\n'.join(parts)
    tmp = root/'.README.md.part' # written whole, then renamed: never half a README
    tmp.write_text('<!-- generated from nbs/index.ipynb by tools/make_readme.py: edit the notebook -->\n' + text + '\n')
    os.replace(tmp, root/'README.md')

if __name__ == '__main__': make_readme()

"Write README.md from nbs/index.ipynb (what `nbdev_readme` does, without needing quarto)"
import json
from pathlib import Path

def cell_md(cell):
    "Markdown for one notebook cell; hidden cells give nothing"
    src = ''.join(cell['source']).strip()
    if not src or src.startswith('#| hide'): return None
    if cell['cell_type'] == 'markdown': return src
    lines = [l for l in src.splitlines() if not l.startswith('#|')]
    if all(l.startswith('!') for l in lines if l.strip()):
        return '```sh\n' + '\n'.join(l[1:] for l in lines) + '\n```'
    return '```python\n' + '\n'.join(lines) + '\n```'

def make_readme(root=Path(__file__).parent.parent):
    nb = json.loads((root/'nbs'/'index.ipynb').read_text())
    parts = [p for p in map(cell_md, nb['cells']) if p]
    text = '\n\n'.join(parts)
    (root/'README.md').write_text('<!-- generated from nbs/index.ipynb by tools/make_readme.py: edit the notebook -->\n' + text + '\n')

if __name__ == '__main__': make_readme()

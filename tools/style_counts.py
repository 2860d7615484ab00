"Style counts for issue 26: docments on public callables, long lines, `;` joins, cells with several definitions."
import ast, importlib, inspect, io, json, sys, tokenize
from pathlib import Path
from fastcore.docments import docments

root = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(root))

def _callables(mod):
    "Public functions, classes and their public methods named in `mod.__all__`."
    for name in getattr(mod, '__all__', []):
        obj = getattr(mod, name, None)
        if inspect.isfunction(obj): yield name, obj
        elif inspect.isclass(obj):
            # a class counts for its own `__init__` (or dataclass fields), not for one it inherits from a library
            own = '__init__' in vars(obj) or hasattr(obj, '__dataclass_fields__')
            if obj.__module__ == mod.__name__ and own: yield name, obj
            for k, v in vars(obj).items():
                if not k.startswith('_') and inspect.isfunction(v): yield f'{name}.{k}', v

def _params(f):
    try: sig = inspect.signature(f)
    except (TypeError, ValueError): return []
    return [p for p in sig.parameters if p not in ('self', 'cls') and sig.parameters[p].kind not in (2, 4)]

def doc_counts(modname):
    mod = importlib.import_module(f'transferkit.{modname}')
    tot = full = none = 0
    for name, f in _callables(mod):
        ps = _params(f)
        if not ps: continue
        try: d = docments(f)
        except Exception: d = {}
        n = sum(1 for p in ps if d.get(p))
        tot += 1; full += n == len(ps); none += n == 0
    return tot, full, none

def line_counts(modname):
    "`(long, joined)`: lines over 120 characters, and lines holding a `;` between statements (`if x: a; b` included)"
    text = (root/'transferkit'/f'{modname}.py').read_text()
    long_ = sum(len(l) > 120 for l in text.splitlines())
    toks = tokenize.generate_tokens(io.StringIO(text).readline)
    semi = len({t.start[0] for t in toks if t.type == tokenize.OP and t.string == ';'})
    return long_, semi

def cell_counts(nb):
    cells = [''.join(c['source']) for c in json.loads(nb.read_text())['cells'] if c['cell_type'] == 'code']
    multi = 0
    for s in cells:
        if not s.startswith('#| export'): continue
        try: body = ast.parse('\n'.join(l for l in s.splitlines() if not l.startswith('%'))).body
        except SyntaxError: continue
        multi += sum(isinstance(b, (ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef)) and not b.name.startswith('_')
                     for b in body) > 1
    hidden = sum(s.startswith('#| hide') or '\n#| hide' in s for s in cells)
    return len(cells), multi, hidden

if __name__ == '__main__':
    rows, T = [], [0]*8
    for nb in sorted((root/'nbs').glob('[0-9]*.ipynb')):
        m = next((l.split()[-1] for l in nb.read_text().split('\\n') if '#| default_exp' in l), None)
        if m is None: continue
        r = doc_counts(m) + line_counts(m) + cell_counts(nb)
        T = [a+b for a, b in zip(T, r)]
        rows.append((nb.name, *r))
    rows.append(('TOTAL', *T))
    print(f"{'notebook':22} callables documented none  >120  ;-joins  cells multi-def hidden")
    for r in rows: print(f'{r[0]:22} {r[1]:9} {r[2]:10} {r[3]:4} {r[4]:5} {r[5]:8} {r[6]:5} {r[7]:9} {r[8]:6}')

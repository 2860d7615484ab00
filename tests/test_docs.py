"The docs site (`./dev docs`, tools/build_docs.py) built from the notebooks and opened in the system's headless Chromium: navigation by task, search, links and pictures"
import os, re, subprocess, sys
from pathlib import Path
from urllib.parse import unquote

import nbformat, pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT/'tools'))
import build_docs
pytestmark = pytest.mark.stackfree # the docs build: development tools only: `./dev test-latest` leaves it out

CHROMIUM, CHROMEDRIVER = os.environ.get('TK_CHROMIUM', '/usr/bin/chromium'), os.environ.get('TK_CHROMEDRIVER', '/usr/bin/chromedriver') # Debian's chromium and chromium-driver, which ./dev installs: no browser download here

@pytest.fixture(scope='module')
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp('site')/'_docs'
    res = subprocess.run([sys.executable, str(ROOT/'tools'/'build_docs.py'), '--nbs', str(ROOT/'nbs'), '--out', str(out)],
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    return out

@pytest.fixture(scope='module')
def browser():
    "Headless system Chromium; a missing browser or driver fails the test, never skips it"
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    for f in (CHROMIUM, CHROMEDRIVER): assert Path(f).is_file(), f'{f} is missing: install the Debian packages chromium and chromium-driver (./dev browser)'
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for a in ('--headless=new', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--window-size=1200,900'): opts.add_argument(a)
    d = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    d.set_page_load_timeout(60)
    yield d
    d.quit()

def test_a_page_per_notebook(site):
    nbs = sorted(p.stem for p in (ROOT/'nbs').glob('*.ipynb'))
    assert sorted(p.stem for p in site.glob('*.html')) == nbs and not list(site.glob('.*.part')) and (site/'search.js').is_file()
    for stem in nbs:
        title, desc = build_docs.title_of(nbformat.read(ROOT/'nbs'/f'{stem}.ipynb', as_version=4))
        assert title and desc and not title.startswith('#'), (stem, title) # nbdev's `# Title` + `> description`
        assert f'<title>{title}</title>' in (site/f'{stem}.html').read_text(encoding='utf-8')

def test_pages_render_and_link_in_the_browser(site, browser):
    from selenium.webdriver.common.by import By
    browser.get((site/'index.html').as_uri())
    assert browser.title == 'transferkit'
    assert browser.find_element(By.CSS_SELECTOR, 'h1.tk-title').text == 'transferkit'
    tasks = [t.text.lower() for t in browser.find_elements(By.CSS_SELECTOR, 'nav.tk-nav .tk-task')]
    assert tasks == [t.lower() for t in build_docs.TASKS] # the sidebar by task, in the README's order
    nav = browser.find_elements(By.CSS_SELECTOR, 'nav.tk-nav a.tk-page')
    assert len(nav) == len(list(site.glob('*.html')))
    next(a for a in nav if a.text == 'Data folders').click() # a relative link, followed from file://
    assert browser.current_url.endswith('/10_data.html') and browser.title == 'data'
    src = next(d for d in browser.find_elements(By.CSS_SELECTOR, 'details.tk-source') if 'def get_dls' in d.text) # an exported cell, folded to its signature
    assert not src.find_element(By.CSS_SELECTOR, '.highlight').is_displayed()
    src.find_element(By.TAG_NAME, 'summary').click()
    assert src.find_element(By.CSS_SELECTOR, '.highlight').is_displayed() # one click shows the source, syntax-highlighted
    code = browser.find_elements(By.CSS_SELECTOR, '.jp-CodeCell .jp-InputArea-editor')
    assert not any('#| export' in c.text or '#| hide' in c.text for c in code)
    browser.find_element(By.CSS_SELECTOR, 'nav.tk-nav a[href="00_core.html"]').click()
    assert browser.title == 'core' and 'TransferkitError' in browser.find_element(By.TAG_NAME, 'body').text

def test_search_works_offline(site, browser):
    "The search box finds a function from any page, from file://, and its result opens the page that defines it"
    from selenium.webdriver.common.by import By
    browser.get((site/'85_segment.html').as_uri())
    browser.find_element(By.ID, 'tk-search').send_keys('find_suspects')
    hits = browser.find_elements(By.CSS_SELECTOR, '#tk-results a')
    assert hits and any('50_scoring.html' in a.get_attribute('href') for a in hits), [a.get_attribute('href') for a in hits]
    next(a for a in hits if '50_scoring.html' in a.get_attribute('href')).click()
    assert browser.title == 'scoring' and 'find_suspects' in browser.find_element(By.TAG_NAME, 'body').text
    box = browser.find_element(By.ID, 'tk-search'); box.send_keys('zzqx nothing')
    assert browser.find_element(By.ID, 'tk-results').text == 'No match'

def test_no_broken_links_or_images(site, browser):
    "On every page, every link inside the site reaches a page (and the heading it names), every picture loads"
    ids = {p.name: set(re.findall(r'\bid="([^"]+)"', p.read_text(encoding='utf-8'))) for p in site.glob('*.html')}
    for page in sorted(ids):
        browser.get((site/page).as_uri())
        links, broken = browser.execute_script("""return [Array.from(document.querySelectorAll('a[href]'), a => a.href),
            Array.from(document.images).filter(i => !i.complete || i.naturalWidth == 0).map(i => i.getAttribute('src').slice(0, 80))]""")
        assert not broken, (page, broken)
        for url in links:
            if not url.startswith('file:'): continue # the web: not reachable offline
            target, _, frag = url.partition('#') # the fragment as the id is written (nbconvert percent-encodes non-ASCII)
            target = unquote(target[len('file://'):])
            assert Path(target).is_file(), (page, url)
            if frag and Path(target).name in ids: assert frag in ids[Path(target).name], (page, url)

def _nb(*cells): return nbformat.v4.new_notebook(cells=list(cells))

def test_hidden_cells_and_links_between_notebooks(tmp_path):
    nb = _nb(nbformat.v4.new_code_cell('#| default_exp x'),
             nbformat.v4.new_markdown_cell('# Ex\n\n> An example.\n\nSee [data](nbs/10_data.ipynb#get_dls), [web](https://x.org/a.ipynb) and [below](#a-section).'),
             nbformat.v4.new_code_cell('#| hide\nsecret = 1'),
             nbformat.v4.new_code_cell('#| export\ndef shown(): pass'),
             nbformat.v4.new_markdown_cell('## Tests -'), nbformat.v4.new_markdown_cell('## A section'))
    for name, n in (('index', nb), ('10_data', nb)): nbformat.write(n, tmp_path/f'{name}.ipynb')
    build_docs.build(tmp_path, tmp_path/'out')
    page = (tmp_path/'out'/'index.html').read_text(encoding='utf-8')
    assert 'href="10_data.html#get_dls"' in page and 'href="https://x.org/a.ipynb"' in page
    assert 'href="#A-section"' in page and 'id="A-section"' in page # GitHub's lower-case anchor, pointed at nbconvert's heading id
    assert 'def' in page and 'shown' in page and 'secret' not in page and 'default_exp' not in page and '#| export' not in page and 'Tests -' not in page
    assert 'celltag_tk-export' in page and '<title>Ex</title>' in page and 'An example.' in page

def test_pictures_copied_or_noted(tmp_path):
    "A picture in nbs/images/ is copied and shown; one not made yet becomes a visible note naming it"
    nbformat.write(_nb(nbformat.v4.new_markdown_cell('# Home\n\n> Pictures.\n\n![a plot](nbs/images/plot.png) ![the widget](nbs/images/none.png)')), tmp_path/'index.ipynb')
    (tmp_path/'images').mkdir(); Image.new('RGB', (8, 8), 'red').save(tmp_path/'images'/'plot.png')
    build_docs.build(tmp_path, tmp_path/'out')
    page = (tmp_path/'out'/'index.html').read_text(encoding='utf-8')
    assert 'src="images/plot.png"' in page and (tmp_path/'out'/'images'/'plot.png').is_file()
    assert not re.search(r'<img[^>]*none\.png', page) and '<p class="tk-missing">Picture not made yet: <code>nbs/images/none.png</code> (the widget)' in page

def test_execute_shows_outputs_and_leaves_the_notebook_clean(tmp_path):
    "--execute: the page shows what the cells print and plot; the notebook on disk keeps no outputs"
    nbformat.write(_nb(nbformat.v4.new_markdown_cell('# Home\n\n> Run.'), nbformat.v4.new_code_cell('print(6*7)'),
                       nbformat.v4.new_code_cell('import matplotlib.pyplot as plt\nplt.plot([1, 3, 2]);'),
                       nbformat.v4.new_code_cell('#| eval: false\nprint("NOT" + "RUN")'), # code for the reader, as nbdev_test skips it
                       nbformat.v4.new_code_cell('#| slow\nprint("FLAGGED" + "RAN")')), tmp_path/'index.ipynb') # left to a flag by the tests, run for the docs
    before = (tmp_path/'index.ipynb').read_bytes()
    build_docs.build(tmp_path, tmp_path/'out', run=True)
    page = (tmp_path/'out'/'index.html').read_text(encoding='utf-8')
    outputs = re.sub(r'<[^>]+>', '', ' '.join(re.findall(r'<div class="jp-OutputArea-child.*?</pre>', page, re.S)))
    assert '42' in outputs and 'FLAGGEDRAN' in outputs and 'NOTRUN' not in page and 'src="data:image/png;base64,' in page
    assert (tmp_path/'index.ipynb').read_bytes() == before

def test_bad_folder_is_one_line(tmp_path):
    res = subprocess.run([sys.executable, str(ROOT/'tools'/'build_docs.py'), '--nbs', str(tmp_path/'missing'), '--out', str(tmp_path/'o')], capture_output=True, text=True)
    assert res.returncode == 2 and res.stderr.count('\n') == 1 and 'missing' in res.stderr and '--nbs' in res.stderr, res.stderr

def test_readme_is_made_from_the_index():
    "README.md is what tools/make_readme.py makes of nbs/index.ipynb: code to type, never a cell that runs or a docs-only cell"
    sys.path.insert(0, str(ROOT/'tools')); import make_readme
    md = lambda src, kind='markdown': make_readme.cell_md({'cell_type': kind, 'source': src})
    assert md('## Path') == '## Path' and md('<!-- docs only -->\n### Results') is None and md('#| hide\nx = 1', 'code') is None
    assert md('#| slow\nres = train()', 'code') is None and md('#| eval: false\n!./dev demo', 'code') == '```sh\n./dev demo\n```'
    readme = (ROOT/'README.md').read_text(encoding='utf-8')
    nb = nbformat.read(ROOT/'nbs'/'index.ipynb', as_version=4)
    assert readme.split('\n', 1)[1] == '\n\n'.join(p for p in map(make_readme.cell_md, nb.cells) if p) + '\n', 'run tools/make_readme.py'
    assert 'What the path shows' not in readme and 'train_folder(tmp' not in readme

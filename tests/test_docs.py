"The docs site (`./dev docs`, tools/build_docs.py) built from the notebooks and opened in the system's headless Chromium"
import os, subprocess, sys
from pathlib import Path

import nbformat, pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT/'tools'))
import build_docs

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
    assert sorted(p.stem for p in site.glob('*.html')) == nbs and not list(site.glob('.*.part'))
    for stem in nbs:
        title, desc = build_docs.title_of(nbformat.read(ROOT/'nbs'/f'{stem}.ipynb', as_version=4))
        assert title and desc and not title.startswith('#'), (stem, title) # nbdev's `# Title` + `> description`
        assert f'<title>{title}</title>' in (site/f'{stem}.html').read_text(encoding='utf-8')

def test_pages_render_and_link_in_the_browser(site, browser):
    from selenium.webdriver.common.by import By
    browser.get((site/'index.html').as_uri())
    assert browser.title == 'transferkit'
    assert browser.find_element(By.CSS_SELECTOR, 'h1.tk-title').text == 'transferkit'
    nav = browser.find_elements(By.CSS_SELECTOR, 'nav.tk-nav a')
    assert len(nav) == len(list(site.glob('*.html')))
    next(a for a in nav if a.text == 'data').click() # a relative link, followed from file://
    assert browser.current_url.endswith('/10_data.html') and browser.title == 'data'
    code = browser.find_elements(By.CSS_SELECTOR, '.jp-CodeCell .jp-InputArea-editor')
    assert code and any('def get_dls' in c.text for c in code) # an exported cell, shown as code
    assert not any('#| export' in c.text or '#| hide' in c.text for c in code)
    assert browser.find_element(By.CSS_SELECTOR, '.jp-CodeCell .highlight').is_displayed() # syntax-highlighted, laid out
    browser.find_element(By.CSS_SELECTOR, 'nav.tk-nav a[href="00_core.html"]').click()
    assert browser.title == 'core' and 'class TransferkitError' in browser.find_element(By.TAG_NAME, 'body').text

def test_hidden_cells_and_links_between_notebooks(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell('#| default_exp x'),
                                         nbformat.v4.new_markdown_cell('# Ex\n\n> An example.\n\nSee [data](nbs/10_data.ipynb#get_dls) and [web](https://x.org/a.ipynb).'),
                                         nbformat.v4.new_code_cell('#| hide\nsecret = 1'),
                                         nbformat.v4.new_code_cell('#| export\ndef shown(): pass'),
                                         nbformat.v4.new_markdown_cell('## Tests -')])
    for name, n in (('index', nb), ('10_data', nb)): nbformat.write(n, tmp_path/f'{name}.ipynb')
    build_docs.build(tmp_path, tmp_path/'out')
    page = (tmp_path/'out'/'index.html').read_text(encoding='utf-8')
    assert 'href="10_data.html#get_dls"' in page and 'href="https://x.org/a.ipynb"' in page
    assert 'def' in page and 'shown' in page and 'secret' not in page and 'default_exp' not in page and '#| export' not in page and 'Tests -' not in page
    assert '<title>Ex</title>' in page and 'An example.' in page

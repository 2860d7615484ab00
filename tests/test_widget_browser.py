"The cleaner widget as a person meets it: JupyterLab started here on 127.0.0.1, driven by the system's headless Chromium"
import hashlib, json, os, secrets, shutil, signal, subprocess, sys, time, urllib.request
from pathlib import Path

import numpy as np, pytest
from PIL import Image

from conftest import free_port

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM, CHROMEDRIVER = os.environ.get('TK_CHROMIUM', '/usr/bin/chromium'), os.environ.get('TK_CHROMEDRIVER', '/usr/bin/chromedriver') # as ./dev installs them
WAIT = 60 # seconds: every wait for the page is bounded by this (scoring: twice)
CLASSES = ('red', 'green', 'blue')

def _made_up(root, n=14, size=32):
    """`n` images per colour class, numbered alike in every class (8 px noise blown up: small PNGs, small screenshots), then one
    train and one valid image of each class repainted in the next class's colour: `(root, the 6 planted mislabels)`"""
    from transferkit.scoring import folder_items
    rng = np.random.default_rng(0)
    def image(k):
        px = rng.integers(0, 90, (8, 8, 3)); px[..., k] += 150
        return Image.fromarray(px.repeat(size // 8, 0).repeat(size // 8, 1).astype('uint8'))
    for k, label in enumerate(CLASSES):
        (root/label).mkdir(parents=True)
        for i in range(n): image(k).save(root/label/f'{i}.png')
    items = folder_items(root) # the split the cleaner shows: repainting a file does not change it
    planted = [items[(items.label == l) & (items.split == s)].file.iloc[0] for l in CLASSES for s in ('train', 'valid')]
    for f in planted: image((CLASSES.index(f.split('/')[0]) + 1) % 3).save(root/f)
    return root, planted

def _listing(root) -> dict:
    "{relative path: md5} of every file under `root`, outside the cleaner's own folder"
    return {p.relative_to(root).as_posix(): hashlib.md5(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob('*')) if p.is_file() and '.transferkit' not in p.relative_to(root).parts}

def _notebook(path, model, data):
    "A notebook of one cell that shows the cleaner"
    # the user's line: scored at the defaults (out-of-fold heads on the model's own features, bench/README)
    src = f"from transferkit.widget import Cleaner\nCleaner.from_export({str(model)!r}, {str(data)!r}, page_size=12)"
    nb = dict(nbformat=4, nbformat_minor=5, cells=[dict(cell_type='code', id='cleaner', metadata={}, execution_count=None, outputs=[], source=src)],
              metadata=dict(kernelspec=dict(name='python3', display_name='Python 3', language='python')))
    path.write_text(json.dumps(nb))

def _wait_http(url, proc, timeout=WAIT):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        assert proc.poll() is None, f'JupyterLab exited with {proc.returncode}'
        try:
            with urllib.request.urlopen(url, timeout=2): return
        except OSError: time.sleep(0.5)
    raise TimeoutError(f'JupyterLab did not answer at {url} in {timeout} s')

@pytest.fixture
def lab(tmp_path):
    "`(url, token, root dir)` of a JupyterLab this test starts, with its own config, data and runtime folders; stopped after"
    home = tmp_path/'lab'; root = home/'root'
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get('PYTHONPATH', '')]).rstrip(os.pathsep),
               TRANSFERKIT_OFFLINE='1', MPLBACKEND='Agg')
    for k in ('config', 'runtime', 'data'): (home/k).mkdir(parents=True); env[f'JUPYTER_{k.upper()}_DIR'] = str(home/k)
    (home/'config'/'labconfig').mkdir(); root.mkdir()
    # no "Jupyter news?" toast over the page, and no "Select Kernel" dialog: the notebook's kernel starts when it opens
    (home/'config'/'labconfig'/'page_config.json').write_text(json.dumps({'disabledExtensions': {'@jupyterlab/apputils-extension:announcements': True}}))
    tracker = home/'settings'/'@jupyterlab'/'notebook-extension'/'tracker.jupyterlab-settings'
    tracker.parent.mkdir(parents=True); tracker.write_text(json.dumps({'autoStartDefaultKernel': True}))
    env.update(JUPYTERLAB_SETTINGS_DIR=str(home/'settings'), JUPYTERLAB_WORKSPACES_DIR=str(home/'workspaces'))
    port, token = free_port(), secrets.token_hex(16)
    cmd = [sys.executable, '-m', 'jupyter', 'lab', '--no-browser', '--ServerApp.ip=127.0.0.1', f'--ServerApp.port={port}', '--ServerApp.port_retries=0',
           f'--IdentityProvider.token={token}', f'--ServerApp.root_dir={root}'] + (['--allow-root'] if os.geteuid() == 0 else [])
    log = open(home/'lab.log', 'wb')
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        url = f'http://127.0.0.1:{port}'
        _wait_http(f'{url}/api/status?token={token}', proc)
        yield url, token, root
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM) # the server and the kernels it started
            try: proc.wait(20)
            except subprocess.TimeoutExpired: os.killpg(proc.pid, signal.SIGKILL); proc.wait(10)
        log.close()

def _browser():
    "Headless system Chromium through Selenium; a missing browser fails the test with the fix"
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not Path(p).is_file()]
    if missing: pytest.fail(f"{', '.join(missing)} missing: install the browser (apt-get install -y chromium chromium-driver; .ci/run does it)")
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service
    opts = Options(); opts.binary_location = CHROMIUM
    for a in ('--headless=new', '--no-sandbox', '--disable-dev-shm-usage', '--window-size=1440,900'): opts.add_argument(a)
    return webdriver.Chrome(options=opts, service=Service(CHROMEDRIVER))

# the cards whose image is wholly in view, and the layout, as the browser draws them
_IN_VIEW = """const g = document.querySelector('.tk-grid'); let s = g.parentElement;
while (s && !/(auto|scroll)/.test(getComputedStyle(s).overflowY)) s = s.parentElement;
const bottom = Math.min(innerHeight, s ? s.getBoundingClientRect().bottom : innerHeight);
return [...document.querySelectorAll('.tk-thumb > img')].filter(i => { const r = i.getBoundingClientRect(); return r.top >= 0 && r.bottom <= bottom; }).map(i => i.alt)"""
_LAYOUT = """const rect = e => e.getBoundingClientRect(), g = rect(document.querySelector('.tk-grid'));
const cards = [...document.querySelectorAll('.tk-card')].map(rect), first = cards.filter(c => Math.abs(c.top - cards[0].top) < 2);
return {window: innerWidth, grid: g.width, output: rect(document.querySelector('.tk-grid').closest('.jp-OutputArea-output')).width,
        columns: first.length, gap: g.right - Math.max(...first.map(c => c.right))}"""
_LOOK = "const c = getComputedStyle(document.querySelector(arguments[0])); return [parseFloat(c.opacity), c.cursor, c.backgroundColor]"

def test_cleaner_in_jupyterlab(tmp_path, lab):
    from selenium.common.exceptions import ElementClickInterceptedException, ElementNotInteractableException, StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.support.ui import Select, WebDriverWait
    from transferkit.pipeline import train_folder
    url, token, root = lab
    shots = Path(os.environ.get('TK_SCREENSHOTS') or tmp_path/'screenshots'); shots.mkdir(parents=True, exist_ok=True)
    data, planted = _made_up(tmp_path/'data')
    train_folder(data, tmp_path/'model', size=32, epochs=1, pretrained=False, bs=8, progress=False)
    before = _listing(data)
    _notebook(root/'cleaner.ipynb', tmp_path/'model', data)

    driver = _browser()
    try:
        wait = WebDriverWait(driver, WAIT, poll_frequency=0.2, ignored_exceptions=(StaleElementReferenceException,))
        one = lambda css: driver.find_element(By.CSS_SELECTOR, css)
        every = lambda css: driver.find_elements(By.CSS_SELECTOR, css)
        # read in one script, so an element redrawn meanwhile is not a stale reference
        text = lambda css: driver.execute_script('const e = document.querySelector(arguments[0]); return e ? e.innerText.trim() : ""', css)
        def shot(name, end=False): # the widget's top in view, or its end (the status line)
            driver.execute_script(f'arguments[0].scrollIntoView({{block: "{"end" if end else "start"}"}})', one('.tk-cleaner'))
            driver.save_screenshot(str(shots/f'{name}.png'))
        def choose(css, option, within=None):
            Select((within or driver).find_element(By.CSS_SELECTOR, f'{css} select')).select_by_visible_text(option)
        def thumbs(): return driver.execute_script('return [...document.querySelectorAll(".tk-thumb > img")].map(i => i.alt)')
        def card(file): return next(c for c in every('.tk-card') if c.find_element(By.CSS_SELECTOR, '.tk-thumb > img').get_attribute('alt') == file)

        driver.get(f'{url}/lab/tree/cleaner.ipynb?token={token}')
        def kernel_idle(d):
            for b in every('.jp-Dialog .jp-mod-accept'): b.click() # a kernel dialog, should one still come
            return 'ipykernel) | Idle' in d.find_element(By.ID, 'jp-main-statusbar').text and not every('.jp-Dialog')
        wait.until(kernel_idle)
        def run_cell(d):
            try: one('.jp-Cell .cm-content').click()
            except (ElementNotInteractableException, ElementClickInterceptedException): return False
            ActionChains(d).key_down(Keys.SHIFT).send_keys(Keys.ENTER).key_up(Keys.SHIFT).perform(); return True
        wait.until(run_cell)
        WebDriverWait(driver, 2*WAIT, ignored_exceptions=(StaleElementReferenceException,)).until(lambda d: len(thumbs()) == 12)
        # the default view: every class, both splits, most suspect first — the planted mislabels on the first screen
        assert [Select(one(f'{c} select')).first_selected_option.text for c in ('.tk-class', '.tk-split')] == ['all', 'all']
        assert text('.tk-status').startswith('all classes · both splits: 42 image(s), page 1 of 4, most suspect first'), text('.tk-status')
        driver.execute_script('arguments[0].scrollIntoView({block: "start"})', one('.tk-cleaner'))
        seen = set(driver.execute_script(_IN_VIEW)) & set(planted)
        assert len(seen) >= 5 and {f for f in seen if planted.index(f) % 2} , (sorted(seen), planted) # valid ones among them
        img = one('.tk-thumb > img')
        assert (img.size['width'], img.size['height']) == (128, 128), img.size # the 32 px images shown at the widget's size
        legend = text('.tk-legend')
        assert one('.tk-legend').is_displayed() and all(w in legend for w in ('issue score from −1 to 2', 'loss: −log', 'Order: most suspect first', 'Click an image')), legend
        assert '-0.00' not in text('.tk-grid') and '−0.00' not in text('.tk-grid')
        lay = driver.execute_script(_LAYOUT) # the grid fills the width: as many columns as fit, no wide gap at the right
        assert lay['grid'] >= 0.97 * lay['output'] and lay['grid'] >= 0.6 * lay['window'] and lay['columns'] >= 5 and lay['gap'] < 12, lay
        for b in ('.tk-apply', '.tk-prev'): # disabled buttons look disabled
            assert not one(b).is_enabled()
            opacity, cursor, _ = driver.execute_script(_LOOK, b); assert opacity <= 0.5 and cursor == 'not-allowed', (b, opacity, cursor)
        assert text('.tk-apply') == 'Apply' and one('.tk-next').is_enabled()
        assert driver.execute_script(_LOOK, '.tk-next')[:2] == [1, 'pointer']
        assert '<Keep>' not in one('.tk-choice select').get_attribute('innerHTML')
        label = driver.execute_script('return arguments[0].closest(".tk-card").innerText', img).split('·')[1].strip()
        assert [o.text for o in Select(one('.tk-choice select')).options] == ['Keep', 'Delete'] + [c for c in sorted(CLASSES) if c != label]
        driver.save_screenshot(str(shots/'cleaner.png')) # the docs' picture: nbs/images/cleaner.png
        shot('1_default')

        # click to enlarge, click to close
        one('.tk-thumb > img').click()
        wait.until(lambda d: one('.tk-big').is_displayed())
        big = driver.execute_script('const r = document.querySelector(".tk-big img").getBoundingClientRect(), o = document.querySelector(".tk-big").getBoundingClientRect();'
                                    'return [r.width, r.top, r.bottom, o.width, o.height, innerWidth, innerHeight]')
        assert big[0] >= 4 * 128 and big[1] >= 0 and big[2] <= big[6] and big[3] >= 0.7 * big[5], big # 4× the thumbnail, wholly in view, over the notebook
        driver.save_screenshot(str(shots/'2_enlarged.png'))
        one('.tk-big').click()
        wait.until(lambda d: not one('.tk-big').is_displayed())

        # relabel two planted images back (their names are taken there), delete one on another view
        relabels = {f: CLASSES[(CLASSES.index(f.split('/')[0]) + 1) % 3] for f in planted[:4:3]} # one in train, one in valid
        for f, new in relabels.items(): choose('.tk-choice', new, within=card(f))
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, '.tk-thumb.tk-relabel .tk-badge')) == 2)
        wait.until(lambda d: text('.tk-apply') == 'Apply 2 changes')
        opacity, cursor, colour = driver.execute_script(_LOOK, '.tk-apply'); assert (opacity, cursor) == (1, 'pointer') and colour != 'rgb(224, 224, 224)', (opacity, cursor, colour)
        choose('.tk-class', 'green')
        wait.until(lambda d: thumbs() and all(f.startswith('green/') for f in thumbs()))
        assert text('.tk-status').startswith('green · both splits: 14 image(s), page 1 of 2'), text('.tk-status')
        one('.tk-next').click()
        wait.until(lambda d: text('.tk-page') == 'page 2 of 2')
        assert one('.tk-prev').is_enabled() and not one('.tk-next').is_enabled()
        deleted = every('.tk-card')[0].find_element(By.CSS_SELECTOR, '.tk-thumb > img').get_attribute('alt')
        choose('.tk-choice', 'Delete', within=every('.tk-card')[0])
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, '.tk-thumb.tk-delete'))
        wait.until(lambda d: text('.tk-apply') == 'Apply 3 changes')
        choose('.tk-class', 'all') # back: the relabels are still marked, and all three listed
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, '.tk-thumb.tk-relabel .tk-badge')) == 2)
        pending = text('.tk-pending')
        assert f'green · {deleted} → Delete' in pending and all(f"{f.split('/')[0]} · {f} → {new}" in pending for f, new in relabels.items()), pending
        shot('3_pending', end=True)

        one('.tk-apply').click()
        wait.until(lambda d: text('.tk-status').startswith('Applied 3 changes'))
        status, moved = text('.tk-status'), {f: f'{new}/{Path(f).stem}~1.png' for f, new in relabels.items()}
        assert status.startswith('Applied 3 changes: 1 to the trash') and '2 renamed, as the name was taken: ' in status, status
        assert all(f'{f} → {m}' in status for f, m in moved.items()), status # the renames said
        assert not (data/deleted).exists() and (data/'.transferkit'/'trash'/deleted).is_file()
        for f, m in moved.items(): assert not (data/f).exists() and hashlib.md5((data/m).read_bytes()).hexdigest() == before[f]
        assert not one('.tk-apply').is_enabled() and one('.tk-undo').is_enabled()
        assert driver.execute_script(_LOOK, '.tk-apply')[:2] == [0.35, 'not-allowed']
        assert not set(moved.values()) & set(thumbs()) # no longer at the top
        shot('4_applied', end=True)
        m = moved[planted[3]] # green/4.png, from valid: at the end of the valid images, marked, without its old scores
        choose('.tk-split', 'valid')
        wait.until(lambda d: thumbs() and thumbs()[-1] == m)
        cap = card(m).text
        assert 'changed (green → blue), not re-scored' in cap and 'label issue' not in cap and 'issue score' not in cap, cap

        one('.tk-undo').click()
        wait.until(lambda d: text('.tk-status').startswith('Undid 3 changes'))
        assert _listing(data) == before
        assert not [p for p in (data/'.transferkit'/'trash').rglob('*') if p.is_file()]
        assert not one('.tk-undo').is_enabled()
        shot('5_undone', end=True)
    except Exception:
        driver.save_screenshot(str(shots/'failed.png')); raise
    finally: driver.quit()

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
    "`n` noisy images per colour class, each distinct"
    rng = np.random.default_rng(0)
    for k, label in enumerate(CLASSES):
        (root/label).mkdir(parents=True)
        for i in range(n):
            px = rng.integers(0, 90, (size, size, 3)); px[..., k] += 150
            Image.fromarray(px.astype('uint8')).save(root/label/f'{label}{i}.png')
    return root

def _listing(root) -> dict:
    "{relative path: md5} of every file under `root`, outside the cleaner's own folder"
    return {p.relative_to(root).as_posix(): hashlib.md5(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob('*')) if p.is_file() and '.transferkit' not in p.relative_to(root).parts}

def _notebook(path, model, data):
    "A notebook of one cell that shows the cleaner"
    src = f"from transferkit.widget import Cleaner\nCleaner.from_export({str(model)!r}, {str(data)!r}, page_size=4)"
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
    for a in ('--headless=new', '--no-sandbox', '--disable-dev-shm-usage', '--window-size=1400,1000'): opts.add_argument(a)
    return webdriver.Chrome(options=opts, service=Service(CHROMEDRIVER))

def test_cleaner_in_jupyterlab(tmp_path, lab):
    from selenium.common.exceptions import ElementClickInterceptedException, ElementNotInteractableException, StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.support.ui import Select, WebDriverWait
    from transferkit.pipeline import train_folder
    url, token, root = lab
    shots = Path(os.environ.get('TK_SCREENSHOTS') or tmp_path/'screenshots'); shots.mkdir(parents=True, exist_ok=True)
    train_folder(_made_up(tmp_path/'data'), tmp_path/'model', size=32, epochs=1, pretrained=False, bs=8, progress=False)
    data = tmp_path/'data_copy'; shutil.copytree(tmp_path/'data', data)
    before = _listing(data)
    _notebook(root/'cleaner.ipynb', tmp_path/'model', data)

    driver = _browser()
    try:
        wait = WebDriverWait(driver, WAIT, ignored_exceptions=(StaleElementReferenceException,))
        one = lambda css: driver.find_element(By.CSS_SELECTOR, css)
        every = lambda css: driver.find_elements(By.CSS_SELECTOR, css)
        # read in one script, so an element redrawn meanwhile is not a stale reference
        text = lambda css: driver.execute_script('const e = document.querySelector(arguments[0]); return e ? e.innerText.trim() : ""', css)
        def shot(name):
            driver.execute_script('arguments[0].scrollIntoView({block: "start"})', one('.tk-cleaner'))
            driver.save_screenshot(str(shots/f'{name}.png'))
        def choose(css, option, within=None):
            Select((within or driver).find_element(By.CSS_SELECTOR, f'{css} select')).select_by_visible_text(option)
        def thumbs(): return driver.execute_script('return [...document.querySelectorAll(".tk-thumb img")].map(i => i.alt)')

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
        # scoring: its progress bar, caught when the page is quick enough to see it
        WebDriverWait(driver, 2*WAIT, ignored_exceptions=(StaleElementReferenceException,)).until(lambda d: d.find_elements(By.CSS_SELECTOR, '.tk-progress, .tk-thumb img'))
        if every('.tk-progress'): driver.save_screenshot(str(shots/'0_scoring.png'))
        WebDriverWait(driver, 2*WAIT, ignored_exceptions=(StaleElementReferenceException,)).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, '.tk-thumb img')) == 4)
        assert all(f.startswith('blue/') for f in thumbs()), thumbs() # classes sorted: blue first
        img = one('.tk-thumb img')
        assert (img.size['width'], img.size['height']) == (128, 128), img.size # the 32 px images shown at the widget's size
        assert not one('.tk-prev').is_enabled() and one('.tk-next').is_enabled()
        assert text('.tk-apply') == 'Apply' and not one('.tk-apply').is_enabled()
        assert text('.tk-status').startswith('blue · train'), text('.tk-status')
        assert '<Keep>' not in one('.tk-choice select').get_attribute('innerHTML')
        assert [o.text for o in Select(one('.tk-choice select')).options] == ['Keep', 'Delete', 'green', 'red']
        assert 'issue score' in text('.tk-caption') and 'loss' in text('.tk-caption')
        shot('1_loaded')

        choose('.tk-class', 'green')
        wait.until(lambda d: thumbs() and all(f.startswith('green/') for f in thumbs()))
        assert text('.tk-status').startswith('green · train: '), text('.tk-status')
        pages = int(text('.tk-page').split()[-1]); assert pages >= 3, text('.tk-page') # 13 train images, 4 a page
        for p in range(2, pages + 1): # to the last page
            one('.tk-next').click()
            wait.until(lambda d: text('.tk-page') == f'page {p} of {pages}')
            assert one('.tk-prev').is_enabled() and one('.tk-next').is_enabled() == (p < pages)
        assert f'page {pages} of {pages}' in text('.tk-status')
        card = every('.tk-card')[0]
        deleted = card.find_element(By.CSS_SELECTOR, '.tk-thumb img').get_attribute('alt')
        choose('.tk-choice', 'Delete', within=card)
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, '.tk-thumb.tk-delete'))
        wait.until(lambda d: text('.tk-apply') == 'Apply 1 change')
        shot('2_green_last_page_delete')

        choose('.tk-class', 'red') # another class: the green decision stays pending, and listed
        wait.until(lambda d: thumbs() and all(f.startswith('red/') for f in thumbs()))
        assert not every('.tk-thumb.tk-delete')
        card = every('.tk-card')[0]
        relabelled = card.find_element(By.CSS_SELECTOR, '.tk-thumb img').get_attribute('alt')
        choose('.tk-choice', 'blue', within=card)
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, '.tk-thumb.tk-relabel .tk-badge'))
        assert text('.tk-thumb.tk-relabel .tk-badge') == '→ blue'
        wait.until(lambda d: text('.tk-apply') == 'Apply 2 changes')
        pending = text('.tk-pending')
        assert f'green · {deleted} → Delete' in pending and f'red · {relabelled} → blue' in pending, pending
        assert one('.tk-apply').is_enabled()
        shot('3_red_relabel_pending')

        one('.tk-apply').click()
        wait.until(lambda d: text('.tk-status').startswith('Applied 2 changes'))
        assert not (data/deleted).exists() and (data/'.transferkit'/'trash'/deleted).is_file()
        assert not (data/relabelled).exists() and (data/'blue'/Path(relabelled).name).is_file()
        assert hashlib.md5((data/'blue'/Path(relabelled).name).read_bytes()).hexdigest() == before[relabelled]
        assert not one('.tk-apply').is_enabled() and one('.tk-undo').is_enabled()
        shot('4_applied')

        one('.tk-undo').click()
        wait.until(lambda d: text('.tk-status').startswith('Undid 2 changes'))
        assert _listing(data) == before
        assert not [p for p in (data/'.transferkit'/'trash').rglob('*') if p.is_file()]
        assert not one('.tk-undo').is_enabled()
        shot('5_undone')
    except Exception:
        driver.save_screenshot(str(shots/'failed.png')); raise
    finally: driver.quit()

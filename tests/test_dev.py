"`./dev browser`, which `./dev test` runs first: Chromium and its driver are installed when missing, or one line says why not (exit 2)"
import os, subprocess
from pathlib import Path
import pytest
pytestmark = pytest.mark.stackfree # the ./dev script: `./dev test-latest` leaves it out

DEV = Path(__file__).parents[1]/'dev'

def dev_browser(tmp_path, apt_exit:int, chromium, driver):
    "`./dev browser` with an `apt-get` on PATH that exits `apt_exit` (and installs nothing)"
    stub = tmp_path/'bin'; stub.mkdir(exist_ok=True)
    (stub/'apt-get').write_text(f'#!/bin/sh\necho "$@" >> {tmp_path}/apt.log\nexit {apt_exit}\n'); (stub/'apt-get').chmod(0o755)
    (stub/'sudo').write_text('#!/bin/sh\nexec "$@"\n'); (stub/'sudo').chmod(0o755)
    env = dict(os.environ, PATH=f"{stub}:{os.environ['PATH']}", TK_CHROMIUM=str(chromium), TK_CHROMEDRIVER=str(driver))
    return subprocess.run([str(DEV), 'browser'], capture_output=True, text=True, env=env, timeout=60)

def test_browser_present_installs_nothing(tmp_path):
    res = dev_browser(tmp_path, 0, '/bin/sh', '/bin/sh')
    assert res.returncode == 0 and res.stderr == '' and not (tmp_path/'apt.log').exists(), res.stderr

def test_browser_missing_is_installed_or_one_line(tmp_path):
    res = dev_browser(tmp_path, 100, tmp_path/'no-chromium', tmp_path/'no-driver')
    lines = res.stderr.strip().splitlines()
    assert res.returncode == 2 and lines[-1].startswith("./dev: 'apt-get install chromium chromium-driver' failed"), res.stderr
    assert 'install' in (tmp_path/'apt.log').read_text().split('\n')[0] or 'update' in (tmp_path/'apt.log').read_text()
    # apt-get "succeeds" but the files are still not there: one line naming the variables to set
    res = dev_browser(tmp_path, 0, tmp_path/'no-chromium', tmp_path/'no-driver')
    assert res.returncode == 2 and 'TK_CHROMIUM' in res.stderr.strip().splitlines()[-1], res.stderr
    assert 'install -y -qq chromium chromium-driver' in (tmp_path/'apt.log').read_text()

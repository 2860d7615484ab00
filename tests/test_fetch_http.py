"DuckDuckGo source against a local HTTP server of good and bad files (the search itself is injected)"
import json, os, signal, subprocess, sys, time
from pathlib import Path

import pandas as pd, pytest
from PIL import Image

from transferkit.core import TransferkitError, image_files
from transferkit.sources import DDGSource, RateLimited, get_source

BAD = ['corrupt.jpg', 'html.jpg', 'empty.jpg', 'missing.jpg', 'slow.jpg', 'bomb.png', 'huge.jpg']

def test_good_and_bad_responses(http_server, tmp_path):
    urls = [f'{http_server.url}/{p}' for p in ['good/1.jpg', 'good/2.jpg', 'good.png', 'good.webp', 'flaky.jpg', 'good/1.jpg?again'] + BAD]
    # a timeout of seconds, not one: on a loaded machine a handler thread can start a second late, and the retry of
    # flaky.jpg then reaches the server first and gets its 500 (seen once, with a benchmark beside CI)
    src = get_source('ddg:fish', search=lambda q, n: urls[:n], max_per_label=50, timeout=3.0, retries=1, max_bytes=1_000_000)
    rows = src.fetch(tmp_path, progress=False).set_index('origin')
    reason = lambda p: rows.loc[f'{http_server.url}/{p}', 'reason']
    status = lambda p: rows.loc[f'{http_server.url}/{p}', 'status']
    for p in ['good/2.jpg', 'good.png', 'good.webp', 'flaky.jpg']: assert status(p) == 'ok', (p, reason(p))
    # the same bytes from two URLs: one is stored, the other is a duplicate of it
    assert sorted([status('good/1.jpg'), status('good/1.jpg?again')]) == ['duplicate', 'ok']
    assert http_server.hits['/flaky.jpg'] == 2                 # 500 retried once, then OK
    assert http_server.hits['/missing.jpg'] == 1               # 404 not retried
    for p in BAD: assert status(p) == 'failed', p
    assert 'truncated' in reason('corrupt.jpg') and 'HTML' in reason('html.jpg') and 'empty' in reason('empty.jpg')
    assert reason('missing.jpg') == 'HTTP 404' and 'timed out' in reason('slow.jpg')
    assert 'over the limit' in reason('bomb.png') and 'too large' in reason('huge.jpg')
    files = image_files(tmp_path)
    assert len(files) == 5 and {f.parent.name for f in files} == {'fish'}
    assert all(Image.open(f).mode == 'RGB' for f in files)
    assert not list(tmp_path.rglob('*.part'))
    # every URL has exactly one manifest row
    man = pd.read_csv(tmp_path/'manifest.csv')
    assert sorted(man.origin) == sorted(urls)

def test_rerun_fetches_nothing_twice(http_server, tmp_path):
    urls = [f'{http_server.url}/good/{i}.jpg' for i in range(10)] + [f'{http_server.url}/missing.jpg']
    calls = []
    def search(q, n): calls.append(q); return urls
    DDGSource(['a'], search=search).fetch(tmp_path, progress=False)
    hits = dict(http_server.hits)
    rows = DDGSource(['a'], search=search).fetch(tmp_path, progress=False)
    assert calls == ['a']                                      # the saved search is reused
    assert {k: v - hits.get(k, 0) for k,v in http_server.hits.items() if v != hits.get(k, 0)} == {'/missing.jpg': 1}
    assert (rows.status == 'ok').sum() == 10 and len(image_files(tmp_path)) == 10

def test_rate_limit_keeps_earlier_labels(http_server, tmp_path):
    def search(q, n):
        if q == 'b': raise RateLimited('202 Ratelimit')
        return [f'{http_server.url}/good/{i}.jpg' for i in range(3)]
    with pytest.raises(TransferkitError, match="label 'b'.*kept"):
        DDGSource(['a', 'b'], search=search, search_retries=1, search_backoff=0.01).fetch(tmp_path, progress=False)
    assert len(image_files(tmp_path/'a')) == 3

def test_query_per_label_and_max(http_server, tmp_path):
    seen = []
    def search(q, n): seen.append((q, n)); return [f'{http_server.url}/good/{len(seen)*100+i}.jpg' for i in range(n)]
    src = DDGSource(['tilapia'], queries={'tilapia': ['tilapia alive in water', 'tilapia fish']}, max_per_label=5, search=search)
    rows = src.fetch(tmp_path, progress=False)
    assert seen == [('tilapia alive in water', 3), ('tilapia fish', 3)]
    assert len(rows) == 5 and json.loads((tmp_path/'searches.json').read_text())

KILL_SCRIPT = '''
import sys
from transferkit.sources import DDGSource
urls = [f"{sys.argv[1]}/good/{i}.jpg" for i in range(int(sys.argv[3]))] + [f"{sys.argv[1]}/missing.jpg"]
DDGSource(["fish"], search=lambda q, n: urls, max_per_label=10_000).fetch(sys.argv[2], workers=4, progress=False)
'''

def test_sigkill_mid_fetch_then_resume(tmp_path):
    from conftest import ImageServer
    server = ImageServer(delay=0.02)
    try:
        n, dest = 300, tmp_path/'ds'
        proc = subprocess.Popen([sys.executable, '-c', KILL_SCRIPT, server.url, str(dest), str(n)])
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(image_files(dest)) < 40: time.sleep(0.05)
        proc.send_signal(signal.SIGKILL); proc.wait(timeout=10)
        at_kill = len(image_files(dest))
        assert 0 < at_kill < n, 'the kill should land mid-run'
        before = sum(v for k,v in server.hits.items() if k.startswith('/good/'))
        done = subprocess.run([sys.executable, '-c', KILL_SCRIPT, server.url, str(dest), str(n)], timeout=120)
        assert done.returncode == 0
        man = pd.read_csv(dest/'manifest.csv')
        assert len(man) == n + 1 and man.origin.is_unique                 # every URL accounted for, once
        assert (man.status == 'ok').sum() == n and man.file.dropna().is_unique
        assert len(image_files(dest)) == n                                  # zero duplicates on disk
        assert not [p for p in dest.rglob('*') if p.name.endswith('.part')]  # zero temp files
        refetched = sum(v for k,v in server.hits.items() if k.startswith('/good/')) - before
        # finished items are not fetched again: only the rest, plus files the 4 workers wrote but had not recorded
        assert refetched <= n - at_kill + 4
    finally: server.close()

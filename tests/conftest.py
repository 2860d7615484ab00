"Servers the tests start themselves, on 127.0.0.1 only: an HTTP server of good and bad images, and moto's S3 server; and the `transferkit` command run in subprocesses"
import io, json, os, re, socket, subprocess, sys, threading, time
from pathlib import Path
from http.server import ThreadingHTTPServer, BaseHTTPRequestHandler

import pytest
from PIL import Image

CLI = [str(Path(sys.executable).parent/'transferkit')]
ENV = dict(os.environ, TRANSFERKIT_OFFLINE='1', MPLBACKEND='Agg', PYTHONPATH=str(Path(__file__).parents[1]))

EPOCH = re.compile(r'^epoch (\d+)/(\d+)  train_loss [\d.]+  valid_loss [\d.]+  accuracy [\d.]+  error_rate [\d.]+  time \d\d:\d\d$')
NOT_THE_USERS = ['torch.jit', 'FutureWarning', 'pickle module', 'load_learner']

def assert_quiet(res):
    "No progress-bar frame and no warning from inside a dependency in either stream"
    for stream in (res.stdout, res.stderr):
        assert '\r' not in stream and '█' not in stream and '|---' not in stream, stream[-2000:]
        for text in NOT_THE_USERS: assert text not in stream, (text, stream[-2000:])

def run(*args, cwd=None, env=None, timeout=600):
    return subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=timeout, env=env or ENV)

def run_py(code, cwd=None, timeout=600, env=None):
    return subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, cwd=cwd, timeout=timeout, env=env or ENV)

class Result:
    def __init__(self, returncode, stdout, stderr): self.returncode, self.stdout, self.stderr = returncode, stdout, stderr

def run_batch(*argvs, env=None):
    "Results of `transferkit ARGV` for each of `argvs`, run one after the other in one fresh process (saves the imports)"
    code = f"""import contextlib, io, json, sys, traceback
from transferkit.cli import main
out = []
for argv in {[list(map(str, a)) for a in argvs]!r}:
    o, e = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(o), contextlib.redirect_stderr(e):
        try: rc = main(argv)
        except SystemExit as x: rc = x.code
        except BaseException: traceback.print_exc(); rc = 1
    out.append((rc, o.getvalue(), e.getvalue()))
print(json.dumps(out))"""
    res = run_py(code, env=env)
    assert res.returncode == 0, res.stderr[-3000:]
    return [Result(*r) for r in json.loads(res.stdout.strip().splitlines()[-1])]

def one_line_error(res, *words):
    "exit 2, one line on stderr naming `words`, no traceback"
    assert res.returncode == 2, (res.returncode, res.stderr[-2000:])
    lines = [l for l in res.stderr.splitlines() if l.strip()]
    assert len(lines) == 1 and 'Traceback' not in res.stderr, res.stderr[-2000:]
    for w in words: assert w in lines[0], lines[0]
    return lines[0]

def image_bytes(fmt='JPEG', color=(200, 30, 30), size=(48, 40)):
    "Encoded bytes of a plain image"
    b = io.BytesIO(); Image.new('RGB', size, color).save(b, fmt); return b.getvalue()

def distinct_jpeg(i, size=(48, 40)):
    "A JPEG of seeded noise: different bytes for every `i`"
    import random
    img = Image.frombytes('RGB', size, random.Random(i).randbytes(size[0]*size[1]*3))
    b = io.BytesIO(); img.save(b, 'JPEG'); return b.getvalue()

def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0)); return s.getsockname()[1]

class ImageServer:
    "Serves /good/<i>.jpg and a set of bad responses; counts requests per path"
    def __init__(self, delay=0.0):
        self.delay, self.hits, self.lock = delay, {}, threading.Lock()
        bomb = io.BytesIO(); Image.new('1', (9000, 9000)).save(bomb, 'PNG')
        self.static = {'/good.png': ('image/png', image_bytes('PNG', (0, 200, 0))),
                       '/good.webp': ('image/webp', image_bytes('WEBP', (0, 0, 200))),
                       '/corrupt.jpg': ('image/jpeg', image_bytes()[:200]),
                       '/html.jpg': ('image/jpeg', b'<!DOCTYPE html><html><body>Not found</body></html>'),
                       '/empty.jpg': ('image/jpeg', b''),
                       '/bomb.png': ('image/png', bomb.getvalue()),
                       '/huge.jpg': ('image/jpeg', b'\xff\xd8' + b'\0' * 3_000_000)}
        server = self
        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a): pass
            def do_GET(self):
                with server.lock: n = server.hits[self.path] = server.hits.get(self.path, 0) + 1
                if server.delay: time.sleep(server.delay)
                if self.path.startswith('/good/'): return self.send(200, 'image/jpeg', distinct_jpeg(int(self.path[6:].split('.')[0])))
                if self.path == '/flaky.jpg':
                    return self.send(500, 'text/plain', b'oops') if n == 1 else self.send(200, 'image/jpeg', image_bytes(color=(1, 2, 3)))
                if self.path == '/slow.jpg': # well past the fetch's timeout in test_good_and_bad_responses
                    time.sleep(8); return self.send(200, 'image/jpeg', image_bytes())
                if self.path in server.static: return self.send(200, *server.static[self.path])
                self.send(404, 'text/html', b'<html>404</html>')
            def send(self, code, ctype, body):
                try:
                    self.send_response(code); self.send_header('Content-Type', ctype)
                    self.send_header('Content-Length', str(len(body))); self.end_headers(); self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError): pass
        self.httpd = ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f'http://127.0.0.1:{self.httpd.server_address[1]}'
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self): self.httpd.shutdown(); self.httpd.server_close()

@pytest.fixture(scope='session')
def demo_run(tmp_path_factory):
    "`transferkit demo` at its defaults, run once for the whole session (test_cli, test_quiet_output): `(out, result)`"
    base = tmp_path_factory.mktemp('demo')
    res = run('demo', '--out', 'out', cwd=base) # a relative folder, as a user types it; stdout and stderr piped
    assert res.returncode == 0, res.stderr[-3000:]
    return base/'out', res

@pytest.fixture
def http_server():
    s = ImageServer(); yield s; s.close()

@pytest.fixture(scope='session')
def s3_endpoint():
    "moto's S3 server in a thread on 127.0.0.1, reached over real HTTP"
    from moto.server import ThreadedMotoServer
    port = free_port()
    server = ThreadedMotoServer(ip_address='127.0.0.1', port=port, verbose=False)
    server.start()
    yield f'http://127.0.0.1:{port}'
    server.stop()

@pytest.fixture(autouse=True)
def _aws_env(monkeypatch):
    "Fake credentials, so nothing can reach a real account"
    for k,v in dict(AWS_ACCESS_KEY_ID='testing', AWS_SECRET_ACCESS_KEY='testing', AWS_DEFAULT_REGION='us-east-1').items(): monkeypatch.setenv(k, v)
    monkeypatch.setenv('TRANSFERKIT_OFFLINE', '1')

def pytest_collection_modifyitems(config, items):
    "Tests marked `slow` run with `-m slow` (or TRANSFERKIT_SLOW=1), not in the default set that CI runs twice"
    if 'slow' in (config.getoption('markexpr') or '') or os.environ.get('TRANSFERKIT_SLOW'): return
    skip = pytest.mark.skip(reason='slow: run with -m slow or TRANSFERKIT_SLOW=1')
    for item in items:
        if item.get_closest_marker('slow'): item.add_marker(skip)

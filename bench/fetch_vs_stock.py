"""Fetching images: transferkit vs the hand-made way, same inputs, one run.

1. HTTP, 300 ms latency per request on a local server: transferkit's DDG source (search injected) vs
   fastai's `download_images` on the same URL list. Reports images/s and images kept by each.
2. S3, moto's server on 127.0.0.1 in its own process (as S3 is: in the same process its Python would compete with
   the client's for one GIL): transferkit's S3 source vs a sequential boto3 `download_file` loop, with
   --s3-latency seconds added to every request (0: moto as it is; real S3 answers a GET in tens of ms, which is
   what concurrency hides, while a bare moto server on the same two cores only measures its own CPU).

    ./dev bench fetch_vs_stock [--urls 200] [--latency 0.3] [--workers N] [--objects 400] [--s3-latency 0.03] [--repeats 3] [--only s3]
"""
import argparse, io, json, os, random, socket, statistics, sys, tempfile, threading, time
from http.server import ThreadingHTTPServer, BaseHTTPRequestHandler
from pathlib import Path

from PIL import Image

def jpeg(i, size=(160, 120)):
    img = Image.frombytes('RGB', size, random.Random(i).randbytes(size[0]*size[1]*3))
    b = io.BytesIO(); img.save(b, 'JPEG', quality=85); return b.getvalue()

def serve(latency, n):
    "A threaded server of n distinct JPEGs, each answered after `latency` seconds"
    blobs = [jpeg(i) for i in range(n)]
    class H(BaseHTTPRequestHandler):
        def log_message(self, *a): pass
        def do_GET(self):
            time.sleep(latency)
            body = blobs[int(self.path.rsplit('/', 1)[1].split('.')[0])]
            self.send_response(200); self.send_header('Content-Type', 'image/jpeg'); self.send_header('Content-Length', str(len(body)))
            self.end_headers(); self.wfile.write(body)
    class Server(ThreadingHTTPServer):
        request_queue_size, daemon_threads = 256, True   # a listen backlog that many concurrent clients fit in
    httpd = Server(('127.0.0.1', 0), H)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, f'http://127.0.0.1:{httpd.server_address[1]}'

def count_images(d): return sum(1 for p in Path(d).rglob('*') if p.suffix.lower() in ('.jpg', '.jpeg', '.png'))

def bench_http(a, tmp):
    from fastai.vision.utils import download_images
    from transferkit.sources import DDGSource
    httpd, url = serve(a.latency, a.urls)
    urls = [f'{url}/img/{i}.jpg' for i in range(a.urls)]
    out = {'stock': [], 'transferkit': []}
    for r in range(a.repeats):
        d = Path(tmp)/f'http{r}'; d.mkdir(parents=True)
        t = time.perf_counter(); download_images(d/'stock', urls=urls); ts = time.perf_counter() - t
        out['stock'].append(dict(seconds=ts, kept=count_images(d/'stock')))
        t = time.perf_counter(); DDGSource(['x'], search=lambda q, n: urls, max_per_label=len(urls)).fetch(d/'tk', workers=a.workers, progress=False); tt = time.perf_counter() - t
        out['transferkit'].append(dict(seconds=tt, kept=count_images(d/'tk')))
        print('http', r, out['stock'][-1], out['transferkit'][-1], flush=True)
    httpd.shutdown()
    return out

MOTO = '''
import sys, time, logging
from moto.server import DomainDispatcherApplication, create_backend_app, MotoRequestHandler
from werkzeug.serving import make_server
logging.getLogger('werkzeug').setLevel(logging.ERROR)  # no line per request
port, latency = int(sys.argv[1]), float(sys.argv[2])
app = DomainDispatcherApplication(create_backend_app)
def slow(environ, start_response):
    time.sleep(latency)
    return app(environ, start_response)
make_server('127.0.0.1', port, slow if latency else app, threaded=True, request_handler=MotoRequestHandler).serve_forever()
'''

def latency_moto(port, latency):
    "moto's S3 server app on 127.0.0.1:`port`, in its own process as S3 is, every request answered `latency` seconds late"
    import subprocess
    proc = subprocess.Popen([sys.executable, '-c', MOTO, str(port), str(latency)])
    for _ in range(300): # up to 30 s for moto to import and listen
        try:
            with socket.create_connection(('127.0.0.1', port), timeout=1): return proc
        except OSError:
            if proc.poll() is not None: sys.exit('the moto server did not start')
            time.sleep(0.1)
    proc.kill(); sys.exit('the moto server did not listen within 30 s')

def bench_s3(a, tmp):
    import boto3
    from transferkit.sources import S3Source
    os.environ.update(AWS_ACCESS_KEY_ID='bench', AWS_SECRET_ACCESS_KEY='bench', AWS_DEFAULT_REGION='us-east-1')
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); port = s.getsockname()[1]
    server = latency_moto(port, a.s3_latency)
    ep = f'http://127.0.0.1:{port}'
    s3 = boto3.client('s3', endpoint_url=ep)
    s3.create_bucket(Bucket='photos')
    keys = [f'p/{"high" if i % 3 == 0 else "low"}/{i:05d}.jpg' for i in range(a.objects)]
    for i,k in enumerate(keys): s3.put_object(Bucket='photos', Key=k, Body=jpeg(10_000 + i))
    out = {'stock': [], 'transferkit': []}
    for r in range(a.repeats):
        d = Path(tmp)/f's3{r}'
        t = time.perf_counter()
        for k in keys:   # the hand-made loop: one file after another
            dest = d/'stock'/k.split('/')[1]/k.rsplit('/', 1)[1]; dest.parent.mkdir(parents=True, exist_ok=True)
            s3.download_file('photos', k, str(dest))
        ts = time.perf_counter() - t
        out['stock'].append(dict(seconds=ts, kept=count_images(d/'stock')))
        t = time.perf_counter(); S3Source('photos', 'p', endpoint_url=ep).fetch(d/'tk', workers=a.workers, progress=False); tt = time.perf_counter() - t
        out['transferkit'].append(dict(seconds=tt, kept=count_images(d/'tk')))
        print('s3', r, out['stock'][-1], out['transferkit'][-1], flush=True)
    server.terminate(); server.wait(timeout=30)
    return out

def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--urls', type=int, default=200); p.add_argument('--latency', type=float, default=0.3)
    p.add_argument('--objects', type=int, default=400); p.add_argument('--repeats', type=int, default=3)
    p.add_argument('--workers', type=int, default=None, help="transferkit's threads (default: the source's own, 64 for HTTP, 32 for S3)")
    p.add_argument('--s3-latency', type=float, default=0.03, help='seconds added to every S3 request')
    p.add_argument('--only', choices=['http', 's3'], help='run one of the two comparisons')
    p.add_argument('--out', default='bench/out/fetch_vs_stock.json')
    a = p.parse_args()
    res = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, fn, n in [('http', bench_http, a.urls), ('s3', bench_s3, a.objects)]:
            if a.only not in (None, name): continue
            r = fn(a, tmp)
            med = {k: statistics.median(n / x['seconds'] for x in v) for k,v in r.items()}
            res[name] = dict(per_s=med, speedup=med['transferkit']/med['stock'], kept={k: min(x['kept'] for x in v) for k,v in r.items()}, n=n, runs=r)
            print(f"{name}: stock {med['stock']:.1f}/s, transferkit {med['transferkit']:.1f}/s -> {res[name]['speedup']:.1f}x; kept {res[name]['kept']} of {n}")
    Path(a.out).parent.mkdir(parents=True, exist_ok=True); Path(a.out).write_text(json.dumps(res | dict(settings=vars(a)), indent=1))

if __name__ == '__main__': main()

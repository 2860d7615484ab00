"S3 source against moto's S3 server on 127.0.0.1, through boto3 over HTTP"
import io, time
import boto3, pandas as pd, pytest

from transferkit.core import TransferkitError, image_files
from transferkit.ingest import summarize
from transferkit.sources import S3Source, get_source
from conftest import distinct_jpeg, image_bytes
pytestmark = pytest.mark.latest # boto3 against moto's server: `./dev test-latest` runs it on the newest releases

@pytest.fixture(scope='module')
def bucket(s3_endpoint):
    "A bucket of 1,500+ objects: label prefixes, corrupt images, '..' keys, a CSV index with missing keys"
    import os
    os.environ.update(AWS_ACCESS_KEY_ID='testing', AWS_SECRET_ACCESS_KEY='testing', AWS_DEFAULT_REGION='us-east-1')
    s3 = boto3.client('s3', endpoint_url=s3_endpoint, region_name='us-east-1')
    s3.create_bucket(Bucket='photos')
    from concurrent.futures import ThreadPoolExecutor
    objs = {f'inspections/{"high" if i % 3 == 0 else "low"}/{i:05d}.jpg': distinct_jpeg(i) for i in range(1500)}
    objs.update({'inspections/low/corrupt.jpg': image_bytes()[:150], 'inspections/high/page.jpg': b'<html>no</html>',
                 'inspections/../escape/x.jpg': distinct_jpeg(90001), 'inspections/notes.txt': b'not an image',
                 'index/a.jpg': distinct_jpeg(90002), 'index/b.jpg': distinct_jpeg(90003)})
    with ThreadPoolExecutor(16) as ex: list(ex.map(lambda kv: s3.put_object(Bucket='photos', Key=kv[0], Body=kv[1]), objs.items()))
    index = pd.DataFrame({'photo': ['index/a.jpg', 'index/b.jpg', 'index/gone.jpg', '../../etc/passwd'], 'rating': [4, 1, 5, 2]})
    s3.put_object(Bucket='photos', Key='index.csv', Body=index.to_csv(index=False).encode())
    return dict(endpoint=s3_endpoint, client=s3, n=1500)

def test_prefix_layout_paginates_and_contains_bad_keys(bucket, tmp_path):
    src = get_source('s3://photos/inspections', endpoint_url=bucket['endpoint'])
    assert isinstance(src, S3Source)
    t = time.perf_counter()
    rows = src.fetch(tmp_path/'ds', workers=16, progress=False)
    counts = summarize(rows)
    assert counts.loc['high', 'ok'] == 500 and counts.loc['low', 'ok'] == 1000    # past the 1,000-key page
    bad = rows[rows.status == 'failed'].set_index('origin')
    assert set(bad.index) == {'inspections/low/corrupt.jpg', 'inspections/high/page.jpg', 'inspections/../escape/x.jpg'}
    assert 'cannot be a folder name' in bad.loc['inspections/../escape/x.jpg', 'reason']
    assert not (tmp_path/'escape').exists() and {p.name for p in (tmp_path/'ds').iterdir()} == {'high', 'low', 'manifest.csv'}
    assert len(image_files(tmp_path/'ds')) == 1500
    # a re-run downloads nothing
    calls = []
    src.client.meta.events.register('before-call.s3.GetObject', lambda **kw: calls.append(1))
    src.fetch(tmp_path/'ds', progress=False)
    assert len(calls) == 2   # only the two images that failed to decode are read again
    print(f's3 fetch of 1,503 objects: {time.perf_counter() - t:.1f}s')

def test_csv_index_with_label_function_and_missing_keys(bucket, tmp_path):
    src = S3Source('photos', index='index.csv', key_col='photo', label_fn=lambda r: 'high' if r['rating'] >= 3 else 'low',
                   endpoint_url=bucket['endpoint'])
    rows = src.fetch(tmp_path, progress=False).set_index('origin')
    assert rows.loc['index/a.jpg', 'label'] == 'high' and rows.loc['index/b.jpg', 'label'] == 'low'
    assert rows.loc['index/gone.jpg', 'status'] == 'failed' and rows.loc['index/gone.jpg', 'reason'] == 'key not found'
    assert rows.loc['../../etc/passwd', 'status'] == 'failed'
    assert len(image_files(tmp_path)) == 2 and not (tmp_path.parent/'etc').exists()

def test_index_columns_and_bucket_errors(bucket, tmp_path):
    with pytest.raises(TransferkitError, match="no column 'key'"):
        S3Source('photos', index='index.csv', endpoint_url=bucket['endpoint']).items()
    with pytest.raises(TransferkitError, match=r'Index inspections/index.csv: no such local file, nor key in s3://photos \(key not found\): .*full key'):
        S3Source('photos', 'inspections', index='inspections/index.csv', key_col='photo', endpoint_url=bucket['endpoint']).items()
    with pytest.raises(TransferkitError, match='Cannot list s3://nobucket'):
        get_source('s3://nobucket/x', endpoint_url=bucket['endpoint']).items()

def test_anonymous_client_sends_unsigned_requests(bucket):
    src = S3Source('photos', 'index', anonymous=True, endpoint_url=bucket['endpoint'])
    seen = []
    src.client.meta.events.register('before-send.s3.*', lambda request, **kw: seen.append(request.headers.get('Authorization')))
    keys = src.keys()
    assert keys == ['index/a.jpg', 'index/b.jpg'] and seen and all(a is None for a in seen)

def _main(*argv):
    "`(exit code, stderr)` of `transferkit ARGV`, in this process (which runs the S3 server)"
    import contextlib
    from transferkit.cli import main
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()): code = main([str(a) for a in argv])
    return code, err.getvalue()

def test_cli_labels_from_binned_ratings(bucket, tmp_path, monkeypatch):
    "`fetch --label-col rating --label-bins`: labels by range, the rule in the manifest; bad bins or a rating in no bin: one line, exit 2, before any download"
    bucket['client'].put_object(Bucket='photos', Key='rated.csv', Body=b'photo,rating\nindex/a.jpg,4\nindex/b.jpg,unrated\n')
    got = []
    real_get = S3Source._get
    monkeypatch.setattr(S3Source, '_get', lambda self, key: got.append(key) or real_get(self, key))
    s3 = ['--endpoint-url', bucket['endpoint'], '--key-col', 'photo', '--label-col', 'rating']
    for extra, words in [(['--index', 'index.csv', '--label-bins', '0-2:low,2-5:high'], ['--label-bins', 'low and high overlap']),
                         (['--index', 'index.csv', '--label-bins', '0-2:low,3-5'], ['--label-bins', "'3-5' is not LO-HI:LABEL"]),
                         (['--index', 'index.csv', '--label-bins', '0-1:low,3-5:high'], ['1 index row(s) have no label: row 4 (../../etc/passwd): rating 2 is outside every bin']),
                         (['--index', 'rated.csv', '--label-bins', '0-2:low,3-5:high'], ["row 2 (index/b.jpg): rating 'unrated' is not a number"]),
                         (['--label-bins', '0-2:low,3-5:high'], ['--label-bins labels the rows of an index'])]:
        got.clear()
        code, err = _main('fetch', 's3://photos', '--dest', tmp_path/'ds', *s3, *extra)
        assert code == 2 and len(err.strip().splitlines()) == 1 and all(w in err for w in words), err
        assert not (tmp_path/'ds').exists() and set(got) <= {'index.csv', 'rated.csv'}, got  # no image read
    code, err = _main('fetch', 's3://photos', '--dest', tmp_path/'ds', *s3, '--index', 'index.csv', '--label-bins', '0-2:low,3-5:high')
    assert code == 0, err
    rows = pd.read_csv(tmp_path/'ds'/'manifest.csv').set_index('origin')
    assert rows.loc['index/a.jpg', 'label'] == 'high' and rows.loc['index/b.jpg', 'label'] == 'low' and rows.loc['index/gone.jpg', 'status'] == 'failed'
    assert set(rows.source) == {'s3 (labels: rating binned 0-2:low,3-5:high)'}, rows.source
    assert sorted(p.name for p in (tmp_path/'ds').iterdir()) == ['high', 'low', 'manifest.csv']

"""Faithful pixels: every Pillow mode a photo can come in, built with a known gradient, goes through the ingest path
(`prepare_image`) and the direct reader (`read_rgb`); the stored pixels must be the expected 8-bit RGB, computed here
with numpy from the source values (not with Pillow's own conversion)."""
import io, struct, zlib

import numpy as np, pytest
from PIL import Image

from transferkit.ingest import prepare_image, read_rgb, to_rgb

H, W = 16, 32
ramp = np.linspace(0, 1, W)[None, :].repeat(H, 0)          # 0..1 left to right
ramp_v = np.linspace(0, 1, H)[:, None].repeat(W, 1)        # 0..1 top to bottom
u8 = lambda a: np.rint(np.clip(a, 0, 255)).astype(np.uint8)
gray3 = lambda a: np.repeat(u8(a)[..., None], 3, -1)

def encode(img, fmt, **kw):
    b = io.BytesIO(); img.save(b, fmt, **kw); return b.getvalue()

def png16(arr, color_type):
    "A 16-bit PNG written by hand (Pillow cannot write 16-bit colour): color_type 0 gray, 2 RGB, 4 gray+alpha, 6 RGBA"
    h, w = arr.shape[:2]; rows = arr.reshape(h, -1).astype('>u2')
    raw = b''.join(b'\0' + rows[y].tobytes() for y in range(h))
    chunk = lambda t, d: struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t + d) & 0xffffffff)
    return (b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', w, h, 16, color_type, 0, 0, 0))
            + chunk(b'IDAT', zlib.compress(raw)) + chunk(b'IEND', b''))

def over_white(rgb, alpha):
    "Expected composite of `rgb` (0..255 floats) with `alpha` (0..255) over white"
    a = alpha[..., None] / 255.
    return u8(rgb * a + 255 * (1 - a))

JPEG = 'jpeg' # stored as JPEG: allowed the error of encoding the expected image itself as JPEG (quality 90), plus 2

def jpeg_error(expected):
    b = io.BytesIO(); Image.fromarray(expected).save(b, 'JPEG', quality=90)
    return int(np.abs(np.asarray(Image.open(b)).astype(int) - expected.astype(int)).max())

def _cases():
    "name -> (file bytes, expected HxWx3 uint8, max abs error allowed)"
    c = {}
    g8 = u8(ramp * 255)
    rgb = np.stack([ramp * 255, ramp_v * 255, (1 - ramp) * 200 + 20], -1)
    c['1'] = (encode(Image.fromarray(g8 > 127).convert('1'), 'PNG'), gray3((g8 > 127) * 255), 0)
    c['L'] = (encode(Image.fromarray(g8, 'L'), 'PNG'), gray3(g8), 0)
    la = Image.merge('LA', [Image.fromarray(g8), Image.fromarray(u8(ramp_v * 255))])
    c['LA'] = (encode(la, 'PNG'), np.repeat(over_white(g8[..., None].astype(float), u8(ramp_v * 255).astype(float)), 3, -1)[..., :3], 1)
    pal = np.random.default_rng(0).integers(0, 256, (256, 3)).astype(np.uint8)
    idx = u8(ramp * 255)
    p = Image.fromarray(idx, 'P'); p.putpalette(pal.tobytes())
    c['P'] = (encode(p, 'PNG'), pal[idx], 0)
    pt = p.copy(); pt.info['transparency'] = 0 # palette index 0 transparent
    exp = pal[idx].copy(); exp[idx == 0] = 255
    c['P+transparency'] = (encode(pt, 'PNG', transparency=0), exp, 0)
    c['RGB'] = (encode(Image.fromarray(u8(rgb)), 'PNG'), u8(rgb), 0)
    key = tuple(int(v) for v in u8(rgb)[0, 0])
    exp = u8(rgb).copy(); exp[(u8(rgb) == key).all(-1)] = 255
    c['RGB+transparency'] = (encode(Image.fromarray(u8(rgb)), 'PNG', transparency=key), exp, 0)
    alpha = u8(ramp_v * 255)
    c['RGBA'] = (encode(Image.fromarray(np.dstack([u8(rgb), alpha]), 'RGBA'), 'PNG'), over_white(u8(rgb).astype(float), alpha.astype(float)), 1)
    cmyk = np.stack([u8(ramp * 255), u8(ramp_v * 255), u8((1 - ramp) * 255), u8(ramp_v * 80)], -1)
    exp_cmyk = u8((255 - cmyk[..., :3].astype(float)) * (255 - cmyk[..., 3:].astype(float)) / 255)
    c['CMYK (TIFF)'] = (encode(Image.fromarray(cmyk, 'CMYK'), 'TIFF'), exp_cmyk, 1)
    cmyk_jpeg = encode(Image.fromarray(cmyk, 'CMYK'), 'JPEG', quality=95)
    decoded = np.asarray(Image.open(io.BytesIO(cmyk_jpeg))).astype(float) # the source's own JPEG loss is not ours
    c['CMYK (JPEG)'] = (cmyk_jpeg, u8((255 - decoded[..., :3]) * (255 - decoded[..., 3:]) / 255), JPEG)
    ycc = np.stack([u8(ramp * 200 + 30), u8(ramp_v * 200 + 28), u8((1 - ramp) * 200 + 28)], -1).astype(float)
    y, cb, cr = ycc[..., 0], ycc[..., 1] - 128, ycc[..., 2] - 128
    exp_ycc = u8(np.stack([y + 1.402 * cr, y - 0.344136 * cb - 0.714136 * cr, y + 1.772 * cb], -1))
    c['YCbCr (TIFF)'] = (encode(Image.fromarray(u8(ycc), 'YCbCr'), 'TIFF'), exp_ycc, 2)
    v16 = np.rint(ramp * 65535).astype(np.uint16)
    exp16 = gray3(v16 / 257)
    c['I;16 (PNG)'] = (encode(Image.fromarray(v16), 'PNG'), exp16, 0)
    c['I;16 (TIFF)'] = (encode(Image.fromarray(v16), 'TIFF'), exp16, 0)
    c['I;16B (TIFF)'] = (encode(Image.frombytes('I;16B', (W, H), v16.astype('>u2').tobytes()), 'TIFF'), exp16, 0)
    c['I;16L (TIFF)'] = (encode(Image.frombytes('I;16L', (W, H), v16.astype('<u2').tobytes()), 'TIFF'), exp16, 0)
    c['I (0..65535, TIFF)'] = (encode(Image.fromarray(v16.astype(np.int32)), 'TIFF'), exp16, 0)
    wide = np.rint(ramp * 101000 - 1000).astype(np.int32)
    c['I (own range, TIFF)'] = (encode(Image.fromarray(wide), 'TIFF'), gray3((wide + 1000) / 101000 * 255), 1)
    f01 = ramp.astype(np.float32)
    c['F (0..1, TIFF)'] = (encode(Image.fromarray(f01), 'TIFF'), gray3(f01 * 255), 0)
    fw = (ramp * 10 - 5).astype(np.float32)
    c['F (own range, TIFF)'] = (encode(Image.fromarray(fw), 'TIFF'), gray3((fw + 5) / 10 * 255), 1)
    rgb16 = np.rint(np.stack([ramp, ramp_v, 1 - ramp], -1) * 65535).astype(np.uint16)
    c['RGB 16-bit (PNG)'] = (png16(rgb16, 2), u8(rgb16 / 257), 1)
    a16 = np.rint(ramp_v * 65535).astype(np.uint16)
    c['RGBA 16-bit (PNG)'] = (png16(np.dstack([rgb16, a16]), 6), over_white(rgb16 / 257, a16 / 257), 2)
    c['LA 16-bit (PNG)'] = (png16(np.dstack([v16, a16]), 4), np.repeat(over_white((v16 / 257)[..., None], a16 / 257), 3, -1)[..., :3], 2)
    frames = [Image.fromarray(u8(rgb)).convert('P', palette=Image.Palette.ADAPTIVE), Image.new('RGB', (W, H), (0, 255, 0)).convert('P')]
    first = np.asarray(frames[0].convert('RGB'))
    c['GIF (2 frames)'] = (encode(frames[0], 'GIF', save_all=True, append_images=frames[1:]), first, 0)
    c['TIFF (2 pages)'] = (encode(Image.fromarray(u8(rgb)), 'TIFF', save_all=True, append_images=[Image.new('RGB', (W, H), 'red')]), u8(rgb), 0)
    c['BMP'] = (encode(Image.fromarray(u8(rgb)), 'BMP'), u8(rgb), 0)
    c['WEBP (lossless)'] = (encode(Image.fromarray(u8(rgb)), 'WEBP', lossless=True), u8(rgb), JPEG) # WebP counts as lossy: stored as JPEG
    return c

CASES = _cases()

def stored_error(data, expected, prepare=prepare_image):
    out, ext, size = prepare(data)
    px = np.asarray(Image.open(io.BytesIO(out)).convert('RGB')).astype(int)
    assert px.shape == expected.shape, (px.shape, expected.shape)
    return int(np.abs(px - expected.astype(int)).max()), ext

@pytest.mark.parametrize('mode', list(CASES))
def test_ingest_stores_faithful_pixels(mode):
    data, expected, tol = CASES[mode]
    err, ext = stored_error(data, expected)
    if tol == JPEG: assert ext == '.jpg' and err <= jpeg_error(expected) + 2, f'{mode}: max error {err} ({ext})'
    else: assert ext == '.png' and err <= tol, f'{mode}: max error {err} > {tol} ({ext})'  # a lossless source is stored lossless

@pytest.mark.parametrize('mode', list(CASES))
def test_read_rgb_matches_the_ingest_path(mode, tmp_path):
    data, expected, tol = CASES[mode]
    (tmp_path/'x').write_bytes(data)
    err = int(np.abs(np.asarray(read_rgb(tmp_path/'x')).astype(int) - expected.astype(int)).max())
    assert err <= (0 if tol == JPEG else tol), f'{mode}: max error {err}'  # nothing re-encoded: exact

def test_pa_in_memory():
    "PA cannot be written to a file by Pillow (a PNG palette with alpha opens as P + transparency, tested above)"
    p = Image.fromarray(u8(ramp * 255), 'P'); p.putpalette(bytes(v for v in range(256) for _ in range(3))) # gray
    pa = p.convert('PA'); pa.putalpha(Image.fromarray(u8(ramp_v * 255)))
    exp = over_white(np.repeat(u8(ramp * 255)[..., None], 3, -1).astype(float), u8(ramp_v * 255).astype(float))
    assert np.abs(np.asarray(to_rgb(pa)).astype(int) - exp).max() <= 1

def test_fastai_reader_clips_16_bit(tmp_path):
    "Why transferkit reads through `read_rgb`: fastai's PILImage.create (Pillow's convert) clips a 16-bit gradient to white"
    from fastai.vision.core import PILImage
    data, expected, _ = CASES['I;16 (PNG)']
    (tmp_path/'g.png').write_bytes(data)
    clipped = np.asarray(PILImage.create(tmp_path/'g.png')).astype(int)
    assert np.abs(clipped - expected).max() > 200 and (clipped[:, W//4:] == 255).all()

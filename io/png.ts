/** Minimal PNG encoder (8-bit greyscale / RGB) on node:zlib, for central slices in reports. */
import { deflateSync } from 'node:zlib';

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

function crc32(buf: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < buf.length; i++) c = CRC_TABLE[(c ^ buf[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Uint8Array): Buffer {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, 'ascii');
  Buffer.from(data.buffer, data.byteOffset, data.byteLength).copy(out, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
}

/** Encodes `pixels` (row-major, `channels` bytes per pixel: 1 = grey, 3 = RGB) as a PNG file. */
export function encodePng(width: number, height: number, pixels: Uint8Array, channels: 1 | 3 = 1): Buffer {
  if (pixels.length !== width * height * channels) {
    throw new Error(`PNG of ${width}×${height}×${channels} needs ${width * height * channels} bytes, got ${pixels.length}`);
  }
  const stride = width * channels;
  const raw = new Uint8Array((stride + 1) * height);
  for (let y = 0; y < height; y++) {
    raw[y * (stride + 1)] = 0; // filter: none
    raw.set(pixels.subarray(y * stride, (y + 1) * stride), y * (stride + 1) + 1);
  }
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = 8;
  header[9] = channels === 1 ? 0 : 2;
  const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  return Buffer.concat([
    signature,
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(raw)),
    chunk('IEND', new Uint8Array(0)),
  ]);
}

/**
 * Greyscale image of a 2D float array scaled by its mean ± `sigmas`·std (the usual display contrast for
 * noisy cryo-EM slices), upscaled by integer `zoom` so a 64² slice is readable on a page.
 */
export function floatImageToPng(values: ArrayLike<number>, width: number, height: number, zoom = 4, sigmas = 3): Buffer {
  let sum = 0;
  let sum2 = 0;
  for (let i = 0; i < values.length; i++) {
    sum += values[i];
    sum2 += values[i] * values[i];
  }
  const mean = sum / values.length;
  const std = Math.sqrt(Math.max(sum2 / values.length - mean * mean, 0)) || 1;
  const lo = mean - sigmas * std;
  const scale = 255 / (2 * sigmas * std);
  const w = width * zoom;
  const h = height * zoom;
  const pixels = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) {
    // Images are drawn with y up, as in cryo-EM viewers.
    const row = (height - 1 - Math.floor(y / zoom)) * width;
    for (let x = 0; x < w; x++) {
      const v = (values[row + Math.floor(x / zoom)] - lo) * scale;
      pixels[y * w + x] = v < 0 ? 0 : v > 255 ? 255 : Math.round(v);
    }
  }
  return encodePng(w, h, pixels, 1);
}

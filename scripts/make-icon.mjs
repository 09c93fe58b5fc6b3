// Generates assets/icon.png (128x128 RGBA) with node:zlib only: a rounded tile with three bars
// shrinking left to right (a file getting smaller) in TensorZip's blue. Run: node scripts/make-icon.mjs
import { deflateSync } from 'node:zlib';
import { writeFileSync, mkdirSync } from 'node:fs';

const W = 128,
  H = 128;
const px = Buffer.alloc(W * H * 4);
const set = (x, y, [r, g, b, a]) => {
  const i = (y * W + x) * 4;
  px[i] = r;
  px[i + 1] = g;
  px[i + 2] = b;
  px[i + 3] = a;
};
const inRounded = (x, y, x0, y0, x1, y1, rad) => {
  if (x < x0 || x > x1 || y < y0 || y > y1) return false;
  const cx = Math.min(Math.max(x, x0 + rad), x1 - rad),
    cy = Math.min(Math.max(y, y0 + rad), y1 - rad);
  return (x - cx) ** 2 + (y - cy) ** 2 <= rad * rad;
};
const bg = [24, 54, 92, 255],
  bar = [86, 171, 255, 255],
  light = [190, 225, 255, 255];
const bars = [
  [22, 28, 46],
  [55, 48, 46],
  [88, 70, 46],
]; // x, top, width(ish)
for (let y = 0; y < H; y++)
  for (let x = 0; x < W; x++) {
    let c = [0, 0, 0, 0];
    if (inRounded(x, y, 4, 4, 123, 123, 22)) c = bg;
    for (const [bx, top] of bars) if (inRounded(x, y, bx, top, bx + 22, 104, 4)) c = bar;
    if (y >= 108 && y <= 112 && x >= 20 && x <= 108) c = light;
    set(x, y, c);
  }
const raw = Buffer.alloc((W * 4 + 1) * H);
for (let y = 0; y < H; y++) {
  raw[y * (W * 4 + 1)] = 0;
  px.copy(raw, y * (W * 4 + 1) + 1, y * W * 4, (y + 1) * W * 4);
}
const crcTable = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
const crc = (buf) => {
  let c = 0xffffffff;
  for (const b of buf) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
};
const chunk = (type, data) => {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type), data]);
  const c = Buffer.alloc(4);
  c.writeUInt32BE(crc(td));
  return Buffer.concat([len, td, c]);
};
const ihdr = Buffer.alloc(13);
ihdr.writeUInt32BE(W, 0);
ihdr.writeUInt32BE(H, 4);
ihdr[8] = 8;
ihdr[9] = 6;
ihdr[10] = 0;
ihdr[11] = 0;
ihdr[12] = 0;
const png = Buffer.concat([
  Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]),
  chunk('IHDR', ihdr),
  chunk('IDAT', deflateSync(raw, { level: 9 })),
  chunk('IEND', Buffer.alloc(0)),
]);
mkdirSync('assets', { recursive: true });
writeFileSync('assets/icon.png', png);
console.log(`assets/icon.png: ${png.length} bytes`);

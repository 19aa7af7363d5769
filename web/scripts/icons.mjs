// Draws the app's icons into web/public/icons/ (committed; run `node web/scripts/icons.mjs` again after changing
// the mark): a bridge — a deck over an arch between two pillars — in white on the brand blue. PNGs written with
// node's zlib, each pixel sampled 5×5 times for smooth edges. Sizes: 192 and 512 for the manifest (`purpose: any`,
// a rounded square), 512 maskable (full bleed, the mark inside the 80% safe circle), 180 for iOS (opaque, iOS
// rounds it), a 64 favicon, and a 96 badge (white on transparent: Android shows only its alpha in the status bar).
import { mkdirSync, writeFileSync } from "node:fs";
import { deflateSync } from "node:zlib";

const OUT = new URL("../public/icons/", import.meta.url);
/** styles.css `--accent` (light). */
const BRAND = [0x25, 0x63, 0xeb];
const WHITE = [0xff, 0xff, 0xff];
const SAMPLES = 5;

/** Signed distance from (x, y) to a rectangle with rounded corners (negative inside). */
function roundedRect(x, y, left, top, right, bottom, radius) {
  const cx = (left + right) / 2;
  const cy = (top + bottom) / 2;
  const qx = Math.abs(x - cx) - ((right - left) / 2 - radius);
  const qy = Math.abs(y - cy) - ((bottom - top) / 2 - radius);
  return Math.hypot(Math.max(qx, 0), Math.max(qy, 0)) + Math.min(Math.max(qx, qy), 0) - radius;
}

/**
 * Whether (x, y) in the mark's unit box is on the bridge: the deck, the arch under it (a ring, upper half) and the
 * two pillars it springs from.
 */
function onMark(x, y) {
  if (roundedRect(x, y, 0.06, 0.27, 0.94, 0.36, 0.045) <= 0) return true;
  if ((x >= 0.12 && x <= 0.21) || (x >= 0.79 && x <= 0.88)) return y >= 0.3 && y <= 0.73;
  const r = Math.hypot(x - 0.5, y - 0.73);
  return y <= 0.73 && r <= 0.38 && r >= 0.29;
}

/**
 * One icon, `size` pixels square: `background` "rounded" (a rounded square, transparent corners), "full" (every
 * pixel) or "none"; the mark's unit box is `mark` of the size wide, centred.
 */
function draw(size, background, mark) {
  const rgba = Buffer.alloc(size * size * 4);
  const box = size * mark;
  const origin = (size - box) / 2;
  for (let py = 0; py < size; py++) {
    for (let px = 0; px < size; px++) {
      let r = 0;
      let g = 0;
      let b = 0;
      let a = 0;
      for (let sy = 0; sy < SAMPLES; sy++) {
        for (let sx = 0; sx < SAMPLES; sx++) {
          const x = px + (sx + 0.5) / SAMPLES;
          const y = py + (sy + 0.5) / SAMPLES;
          const inMark = onMark((x - origin) / box, (y - origin) / box);
          const inBg = background === "full" || (background === "rounded" && roundedRect(x, y, 0, 0, size, size, size * 0.22) <= 0);
          const color = inBg ? (inMark ? WHITE : BRAND) : inMark ? WHITE : null;
          if (!color) continue;
          r += color[0];
          g += color[1];
          b += color[2];
          a += 1;
        }
      }
      const i = (py * size + px) * 4;
      if (a > 0) {
        rgba[i] = Math.round(r / a);
        rgba[i + 1] = Math.round(g / a);
        rgba[i + 2] = Math.round(b / a);
      }
      rgba[i + 3] = Math.round((a / (SAMPLES * SAMPLES)) * 255);
    }
  }
  return png(size, size, rgba);
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(bytes) {
  let c = 0xffffffff;
  for (const byte of bytes) c = CRC_TABLE[(c ^ byte) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type, data) {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, "ascii");
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])), 0);
  return Buffer.concat([head, data, crc]);
}

/** An 8-bit RGBA PNG, every row unfiltered. */
function png(width, height, rgba) {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 6; // colour type: RGBA
  const rows = Buffer.alloc((width * 4 + 1) * height);
  for (let y = 0; y < height; y++) rgba.copy(rows, y * (width * 4 + 1) + 1, y * width * 4, (y + 1) * width * 4);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", ihdr),
    chunk("IDAT", deflateSync(rows, { level: 9 })),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}

const ICONS = [
  ["icon-192.png", 192, "rounded", 0.78],
  ["icon-512.png", 512, "rounded", 0.78],
  ["icon-maskable-512.png", 512, "full", 0.74],
  ["apple-touch-icon.png", 180, "full", 0.74],
  ["favicon.png", 64, "rounded", 0.9],
  ["badge-96.png", 96, "none", 1],
];

mkdirSync(OUT, { recursive: true });
for (const [name, size, background, mark] of ICONS) {
  writeFileSync(new URL(name, OUT), draw(size, background, mark));
  console.log(`wrote public/icons/${name} (${size}×${size})`);
}

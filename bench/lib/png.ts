/**
 * Just enough raster graphics for the bench chart: an RGB canvas, lines,
 * rectangles, a 5x7 bitmap font, and a PNG encoder on node:zlib. No
 * dependency, no native build.
 */
import { deflateSync } from 'node:zlib';

export type Rgb = readonly [number, number, number];

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

export function crc32(buf: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < buf.length; i++) c = CRC_TABLE[(c ^ buf[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(td));
  return Buffer.concat([len, td, crc]);
}

// 5x7 glyphs, one string of 7 rows per character, '#' = ink.
const FONT: Record<string, string> = {
  '0': '.###.#...##..###.#.###..##...#.###.', '1': '..#...##....#....#....#....#...###.',
  '2': '.###.#...#....#...#...#...#...#####', '3': '####.....#...#...##.....##...#.###.',
  '4': '...#...##..#.#.#..#.#####...#....#.', '5': '######....####.....#....##...#.###.',
  '6': '..##..#...#....####.#...##...#.###.', '7': '#####....#...#...#...#....#....#...',
  '8': '.###.#...##...#.###.#...##...#.###.', '9': '.###.#...##...#.####....#...#..##..',
  A: '.###.#...##...#######...##...##...#', B: '####.#...##...#####.#...##...#####.',
  C: '.###.#...##....#....#....#...#.###.', D: '###..#..#.#...##...##...##..#.###..',
  E: '######....#....####.#....#....#####', F: '######....#....####.#....#....#....',
  G: '.###.#...##....#.####...##...#.####', H: '#...##...##...#######...##...##...#',
  I: '.###...#....#....#....#....#...###.', J: '..###...#....#....#....##..#..##...',
  K: '#...##..#.#.#..##...#.#..#..#.#...#', L: '#....#....#....#....#....#....#####',
  M: '#...###.###.#.##...##...##...##...#', N: '#...##...###..##.#.##..###...##...#',
  O: '.###.#...##...##...##...##...#.###.', P: '####.#...##...#####.#....#....#....',
  Q: '.###.#...##...##...##.#.##..#..##.#', R: '####.#...##...#####.#.#..#..#.#...#',
  S: '.#####....#.....###.....#....#####.', T: '#####..#....#....#....#....#....#..',
  U: '#...##...##...##...##...##...#.###.', V: '#...##...##...##...##...#.#.#...#..',
  W: '#...##...##...##.#.##.#.##.#.#.#.#.', X: '#...##...#.#.#...#...#.#.#...##...#',
  Y: '#...##...#.#.#...#....#....#....#..', Z: '#####....#...#...#...#...#....#####',
  '.': '.........................##....##..', '%': '##...##..#...#...#...#...#..##...##',
  '/': '.........#...#...#...#...#.........', '-': '...............#####...............',
  ':': '.......##....##.........##....##...', ' ': '...................................',
  '(': '...#...#...#....#....#.....#.....#.', ')': '.#.....#.....#....#....#...#...#...',
  '>': '.#.....#.....#.....#...#...#...#...', '<': '...#...#...#...#.....#.....#.....#.',
  '=': '..........#####.....#####..........', ',': '.....................##...#...#....',
  '+': '.......#....#..#####..#....#.......', '_': '..............................#####',
};

export class Canvas {
  readonly width: number;
  readonly height: number;
  private readonly px: Uint8Array;

  constructor(width: number, height: number, bg: Rgb = [255, 255, 255]) {
    this.width = width;
    this.height = height;
    this.px = new Uint8Array(width * height * 3);
    for (let i = 0; i < width * height; i++) {
      this.px[i * 3] = bg[0];
      this.px[i * 3 + 1] = bg[1];
      this.px[i * 3 + 2] = bg[2];
    }
  }

  set(x: number, y: number, c: Rgb): void {
    x = Math.round(x);
    y = Math.round(y);
    if (x < 0 || y < 0 || x >= this.width || y >= this.height) return;
    const i = (y * this.width + x) * 3;
    this.px[i] = c[0];
    this.px[i + 1] = c[1];
    this.px[i + 2] = c[2];
  }

  rect(x: number, y: number, w: number, h: number, c: Rgb): void {
    for (let yy = 0; yy < h; yy++) for (let xx = 0; xx < w; xx++) this.set(x + xx, y + yy, c);
  }

  /** Bresenham line, `thick` pixels wide. */
  line(x0: number, y0: number, x1: number, y1: number, c: Rgb, thick = 1, dash = 0): void {
    x0 = Math.round(x0); y0 = Math.round(y0); x1 = Math.round(x1); y1 = Math.round(y1);
    const dx = Math.abs(x1 - x0);
    const dy = -Math.abs(y1 - y0);
    const sx = x0 < x1 ? 1 : -1;
    const sy = y0 < y1 ? 1 : -1;
    let err = dx + dy;
    const r = Math.floor(thick / 2);
    for (let n = 0; n <= dx - dy + 1; n++) {
      if (dash === 0 || Math.floor(n / dash) % 2 === 0) {
        for (let oy = -r; oy <= r; oy++) for (let ox = -r; ox <= r; ox++) this.set(x0 + ox, y0 + oy, c);
      }
      if (x0 === x1 && y0 === y1) break;
      const e2 = 2 * err;
      if (e2 >= dy) { err += dy; x0 += sx; }
      if (e2 <= dx) { err += dx; y0 += sy; }
    }
  }

  /** Text in the 5x7 font (upper-cased), scale = pixel size. Returns the width drawn. */
  text(x: number, y: number, s: string, c: Rgb, scale = 1): number {
    let cx = x;
    for (const ch of s.toUpperCase()) {
      const g = FONT[ch] ?? FONT[' ']!;
      for (let row = 0; row < 7; row++) {
        for (let col = 0; col < 5; col++) {
          if (g[row * 5 + col] === '#') this.rect(cx + col * scale, y + row * scale, scale, scale, c);
        }
      }
      cx += 6 * scale;
    }
    return cx - x;
  }

  png(): Buffer {
    const stride = this.width * 3 + 1;
    const raw = Buffer.alloc(stride * this.height);
    for (let y = 0; y < this.height; y++) {
      raw[y * stride] = 0; // filter: none
      raw.set(this.px.subarray(y * this.width * 3, (y + 1) * this.width * 3), y * stride + 1);
    }
    const ihdr = Buffer.alloc(13);
    ihdr.writeUInt32BE(this.width, 0);
    ihdr.writeUInt32BE(this.height, 4);
    ihdr[8] = 8; // bit depth
    ihdr[9] = 2; // colour type: RGB
    ihdr[10] = 0;
    ihdr[11] = 0;
    ihdr[12] = 0;
    return Buffer.concat([
      Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
      chunk('IHDR', ihdr),
      chunk('IDAT', deflateSync(raw)),
      chunk('IEND', Buffer.alloc(0)),
    ]);
  }
}

export interface Series {
  label: string;
  color: Rgb;
  dashed?: boolean;
  points: { x: number; y: number }[];
}

/**
 * Line chart with a log2 x axis (rates double from step to step) and a
 * linear y axis starting at 0.
 */
export function lineChart(o: { title: string; xLabel: string; yLabel: string; series: Series[]; width?: number; height?: number; yMin?: number }): Buffer {
  const W = o.width ?? 900;
  const H = o.height ?? 520;
  const cv = new Canvas(W, H);
  const left = 70, right = 230, top = 56, bottom = 60;
  const pw = W - left - right, ph = H - top - bottom;
  const all = o.series.flatMap((s) => s.points);
  const xs = all.map((p) => p.x).filter((x) => x > 0);
  const xMin = xs.length ? Math.min(...xs) : 1;
  const xMax = xs.length ? Math.max(...xs, xMin * 2) : 2;
  const yMaxRaw = Math.max(o.yMin ?? 1, ...all.map((p) => p.y));
  const yStep = niceStep(yMaxRaw / 5);
  const yMax = Math.ceil(yMaxRaw / yStep) * yStep;
  const lx0 = Math.log2(xMin), lx1 = Math.log2(xMax);
  const X = (x: number): number => left + ((Math.log2(Math.max(x, xMin)) - lx0) / Math.max(1e-9, lx1 - lx0)) * pw;
  const Y = (y: number): number => top + ph - (y / yMax) * ph;
  const grid: Rgb = [225, 225, 225], axis: Rgb = [60, 60, 60];
  cv.text(left, 12, o.title, axis, 2);
  for (let y = 0; y <= yMax + 1e-9; y += yStep) {
    cv.line(left, Y(y), left + pw, Y(y), grid);
    const label = formatNum(y);
    cv.text(left - 8 - label.length * 6, Y(y) - 3, label, axis);
  }
  // Ticks at the rates actually measured (a doubling ladder plus refinements).
  for (const x of [...new Set(xs)].sort((a, b) => a - b)) {
    cv.line(X(x), top, X(x), top + ph, grid);
    const label = formatNum(x);
    cv.text(X(x) - label.length * 3, top + ph + 8, label, axis);
  }
  cv.line(left, top, left, top + ph, axis, 2);
  cv.line(left, top + ph, left + pw, top + ph, axis, 2);
  cv.text(left + pw / 2 - o.xLabel.length * 6, H - 24, o.xLabel, axis, 2);
  cv.text(6, top - 16, o.yLabel, axis);
  let ly = top;
  for (const s of o.series) {
    const pts = [...s.points].sort((a, b) => a.x - b.x);
    for (let i = 1; i < pts.length; i++) cv.line(X(pts[i - 1]!.x), Y(pts[i - 1]!.y), X(pts[i]!.x), Y(pts[i]!.y), s.color, 3, s.dashed ? 8 : 0);
    for (const p of pts) cv.rect(X(p.x) - 3, Y(p.y) - 3, 7, 7, s.color);
    cv.line(left + pw + 15, ly + 3, left + pw + 40, ly + 3, s.color, 3, s.dashed ? 8 : 0);
    cv.text(left + pw + 46, ly, s.label.slice(0, 28), axis);
    ly += 16;
  }
  return cv.png();
}

function niceStep(raw: number): number {
  const p = 10 ** Math.floor(Math.log10(Math.max(raw, 1e-9)));
  const m = raw / p;
  return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
}

function formatNum(v: number): string {
  if (v >= 1000 && v % 1000 === 0) return `${v / 1000}K`;
  if (Number.isInteger(v)) return String(v);
  return v.toFixed(v < 1 ? 2 : 1);
}

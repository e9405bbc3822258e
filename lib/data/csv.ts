/**
 * Reads and writes the Kaggle FER2013 CSV (`emotion,pixels,Usage`, pixels =
 * 2304 space-separated integers), plain or gzip-compressed.
 *
 * The file is streamed and parsed at the byte level straight into typed
 * arrays: the real CSV is ~270 MB of text, and splitting it into strings
 * would cost seconds and gigabytes. Only one line (~9 KB) is ever copied.
 *
 * @module
 */
import { DataError, type Fer2013, PIXELS, USAGES } from "./fer2013.ts";
import type { LoadOptions, LoadResult, SkippedRow } from "./load_result.ts";
import { createReadStream } from "node:fs";
import { pipeline } from "node:stream";
import { createGunzip } from "node:zlib";

export type { LoadOptions, LoadResult, SkippedRow } from "./load_result.ts";

/** A valid row is ~9 KB; anything far longer means this is not a FER2013 CSV. */
const MAX_LINE_BYTES = 1 << 20;

const NL = 10, CR = 13, SPACE = 32, TAB = 9, QUOTE = 34, COMMA = 44;
const DIGIT_0 = 48;

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const USAGE_BYTES = USAGES.map((u) => encoder.encode(u));

/** Column positions found in the header; `usage` is -1 in the 2-column layout. */
interface Columns {
  emotion: number;
  pixels: number;
  usage: number;
  count: number;
}

/** Place of a data row in messages: `row 17 (line 18)`. */
function rowWhere(row: number): string {
  return `row ${row} (line ${row + 1})`;
}

/** Shows a few bytes of bad input safely inside a message. */
function show(buf: Uint8Array, start: number, end: number): string {
  const text = decoder.decode(buf.subarray(start, Math.min(end, start + 24)));
  return JSON.stringify(end - start > 24 ? text + "…" : text);
}

function isBlank(c: number): boolean {
  return c === SPACE || c === TAB;
}

/**
 * Parses the header line. Names are matched case-insensitively and trimmed,
 * because Kaggle's own files differ (`emotion, Usage, pixels` in one release).
 */
function parseHeader(file: string, line: string): Columns {
  const names = line.replace(/^\uFEFF/, "").split(",").map((s) =>
    s.trim().replace(/^"(.*)"$/, "$1").trim().toLowerCase()
  );
  if (/^\d/.test(names[0] ?? "")) {
    throw new DataError(
      file,
      "line 1",
      "missing header: the first line looks like a data row; expected a header such as emotion,pixels,Usage",
    );
  }
  const cols: Columns = {
    emotion: -1,
    pixels: -1,
    usage: -1,
    count: names.length,
  };
  names.forEach((name, i) => {
    if (name !== "emotion" && name !== "pixels" && name !== "usage") {
      throw new DataError(
        file,
        "line 1",
        `unknown column ${JSON.stringify(name)} in header (expected emotion, pixels and optionally Usage)`,
      );
    }
    if (cols[name] !== -1) {
      throw new DataError(
        file,
        "line 1",
        `column ${JSON.stringify(name)} appears twice in the header`,
      );
    }
    cols[name] = i;
  });
  for (const need of ["emotion", "pixels"] as const) {
    if (cols[need] === -1) {
      throw new DataError(
        file,
        "line 1",
        `header has no ${need} column (expected emotion,pixels,Usage)`,
      );
    }
  }
  return cols;
}

/**
 * Splits one line into field ranges (quotes and surrounding blanks removed).
 * Returns the number of fields found, or a problem text for broken quoting.
 */
function splitFields(
  buf: Uint8Array,
  start: number,
  end: number,
  ranges: Int32Array,
): number | string {
  const maxFields = ranges.length >> 1;
  let pos = start, nf = 0;
  while (true) {
    let s = pos;
    while (s < end && isBlank(buf[s])) s++;
    let fs: number, fe: number, next: number;
    if (s < end && buf[s] === QUOTE) {
      const q = buf.indexOf(QUOTE, s + 1);
      if (q < 0 || q >= end) return `field ${nf + 1} has an unclosed quote`;
      fs = s + 1;
      fe = q;
      next = q + 1;
      while (next < end && isBlank(buf[next])) next++;
      if (next < end && buf[next] !== COMMA) {
        return `field ${nf + 1} has text after its closing quote`;
      }
    } else {
      // Native indexOf is far faster than a JS loop over the 9 KB pixel field.
      next = buf.indexOf(COMMA, s);
      if (next < 0 || next > end) next = end;
      fs = s;
      fe = next;
      while (fe > fs && isBlank(buf[fe - 1])) fe--;
    }
    if (nf < maxFields) {
      ranges[2 * nf] = fs;
      ranges[2 * nf + 1] = fe;
    }
    nf++;
    if (next >= end) return nf;
    pos = next + 1;
  }
}

/**
 * Parses the pixel field into `out[base .. base+2304)`. Returns a problem text
 * or null. The common case (digits separated by single spaces) takes a tight
 * loop; anything unusual is re-read by {@link parsePixelsCarefully}, which
 * also accepts tabs and words the error.
 */
function parsePixels(
  buf: Uint8Array,
  start: number,
  end: number,
  out: Uint8Array,
  base: number,
): string | null {
  let count = 0, i = start;
  while (i < end) {
    let d = buf[i++] - DIGIT_0;
    if (d === SPACE - DIGIT_0) continue;
    // `>>> 0` folds "below '0'" and "above '9'" into one unsigned compare.
    if (d >>> 0 > 9) return parsePixelsCarefully(buf, start, end, out, base);
    let v = d;
    while (i < end) {
      d = buf[i] - DIGIT_0;
      if (d >>> 0 > 9) break;
      v = v * 10 + d;
      i++;
    }
    if ((i < end && d !== SPACE - DIGIT_0) || v > 255) {
      return parsePixelsCarefully(buf, start, end, out, base);
    }
    if (count < PIXELS) out[base + count] = v;
    count++;
  }
  return count === PIXELS ? null : `has ${count} pixel values, expected ${PIXELS} (48×48)`;
}

/**
 * Slow twin of {@link parsePixels}: same result, but tolerates tabs and says
 * which value is wrong. Values past the 2304th are counted, not stored.
 */
function parsePixelsCarefully(
  buf: Uint8Array,
  start: number,
  end: number,
  out: Uint8Array,
  base: number,
): string | null {
  let count = 0, i = start;
  while (i < end) {
    if (isBlank(buf[i])) {
      i++;
      continue;
    }
    const tokStart = i;
    let v = 0, digitsOnly = true;
    while (i < end) {
      const c = buf[i];
      if (c === SPACE || c === TAB) break;
      const d = c - DIGIT_0;
      if (d >= 0 && d <= 9) v = v * 10 + d;
      else digitsOnly = false;
      i++;
    }
    count++;
    if (!digitsOnly) {
      const negative = buf[tokStart] === 45 && i - tokStart > 1 &&
        /^-\d+$/.test(decoder.decode(buf.subarray(tokStart, i)));
      return negative
        ? `pixel #${count} is ${show(buf, tokStart, i)}, outside 0–255 (pixel numbers count from 1)`
        : `pixel #${count} is ${show(buf, tokStart, i)}, not a whole number 0–255 (pixel numbers count from 1)`;
    }
    if (v > 255) {
      return `pixel #${count} is ${show(buf, tokStart, i)}, outside 0–255 (pixel numbers count from 1)`;
    }
    if (count <= PIXELS) out[base + count - 1] = v;
  }
  return count === PIXELS ? null : `has ${count} pixel values, expected ${PIXELS} (48×48)`;
}

/** Matches a Usage field against {@link USAGES}; -1 when unknown. */
function usageIndex(buf: Uint8Array, start: number, end: number): number {
  outer: for (let u = 0; u < USAGE_BYTES.length; u++) {
    const want = USAGE_BYTES[u];
    if (want.length !== end - start) continue;
    for (let k = 0; k < want.length; k++) {
      if (buf[start + k] !== want[k]) continue outer;
    }
    return u;
  }
  return -1;
}

/** Growable column store: capacity doubles, {@link Store.finish} trims. */
class Store {
  pixels = new Uint8Array(1024 * PIXELS);
  labels = new Uint8Array(1024);
  usage = new Uint8Array(1024);
  n = 0;

  /** Makes room for one more row and returns its pixel offset. */
  reserve(): number {
    if (this.n === this.labels.length) {
      const cap = this.labels.length * 2;
      const grow = (a: Uint8Array, size: number) => {
        const b = new Uint8Array(size);
        b.set(a);
        return b;
      };
      this.pixels = grow(this.pixels, cap * PIXELS);
      this.labels = grow(this.labels, cap);
      this.usage = grow(this.usage, cap);
    }
    return this.n * PIXELS;
  }

  finish(source: string): Fer2013 {
    const n = this.n;
    return {
      pixels: this.pixels.slice(0, n * PIXELS),
      labels: this.labels.slice(0, n),
      usage: this.usage.slice(0, n),
      n,
      source,
    };
  }
}

/** Turns each chunk of bytes into lines (without `\n`), copying only lines that straddle chunks. */
class LineSplitter {
  private carry = new Uint8Array(64 * 1024);
  private carryLen = 0;

  constructor(
    private readonly onLine: (
      buf: Uint8Array,
      start: number,
      end: number,
    ) => void,
    private readonly onTooLong: () => never,
  ) {}

  push(chunk: Uint8Array): void {
    let pos = 0;
    if (this.carryLen > 0) {
      const nl = chunk.indexOf(NL);
      if (nl < 0) {
        this.append(chunk, 0, chunk.length);
        return;
      }
      this.append(chunk, 0, nl);
      const len = this.carryLen;
      this.carryLen = 0;
      this.onLine(this.carry, 0, len);
      pos = nl + 1;
    }
    while (true) {
      const nl = chunk.indexOf(NL, pos);
      if (nl < 0) break;
      this.onLine(chunk, pos, nl);
      pos = nl + 1;
    }
    if (pos < chunk.length) this.append(chunk, pos, chunk.length);
  }

  /** Flushes a last line that had no trailing newline. */
  end(): void {
    if (this.carryLen > 0) {
      const len = this.carryLen;
      this.carryLen = 0;
      this.onLine(this.carry, 0, len);
    }
  }

  private append(chunk: Uint8Array, start: number, end: number): void {
    const need = this.carryLen + end - start;
    if (need > MAX_LINE_BYTES) this.onTooLong();
    if (need > this.carry.length) {
      const bigger = new Uint8Array(Math.max(need, this.carry.length * 2));
      bigger.set(this.carry.subarray(0, this.carryLen));
      this.carry = bigger;
    }
    this.carry.set(chunk.subarray(start, end), this.carryLen);
    this.carryLen = need;
  }
}

/** Read size: big pieces keep per-chunk overhead (streams, promises) negligible. */
const CHUNK_BYTES = 1 << 20;

/** Reads the first bytes of a file, to sniff its format. */
async function readMagic(path: string): Promise<Uint8Array> {
  const file = await Deno.open(path);
  try {
    const head = new Uint8Array(4);
    let got = 0;
    while (got < head.length) {
      const r = await file.read(head.subarray(got));
      if (r === null) break;
      got += r;
    }
    return head.subarray(0, got);
  } finally {
    file.close();
  }
}

/**
 * Yields a plain file in 1 MB pieces. The buffer is reused: the consumer
 * finishes with each piece before asking for the next (the line splitter
 * copies the one line it keeps).
 */
async function* plainChunks(
  path: string,
  onRead: (bytes: number) => void,
): AsyncGenerator<Uint8Array> {
  const file = await Deno.open(path);
  try {
    const buf = new Uint8Array(CHUNK_BYTES);
    while (true) {
      const n = await file.read(buf);
      if (n === null) return;
      onRead(n);
      yield buf.subarray(0, n);
    }
  } finally {
    file.close();
  }
}

/**
 * Yields the decompressed pieces of a gzip file. node:zlib inflates on a
 * worker thread, so decompression overlaps with parsing (about 1 s saved on
 * the real file compared with DecompressionStream, which runs on this thread).
 */
async function* gzipChunks(
  path: string,
  onRead: (bytes: number) => void,
): AsyncGenerator<Uint8Array> {
  const raw = createReadStream(path, { highWaterMark: CHUNK_BYTES });
  raw.on("data", (c) => onRead(c.length));
  const gunzip = createGunzip({ chunkSize: CHUNK_BYTES });
  // pipeline forwards a read error into gunzip, so the loop below sees it.
  pipeline(raw, gunzip, () => {});
  for await (const c of gunzip as AsyncIterable<Uint8Array>) {
    // A plain Uint8Array view keeps the hot loops monomorphic (not Buffer).
    yield new Uint8Array(c.buffer, c.byteOffset, c.length);
  }
}

/** Checks that `path` is an existing regular file; returns its size in bytes. */
async function fileSize(path: string): Promise<number> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new DataError(path, null, "file not found");
    }
    throw new DataError(path, null, `cannot read: ${(e as Error).message}`);
  }
  if (info.isDirectory) {
    throw new DataError(path, null, "is a folder, not a CSV file");
  }
  if (info.size === 0) throw new DataError(path, null, "empty file");
  return info.size;
}

/**
 * Loads a FER2013 CSV (plain or gzip, detected by its magic bytes).
 *
 * Accepts the header columns in any order, the pixel field quoted or not,
 * CRLF or LF line ends and a missing final newline. A file with only
 * `emotion,pixels` (Kaggle's train.csv) loads with every row as Training and
 * a note saying so. Bad input throws a {@link DataError} naming the file, the
 * row (`row 17 (line 18)`) and the problem; with `skipBad` bad rows are
 * skipped and listed in `skipped` instead (problems with the file as a whole
 * still throw).
 */
export async function loadFer2013Csv(
  path: string,
  opts: LoadOptions = {},
): Promise<LoadResult> {
  const totalBytes = await fileSize(path);
  const magic = await readMagic(path);
  if (magic[0] === 0x50 && magic[1] === 0x4b) {
    throw new DataError(
      path,
      null,
      "is a zip archive: unzip it and pass the fer2013.csv inside (or the extracted image folder)",
    );
  }
  const gzip = magic[0] === 0x1f && magic[1] === 0x8b;
  let bytesRead = 0;
  const onRead = (bytes: number) => {
    bytesRead += bytes;
    opts.onProgress?.(bytesRead, totalBytes);
  };
  const chunks = gzip ? gzipChunks(path, onRead) : plainChunks(path, onRead);

  const store = new Store();
  const skipped: SkippedRow[] = [];
  let cols: Columns | null = null;
  let ranges = new Int32Array(0);
  let row = 0; // data rows seen, including blank and bad ones
  let firstBlank = 0; // first blank row of a run not yet known to be trailing

  const bad = (r: number, problem: string) => {
    if (!opts.skipBad) throw new DataError(path, rowWhere(r), problem);
    skipped.push({ row: r, where: rowWhere(r), problem });
  };

  const onLine = (buf: Uint8Array, start: number, end: number) => {
    if (end > start && buf[end - 1] === CR) end--;
    if (cols === null) {
      const header = decoder.decode(buf.subarray(start, end));
      if (header.trim() === "") {
        throw new DataError(
          path,
          "line 1",
          "missing header: the first line is blank; expected emotion,pixels,Usage",
        );
      }
      cols = parseHeader(path, header);
      ranges = new Int32Array(cols.count * 2);
      return;
    }
    row++;
    let s = start;
    while (s < end && isBlank(buf[s])) s++;
    if (s === end) {
      // Blank lines are fine at the end of a file but not between rows.
      if (firstBlank === 0) firstBlank = row;
      return;
    }
    if (firstBlank !== 0) {
      for (let r = firstBlank; r < row; r++) bad(r, "blank line between rows");
      firstBlank = 0;
    }
    const problem = parseRow(buf, start, end, cols, ranges, store);
    if (problem === null) store.n++;
    else bad(row, problem);
  };

  const splitter = new LineSplitter(onLine, () => {
    throw new DataError(
      path,
      rowWhere(row + 1),
      `line is longer than ${MAX_LINE_BYTES} bytes; is this a FER2013 CSV?`,
    );
  });

  try {
    for await (const chunk of chunks) splitter.push(chunk);
    splitter.end();
  } catch (e) {
    if (e instanceof DataError) throw e;
    if (gzip) {
      throw new DataError(
        path,
        null,
        `corrupt or truncated gzip data (${(e as Error).message})`,
      );
    }
    throw new DataError(path, null, `cannot read: ${(e as Error).message}`);
  }

  if (cols === null) {
    throw new DataError(path, null, "empty file (no header, no rows)");
  }
  const columns = cols as Columns;
  const dataRows = firstBlank === 0 ? row : firstBlank - 1;
  if (dataRows === 0) {
    throw new DataError(path, null, "no data rows after the header");
  }
  if (store.n === 0) {
    throw new DataError(
      path,
      null,
      `no usable rows: all ${dataRows} rows were bad (first: ${skipped[0].where}: ${skipped[0].problem})`,
    );
  }
  const notes: string[] = [];
  if (columns.usage === -1) {
    notes.push(
      `${path} has no Usage column (Kaggle train.csv layout): all ${store.n} rows are treated as Training.`,
    );
  }
  return { ...store.finish(path), skipped, notes };
}

/** Parses one data row into the next slot of `store`; returns a problem or null. */
function parseRow(
  buf: Uint8Array,
  start: number,
  end: number,
  cols: Columns,
  ranges: Int32Array,
  store: Store,
): string | null {
  const nf = splitFields(buf, start, end, ranges);
  if (typeof nf === "string") return nf;
  if (nf !== cols.count) {
    return `has ${nf} columns, expected ${cols.count} like the header`;
  }
  const es = ranges[2 * cols.emotion], ee = ranges[2 * cols.emotion + 1];
  const label = buf[es] - DIGIT_0;
  if (ee - es !== 1 || label < 0 || label > 6) {
    return `unknown emotion label ${show(buf, es, ee)} (expected 0–6)`;
  }
  let usage = 0;
  if (cols.usage >= 0) {
    const us = ranges[2 * cols.usage], ue = ranges[2 * cols.usage + 1];
    usage = usageIndex(buf, us, ue);
    if (usage < 0) {
      return `unknown Usage ${show(buf, us, ue)} (expected one of ${USAGES.join(", ")})`;
    }
  }
  const base = store.reserve();
  const problem = parsePixels(
    buf,
    ranges[2 * cols.pixels],
    ranges[2 * cols.pixels + 1],
    store.pixels,
    base,
  );
  if (problem !== null) return problem;
  store.labels[store.n] = label;
  store.usage[store.n] = usage;
  return null;
}

/** Writes one row as `label,p0 p1 … p2303,Usage\n` at `o`; returns the new offset. */
function encodeRow(
  out: Uint8Array,
  o: number,
  data: Fer2013,
  r: number,
): number {
  out[o++] = DIGIT_0 + data.labels[r];
  out[o++] = COMMA;
  const base = r * PIXELS;
  for (let k = 0; k < PIXELS; k++) {
    if (k > 0) out[o++] = SPACE;
    const v = data.pixels[base + k];
    if (v >= 100) out[o++] = DIGIT_0 + ((v / 100) | 0);
    if (v >= 10) out[o++] = DIGIT_0 + (((v / 10) | 0) % 10);
    out[o++] = DIGIT_0 + (v % 10);
  }
  out[o++] = COMMA;
  const usage = USAGE_BYTES[data.usage[r]];
  out.set(usage, o);
  o += usage.length;
  out[o++] = NL;
  return o;
}

/**
 * Writes a data set as a Kaggle-format CSV (`emotion,pixels,Usage`),
 * gzip-compressed when `path` ends in `.gz`. Streams in ~1 MB pieces.
 */
export async function writeFer2013Csv(
  path: string,
  data: Fer2013,
): Promise<void> {
  if (data.pixels.length !== data.n * PIXELS) {
    throw new RangeError(
      `pixels has ${data.pixels.length} bytes, expected n × ${PIXELS} = ${data.n * PIXELS}`,
    );
  }
  for (let r = 0; r < data.n; r++) {
    if (data.labels[r] > 6 || data.usage[r] >= USAGES.length) {
      throw new RangeError(
        `row ${r + 1}: label ${data.labels[r]} or usage ${data.usage[r]} out of range`,
      );
    }
  }
  const file = await Deno.open(path, {
    write: true,
    create: true,
    truncate: true,
  });
  let sink: WritableStream<Uint8Array> = file.writable;
  let piped: Promise<void> = Promise.resolve();
  if (/\.gz$/i.test(path)) {
    const gz = new CompressionStream("gzip") as unknown as TransformStream<
      Uint8Array,
      Uint8Array
    >;
    piped = gz.readable.pipeTo(file.writable);
    sink = gz.writable;
  }
  const writer = sink.getWriter();
  const rowMax = 2 + PIXELS * 4 + 16;
  const buf = new Uint8Array(1 << 20);
  let o = 0;
  const header = encoder.encode("emotion,pixels,Usage\n");
  buf.set(header);
  o = header.length;
  for (let r = 0; r < data.n; r++) {
    if (o + rowMax > buf.length) {
      await writer.write(buf.slice(0, o));
      o = 0;
    }
    o = encodeRow(buf, o, data, r);
  }
  if (o > 0) await writer.write(buf.slice(0, o));
  await writer.close();
  await piped;
}

// Piece text -> token ids, looked up by (text, start, end) so a hit never slices a string.
// Open addressing over typed arrays; the ids live in one flat pool. When the table is three
// quarters full it is cleared, which bounds memory (the working set refills it quickly).

const EMPTY = -1;

export class PieceCache {
  private readonly capacity: number;
  private readonly mask: number;
  private readonly keys: (string | undefined)[];
  private readonly hashes: Int32Array;
  private readonly idsStart: Int32Array;
  private readonly idsLength: Int32Array;
  private ids: Int32Array;
  private idsUsed = 0;
  private count = 0;
  /** Pieces longer than this are not cached (rare, and they would pin memory). */
  readonly maxPieceLength: number;

  constructor(capacityLog2 = 16, maxPieceLength = 128) {
    this.capacity = 1 << capacityLog2;
    this.mask = this.capacity - 1;
    this.keys = new Array<string | undefined>(this.capacity).fill(undefined);
    this.hashes = new Int32Array(this.capacity);
    this.idsStart = new Int32Array(this.capacity).fill(EMPTY);
    this.idsLength = new Int32Array(this.capacity);
    this.ids = new Int32Array(this.capacity * 2);
    this.maxPieceLength = maxPieceLength;
  }

  /** Appends the cached ids of text[start..end) to `out`; false on a miss. */
  appendIfCached(text: string, start: number, end: number, out: number[]): boolean {
    const h = hashChars(text, start, end);
    const length = end - start;
    let slot = h & this.mask;
    for (;;) {
      const idsStart = this.idsStart[slot]!;
      if (idsStart === EMPTY) return false;
      if (this.hashes[slot] === h) {
        const key = this.keys[slot]!;
        if (key.length === length) {
          let i = 0;
          while (i < length && key.charCodeAt(i) === text.charCodeAt(start + i)) i++;
          if (i === length) {
            const n = this.idsLength[slot]!;
            for (let k = 0; k < n; k++) out.push(this.ids[idsStart + k]!);
            return true;
          }
        }
      }
      slot = (slot + 1) & this.mask;
    }
  }

  /** Stores ids[from..) for `piece` (which must not already be cached). */
  set(piece: string, ids: readonly number[], from: number): void {
    if (piece.length > this.maxPieceLength) return;
    const n = ids.length - from;
    if (this.count * 4 >= this.capacity * 3 || this.idsUsed + n > this.ids.length) this.clear();
    if (n > this.ids.length) return;
    const h = hashChars(piece, 0, piece.length);
    let slot = h & this.mask;
    while (this.idsStart[slot] !== EMPTY) slot = (slot + 1) & this.mask;
    this.keys[slot] = piece;
    this.hashes[slot] = h;
    this.idsStart[slot] = this.idsUsed;
    this.idsLength[slot] = n;
    for (let k = 0; k < n; k++) this.ids[this.idsUsed++] = ids[from + k]!;
    this.count++;
  }

  clear(): void {
    this.keys.fill(undefined);
    this.idsStart.fill(EMPTY);
    this.idsUsed = 0;
    this.count = 0;
  }
}

function hashChars(text: string, start: number, end: number): number {
  let h = 0x811c9dc5;
  for (let i = start; i < end; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  h ^= h >>> 15;
  h = Math.imul(h, 0x2c1b3c6d);
  h ^= h >>> 12;
  return h | 0;
}

// Token id <-> byte string storage shared by every tokenizer format. All token bytes live in
// one pool; lookups by byte range hash the bytes in place, so BPE never allocates a key.

/** Marks an id with no bytes (a hole in a sparse vocabulary, or a special token). */
const NO_TOKEN = -1;

export class TokenBytesTable {
  /** Concatenated bytes of every token. */
  private readonly pool: Uint8Array;
  /** Per id: offset into pool. */
  private readonly starts: Int32Array;
  /** Per id: byte length, or NO_TOKEN. */
  private readonly lengths: Int32Array;
  /** Open-addressing hash index: slot -> id, NO_TOKEN when empty. */
  private readonly index: Int32Array;
  private readonly mask: number;
  /** Single byte value -> id, NO_TOKEN when that byte has no token. */
  readonly byteToId: Int32Array;
  /** Number of ids with bytes. */
  readonly count: number;

  /**
   * Takes ownership of the arrays. `lengths[id]` is NO_TOKEN (-1) for ids without bytes.
   * Throws (via `onDuplicate`) when two ids share the same bytes.
   */
  constructor(
    pool: Uint8Array,
    starts: Int32Array,
    lengths: Int32Array,
    onDuplicate: (id: number, otherId: number) => never,
  ) {
    this.pool = pool;
    this.starts = starts;
    this.lengths = lengths;
    let count = 0;
    for (let id = 0; id < lengths.length; id++) if (lengths[id]! >= 0) count++;
    this.count = count;
    let capacity = 1024;
    while (capacity < count * 2) capacity *= 2;
    this.index = new Int32Array(capacity).fill(NO_TOKEN);
    this.mask = capacity - 1;
    this.byteToId = new Int32Array(256).fill(NO_TOKEN);
    for (let id = 0; id < lengths.length; id++) {
      const len = lengths[id]!;
      if (len < 0) continue;
      const start = starts[id]!;
      const existing = this.lookup(pool, start, start + len);
      if (existing !== NO_TOKEN) onDuplicate(id, existing);
      let slot = hashBytes(pool, start, start + len) & this.mask;
      while (this.index[slot] !== NO_TOKEN) slot = (slot + 1) & this.mask;
      this.index[slot] = id;
      if (len === 1) this.byteToId[pool[start]!] = id;
    }
  }

  /** Number of id slots (max id + 1), including holes. */
  get size(): number {
    return this.lengths.length;
  }

  has(id: number): boolean {
    // `(id >>> 0) === id` rejects strings, fractions and negatives before indexing.
    return (id >>> 0) === id && id < this.lengths.length && this.lengths[id]! >= 0;
  }

  /** Id of the token whose bytes are buf[start..end), or -1. */
  lookup(buf: Uint8Array, start: number, end: number): number {
    const len = end - start;
    const pool = this.pool;
    let slot = hashBytes(buf, start, end) & this.mask;
    for (;;) {
      const id = this.index[slot]!;
      if (id === NO_TOKEN) return NO_TOKEN;
      if (this.lengths[id] === len) {
        let p = this.starts[id]!;
        let i = start;
        while (i < end && pool[p] === buf[i]) {
          p++;
          i++;
        }
        if (i === end) return id;
      }
      slot = (slot + 1) & this.mask;
    }
  }

  /** Byte length of a token (-1 when the id has no bytes). */
  byteLength(id: number): number {
    return id >= 0 && id < this.lengths.length ? this.lengths[id]! : NO_TOKEN;
  }

  /** Copies the token's bytes into `out` at `offset`; returns the new offset. */
  copyBytes(id: number, out: Uint8Array, offset: number): number {
    const start = this.starts[id]!;
    const len = this.lengths[id]!;
    out.set(this.pool.subarray(start, start + len), offset);
    return offset + len;
  }

  /** A view of the token's bytes (do not modify), or undefined for holes. */
  bytes(id: number): Uint8Array | undefined {
    if (!this.has(id)) return undefined;
    const start = this.starts[id]!;
    return this.pool.subarray(start, start + this.lengths[id]!);
  }
}

/** FNV-1a with a final avalanche, over buf[start..end). */
function hashBytes(buf: Uint8Array, start: number, end: number): number {
  let h = 0x811c9dc5;
  for (let i = start; i < end; i++) h = Math.imul(h ^ buf[i]!, 0x01000193);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  return h >>> 0;
}

/** Builds a TokenBytesTable from per-id byte arrays (undefined = hole). */
export function tableFromTokenBytes(
  tokens: ReadonlyArray<Uint8Array | undefined>,
  onDuplicate: (id: number, otherId: number) => never,
): TokenBytesTable {
  let total = 0;
  for (const t of tokens) if (t) total += t.length;
  const pool = new Uint8Array(total);
  const starts = new Int32Array(tokens.length);
  const lengths = new Int32Array(tokens.length).fill(NO_TOKEN);
  let offset = 0;
  tokens.forEach((t, id) => {
    if (!t) return;
    pool.set(t, offset);
    starts[id] = offset;
    lengths[id] = t.length;
    offset += t.length;
  });
  return new TokenBytesTable(pool, starts, lengths, onDuplicate);
}

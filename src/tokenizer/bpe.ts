// Byte-pair merging of one pre-tokenized piece. Two rule sets share one algorithm:
//  - RankBpe (tiktoken): any adjacent pair whose concatenated bytes are a token may merge;
//    the token id is its rank, lower merges first.
//  - MergeListBpe (Hugging Face): only pairs listed in `merges` may merge; earlier entries
//    merge first, and the result is the vocabulary id of the concatenation.
// Both merge the lowest-ranked adjacent pair first, ties to the leftmost pair. Short pieces
// use a linear scan per merge (cheap, cache friendly); long ones a binary heap with lazy
// deletion, so a 20,000-byte piece costs O(n log n) instead of O(n^2).
import type { TokenBytesTable } from "./vocab.js";

/** "No merge possible" rank; larger than any real rank. */
const NO_RANK = 0x7fffffff;
/** Pieces up to this many bytes use the linear scan. */
const LINEAR_SCAN_MAX_BYTES = 64;

export abstract class BpeMerger {
  protected readonly vocab: TokenBytesTable;
  // Scratch state, indexed by byte position of a part's start; grown on demand.
  private next = new Int32Array(256);
  private prev = new Int32Array(256);
  private rankAt = new Int32Array(256);
  private partId = new Int32Array(256);
  protected mergedIdAt = new Int32Array(256);
  private heapRank = new Int32Array(512);
  private heapPos = new Int32Array(512);
  private heapSize = 0;

  constructor(vocab: TokenBytesTable) {
    this.vocab = vocab;
  }

  /**
   * Rank of merging the part [left, mid) with the part [mid, end) of `bytes`, or NO_RANK.
   * Implementations may record the merged token id in `mergedIdAt[left]`.
   */
  protected abstract pairRank(
    bytes: Uint8Array,
    left: number,
    mid: number,
    end: number,
    leftId: number,
    rightId: number,
  ): number;

  /** Token id produced by the merge whose rank `pairRank` returned for the part at `left`. */
  protected abstract mergedId(rank: number, left: number): number;

  /**
   * Appends the ids of bytes[0..length) to `out`. `maxRank` stops merging once the best
   * pair's rank reaches it (used to derive merges from ranks).
   */
  encodePiece(bytes: Uint8Array, length: number, out: number[], maxRank = NO_RANK): void {
    if (length === 0) return;
    this.ensureCapacity(length);
    const partId = this.partId;
    const byteToId = this.vocab.byteToId;
    for (let i = 0; i < length; i++) {
      const id = byteToId[bytes[i]!]!;
      if (id < 0) {
        throw new Error(`byte 0x${bytes[i]!.toString(16).padStart(2, "0")} has no token in the vocabulary`);
      }
      partId[i] = id;
    }
    if (length === 1) {
      out.push(partId[0]!);
      return;
    }
    if (length <= LINEAR_SCAN_MAX_BYTES) this.mergeLinear(bytes, length, out, maxRank);
    else this.mergeWithHeap(bytes, length, out, maxRank);
  }

  /** Parts kept as an array of start offsets; each merge rescans for the minimum. */
  private mergeLinear(bytes: Uint8Array, length: number, out: number[], maxRank: number): void {
    // starts[0..parts) are part starts (reusing `next`), ranks[i] = rank of merging part i with i+1.
    const starts = this.next;
    const ranks = this.rankAt;
    const ids = this.partId;
    let parts = length;
    for (let i = 0; i < length; i++) starts[i] = i;
    starts[length] = length;
    for (let i = 0; i < parts - 1; i++) {
      ranks[i] = this.pairRank(bytes, i, i + 1, i + 2, ids[i]!, ids[i + 1]!);
    }
    while (parts > 1) {
      let best = NO_RANK;
      let at = -1;
      for (let i = 0; i < parts - 1; i++) {
        const r = ranks[i]!;
        if (r < best) {
          best = r;
          at = i;
        }
      }
      if (at < 0 || best >= maxRank) break;
      ids[at] = this.mergedId(best, starts[at]!);
      // Remove part at+1 by shifting the tail left.
      for (let i = at + 1; i < parts - 1; i++) {
        starts[i] = starts[i + 1]!;
        ids[i] = ids[i + 1]!;
        ranks[i] = ranks[i + 1]!;
      }
      starts[parts - 1] = starts[parts]!;
      parts--;
      if (at + 1 < parts) {
        ranks[at] = this.pairRank(bytes, starts[at]!, starts[at + 1]!, starts[at + 2]!, ids[at]!, ids[at + 1]!);
      } else {
        ranks[at] = NO_RANK;
      }
      if (at > 0) {
        ranks[at - 1] = this.pairRank(bytes, starts[at - 1]!, starts[at]!, starts[at + 1]!, ids[at - 1]!, ids[at]!);
      }
    }
    for (let i = 0; i < parts; i++) out.push(ids[i]!);
  }

  /** Doubly linked parts keyed by start offset, candidate merges in a (rank, start) min-heap. */
  private mergeWithHeap(bytes: Uint8Array, length: number, out: number[], maxRank: number): void {
    const next = this.next;
    const prev = this.prev;
    const rankAt = this.rankAt;
    const ids = this.partId;
    this.heapSize = 0;
    for (let i = 0; i < length; i++) {
      next[i] = i + 1;
      prev[i] = i - 1;
    }
    for (let i = 0; i + 1 < length; i++) {
      const r = this.pairRank(bytes, i, i + 1, i + 2, ids[i]!, ids[i + 1]!);
      rankAt[i] = r;
      if (r !== NO_RANK) this.heapPush(r, i);
    }
    rankAt[length - 1] = NO_RANK;
    while (this.heapSize > 0) {
      const r = this.heapRank[0]!;
      const left = this.heapPos[0]!;
      this.heapPop();
      // Stale entry: the part was absorbed (prev = -2) or its right neighbour changed.
      if (prev[left] === -2 || rankAt[left] !== r) continue;
      if (r >= maxRank) break;
      const right = next[left]!;
      const after = next[right]!;
      ids[left] = this.mergedId(r, left);
      next[left] = after;
      if (after < length) prev[after] = left;
      prev[right] = -2;
      if (after < length) {
        const nr = this.pairRank(bytes, left, after, next[after]!, ids[left]!, ids[after]!);
        rankAt[left] = nr;
        if (nr !== NO_RANK) this.heapPush(nr, left);
      } else {
        rankAt[left] = NO_RANK;
      }
      const before = prev[left]!;
      if (before >= 0) {
        const nr = this.pairRank(bytes, before, left, after, ids[before]!, ids[left]!);
        rankAt[before] = nr;
        if (nr !== NO_RANK) this.heapPush(nr, before);
      }
    }
    for (let i = 0; i < length; i = next[i]!) out.push(ids[i]!);
  }

  private ensureCapacity(length: number): void {
    if (this.next.length > length) return;
    let cap = this.next.length;
    while (cap <= length) cap *= 2;
    this.next = new Int32Array(cap);
    this.prev = new Int32Array(cap);
    this.rankAt = new Int32Array(cap);
    this.partId = new Int32Array(cap);
    this.mergedIdAt = new Int32Array(cap);
    // Each merge pushes at most two entries: n initial + 2n.
    this.heapRank = new Int32Array(cap * 3);
    this.heapPos = new Int32Array(cap * 3);
  }

  private heapLess(a: number, b: number): boolean {
    const ra = this.heapRank[a]!;
    const rb = this.heapRank[b]!;
    return ra < rb || (ra === rb && this.heapPos[a]! < this.heapPos[b]!);
  }

  private heapSwap(a: number, b: number): void {
    const r = this.heapRank[a]!;
    const p = this.heapPos[a]!;
    this.heapRank[a] = this.heapRank[b]!;
    this.heapPos[a] = this.heapPos[b]!;
    this.heapRank[b] = r;
    this.heapPos[b] = p;
  }

  private heapPush(rank: number, pos: number): void {
    let i = this.heapSize++;
    this.heapRank[i] = rank;
    this.heapPos[i] = pos;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.heapLess(i, parent)) break;
      this.heapSwap(i, parent);
      i = parent;
    }
  }

  private heapPop(): void {
    const last = --this.heapSize;
    if (last === 0) return;
    this.heapRank[0] = this.heapRank[last]!;
    this.heapPos[0] = this.heapPos[last]!;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= last) break;
      const r = l + 1;
      const child = r < last && this.heapLess(r, l) ? r : l;
      if (!this.heapLess(child, i)) break;
      this.heapSwap(i, child);
      i = child;
    }
  }
}

/** tiktoken rule: rank = id of the concatenated bytes. */
export class RankBpe extends BpeMerger {
  protected pairRank(bytes: Uint8Array, left: number, _mid: number, end: number): number {
    const id = this.vocab.lookup(bytes, left, end);
    return id < 0 ? NO_RANK : id;
  }

  protected mergedId(rank: number): number {
    return rank;
  }
}

/** Hugging Face rule: only listed merges, ranked by their position in the merge list. */
export class MergeListBpe extends BpeMerger {
  private readonly pairs: PairTable;

  constructor(vocab: TokenBytesTable, pairs: PairTable) {
    super(vocab);
    this.pairs = pairs;
  }

  protected pairRank(
    _bytes: Uint8Array,
    left: number,
    _mid: number,
    _end: number,
    leftId: number,
    rightId: number,
  ): number {
    const slot = this.pairs.find(leftId, rightId);
    if (slot < 0) return NO_RANK;
    this.mergedIdAt[left] = this.pairs.resultAt(slot);
    return this.pairs.rankAt(slot);
  }

  protected mergedId(_rank: number, left: number): number {
    return this.mergedIdAt[left]!;
  }
}

/** (left id, right id) -> (merge rank, result id), open addressing over typed arrays. */
export class PairTable {
  private readonly lefts: Int32Array;
  private readonly rights: Int32Array;
  private readonly ranks: Int32Array;
  private readonly results: Int32Array;
  private readonly mask: number;
  private size = 0;

  constructor(expected: number) {
    let capacity = 1024;
    while (capacity < expected * 2) capacity *= 2;
    this.lefts = new Int32Array(capacity).fill(-1);
    this.rights = new Int32Array(capacity);
    this.ranks = new Int32Array(capacity);
    this.results = new Int32Array(capacity);
    this.mask = capacity - 1;
  }

  get count(): number {
    return this.size;
  }

  /** Adds a merge; returns false when the pair is already present (first one wins). */
  add(left: number, right: number, rank: number, result: number): boolean {
    let slot = pairHash(left, right) & this.mask;
    while (this.lefts[slot] !== -1) {
      if (this.lefts[slot] === left && this.rights[slot] === right) return false;
      slot = (slot + 1) & this.mask;
    }
    if (this.size * 2 >= this.mask) throw new Error("internal: PairTable over capacity");
    this.lefts[slot] = left;
    this.rights[slot] = right;
    this.ranks[slot] = rank;
    this.results[slot] = result;
    this.size++;
    return true;
  }

  find(left: number, right: number): number {
    let slot = pairHash(left, right) & this.mask;
    for (;;) {
      const l = this.lefts[slot]!;
      if (l === -1) return -1;
      if (l === left && this.rights[slot] === right) return slot;
      slot = (slot + 1) & this.mask;
    }
  }

  rankAt(slot: number): number {
    return this.ranks[slot]!;
  }

  resultAt(slot: number): number {
    return this.results[slot]!;
  }
}

function pairHash(a: number, b: number): number {
  let h = Math.imul(a, 0x9e3779b1) ^ Math.imul(b + 0x7f4a7c15, 0x85ebca6b);
  h ^= h >>> 15;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 13;
  return h >>> 0;
}

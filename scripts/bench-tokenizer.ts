// Encode throughput of our Tokenizer vs js-tiktoken on the same Llama 4 ranks.
// Usage: npx tsx scripts/bench-tokenizer.ts [path/to/tokenizer.model] [--runs N] [--mb N]
import { Tiktoken } from "js-tiktoken/lite";
import { Tokenizer } from "../src/tokenizer/index.js";
import { LLAMA4_SPLIT_PATTERN, referenceChunks, translateSplitPattern } from "../src/tokenizer/pretokenize.js";
import { sharedPath } from "../test/support.js";

function argValue(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}
const modelPath = process.argv[2] && !process.argv[2].startsWith("--") ? process.argv[2] : sharedPath("llama4/tokenizer.model");
const runs = argValue("--runs", 5);
const targetBytes = argValue("--mb", 1.2) * 1024 * 1024;

// ---------------------------------------------------------------------------------------------
// Deterministic mixed text: prose, code, CJK, emoji, digits (xorshift32, fixed seed).

let seed = 0x2545f491;
function rand(n: number): number {
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  return (seed >>> 0) % n;
}
const pick = <T>(xs: readonly T[]): T => xs[rand(xs.length)]!;

const WORDS = (
  "the of and to in is was that for it with as on be at by this had not are but from or have an they which one you were " +
  "her all she there would their we him been has when who will more no if out so said what up its about into than them can " +
  "only other new some could time these two may then do first any my now such like our over man me even most made after also " +
  "did many before must through back years where much your way well down should because each just those people how too little " +
  "state good very make world still own see men work long get here between both life being under never day same another know " +
  "while last might us great old year off come since against go came right used take three model token vocabulary inference " +
  "attention layer expert routing quantization benchmark throughput latency memory cache kernel tensor matrix vector"
).split(" ");
const SYLLABLES = "ka ri to mo na shi zel vor qua lin dra pex ul on ith mar gen sto blu fra nek tor vis".split(" ");
const CONTRACTIONS = ["'s", "'re", "'ve", "'ll", "'d", "'t", "'m"];
const CJK = "的一是不了人我在有他这中大来上国个到说们为子和你地出道也时年得就那要下以生会自着去之过家学对可她里后小么心多天而能好都然没日于起还发成事只作当想看文无开手十用主行方又如前所本见经头面公同三已老从动两长知民样现分将外但身些与高意进把法此实回二理美点月明其种声全工己话儿者向情部正名定女问力机给等几很业最间新什打便位因重被走电四第门相次东政海口使教西再平真听世气信北少关并内加化由却代军产入先山五太水万市眼体别处总才场师书比住员九笑性通目华报立马命张活难神数件安表原车白应路期叫死常提感金何更反合放做系计或司利受光王果亲界及今京务制解各任至清物台象记边共风战干接它许八特觉望直服毛林题建南度统色字请交爱让认算论百吃义科怎元社术结六功指思非流每青管夫连远资队跟带花快条院变联言权往展该领传近留红治决周保达办运武半候七必城父强步完革深区即求品士转量空甚众技轻程告江语英基派满式李息写呢识极令黄德收脸钱党倒未持取设始版双历越史商千片容研像找友孩站广改议形委早房音火际则首单据导影失拿网香似斯专石若兵弟谁校读志飞观争究包组造落视济喜离虽坐集编宝谈府拉黑且随格尽剑讲布杀微怕母调局根曾准团段终乐切级克精哪官示冷域读"; // prettier-ignore
const KANA = "あいうえおかきくけこさしすせそたちつてとなにぬねのアイウエオカキクケコサシスセソタチツテト";
const EMOJI = ["😀", "😂", "🙂", "🚀", "👍🏽", "👩‍💻", "🇯🇵", "❤️", "🔥", "🎉", "🤖", "🌍"];

function word(): string {
  if (rand(12) === 0) {
    let w = "";
    for (let i = 0, n = 2 + rand(3); i < n; i++) w += pick(SYLLABLES);
    return w;
  }
  return pick(WORDS);
}

function prose(): string {
  const words: string[] = [];
  for (let i = 0, n = 8 + rand(18); i < n; i++) {
    let w = word();
    if (i === 0 || rand(15) === 0) w = w[0]!.toUpperCase() + w.slice(1);
    if (rand(25) === 0) w += pick(CONTRACTIONS);
    if (rand(10) === 0) w += ",";
    words.push(w);
  }
  return words.join(" ") + pick([".", ".", ".", "?", "!"]) + " ";
}

function code(): string {
  const name = word() + word()[0]!.toUpperCase() + word().slice(1);
  const n = rand(10_000);
  return [
    `function ${name}(input: number[], limit = ${n}): number {`,
    `\tlet total = 0;`,
    `\tfor (let i = 0; i < input.length && i < limit; i++) {`,
    `\t\ttotal += input[i] * ${rand(97)} + 0x${rand(65536).toString(16)};`,
    `\t}`,
    `\treturn total; // ${prose().trim()}`,
    `}`,
    ``,
    `def ${name}_py(xs):`,
    `    return [x ** ${rand(5)} for x in xs if x > ${rand(1000)}]`,
    ``,
  ].join("\n");
}

function cjk(): string {
  let s = "";
  for (let i = 0, n = 10 + rand(40); i < n; i++) s += rand(5) === 0 ? KANA[rand(KANA.length)]! : CJK[rand(CJK.length)]!;
  return s + pick(["。", "，", "！", "？"]);
}

function digits(): string {
  return `${rand(10_000)}.${rand(100)} ${2000 + rand(30)}-${1 + rand(12)}-${1 + rand(28)} ${rand(1_000_000_000)} `;
}

function emoji(): string {
  let s = "";
  for (let i = 0, n = 1 + rand(4); i < n; i++) s += pick(EMOJI);
  return s + " ";
}

const GENERATORS = { prose, code, cjk, digits, emoji } as const;
type Kind = keyof typeof GENERATORS;

/** Mixed text (55% prose, 20% code, 12% CJK, 7% digits, 6% emoji), or one kind only. */
function buildText(bytes: number, only?: Kind): string {
  const parts: string[] = [];
  let size = 0;
  while (size < bytes) {
    const r = rand(100);
    const kind: Kind = only ?? (r < 55 ? "prose" : r < 75 ? "code" : r < 87 ? "cjk" : r < 94 ? "digits" : "emoji");
    const p = GENERATORS[kind]();
    parts.push(rand(8) === 0 ? p + "\n\n" : p);
    size += Buffer.byteLength(p);
  }
  return parts.join("");
}

// ---------------------------------------------------------------------------------------------

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1]!;
}

function time<T>(f: () => T): [T, number] {
  const t0 = performance.now();
  const r = f();
  return [r, performance.now() - t0];
}

const text = buildText(targetBytes);
const mb = Buffer.byteLength(text) / (1024 * 1024);

const [ours, loadMs] = time(() => Tokenizer.load(modelPath));
const ranks = ours.mergeableRanks();
const specials = Object.fromEntries(ours.specialTokens().map((s) => [s.content, s.id]));
const [theirs, theirLoadMs] = time(
  () =>
    new Tiktoken({
      // Same (translated) split pattern, so the only difference is the implementation.
      pat_str: translateSplitPattern(LLAMA4_SPLIT_PATTERN),
      special_tokens: specials,
      // js-tiktoken's compact format: "! <first rank> <base64> <base64> ..." per line.
      bpe_ranks: "! 0 " + ranks.map((b) => Buffer.from(b).toString("base64")).join(" "),
    }),
);
console.log(`text: ${mb.toFixed(2)} MB (${text.length} UTF-16 units), runs: ${runs}, node ${process.version}`);
console.log(`load: ours ${loadMs.toFixed(0)} ms (tokenizer.model), js-tiktoken ${theirLoadMs.toFixed(0)} ms (from ranks)`);

// Identical ids? js-tiktoken gets the reference wrapper's 400,000-code-point windows one by
// one (the reference encodes them separately; that changes ids at the window edges).
const oursIds = ours.encode(text);
const theirIds = referenceChunks(text).flatMap((chunk) => theirs.encode(chunk, [], []));
let same = oursIds.length === theirIds.length;
for (let i = 0; same && i < oursIds.length; i++) same = oursIds[i] === theirIds[i];
if (same) {
  console.log(`ids: identical (${oursIds.length} tokens)`);
} else {
  // Compare paragraph by paragraph to count the differing pieces of text.
  let differing = 0;
  const paragraphs = text.split("\n\n");
  for (const p of paragraphs) if (JSON.stringify(ours.encode(p)) !== JSON.stringify(theirs.encode(p, [], []))) differing++;
  console.log(`ids: DIFFER (ours ${oursIds.length}, js-tiktoken ${theirIds.length} tokens; ${differing}/${paragraphs.length} paragraphs differ)`);
}

const coldMs: number[] = [];
const warmMs: number[] = [];
const tiktokenMs: number[] = [];
for (let r = 0; r < runs; r++) {
  const fresh = Tokenizer.load(modelPath); // empty piece cache
  coldMs.push(time(() => fresh.encode(text))[1]);
  warmMs.push(time(() => fresh.encode(text))[1]);
  tiktokenMs.push(time(() => theirs.encode(text, [], []))[1]);
}
const rate = (ms: number[]): number => mb / (median(ms) / 1000);
const row = (name: string, ms: number[]): string =>
  `${name.padEnd(34)} ${rate(ms).toFixed(2).padStart(7)} MB/s  (median ${median(ms).toFixed(0)} ms)`;
console.log(row("ours, fresh tokenizer (cold cache)", coldMs));
console.log(row("ours, second encode (warm cache)", warmMs));
console.log(row("js-tiktoken", tiktokenMs));
console.log(`ratio ours/js-tiktoken: cold ${(rate(coldMs) / rate(tiktokenMs)).toFixed(2)}x, warm ${(rate(warmMs) / rate(tiktokenMs)).toFixed(2)}x`);

// Per kind of text (0.25 MB each), fresh tokenizer per run for ours.
console.log("\nper kind (MB/s, ours cold / js-tiktoken / ratio):");
for (const kind of Object.keys(GENERATORS) as Kind[]) {
  const sample = buildText(0.25 * 1024 * 1024, kind);
  const sampleMb = Buffer.byteLength(sample) / (1024 * 1024);
  const a: number[] = [];
  const b: number[] = [];
  for (let r = 0; r < runs; r++) {
    const fresh = Tokenizer.load(modelPath);
    a.push(time(() => fresh.encode(sample))[1]);
    b.push(time(() => theirs.encode(sample, [], []))[1]);
  }
  const ra = sampleMb / (median(a) / 1000);
  const rb = sampleMb / (median(b) / 1000);
  console.log(`  ${kind.padEnd(7)} ${ra.toFixed(2).padStart(7)} / ${rb.toFixed(2).padStart(6)} / ${(ra / rb).toFixed(1)}x`);
}

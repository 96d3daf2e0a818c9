// GPT-2 encoding throughput of js-tiktoken (npm) on one text file, the
// counterpart of bench_tokenizer. Used by bench/tokenizer_throughput.sh:
//   node bench/js_tiktoken_bench.mjs --text FILE [--repeat N] [--jstok DIR] [--ids-out FILE]
// DIR is where `npm install js-tiktoken` was run (default /tmp/jstok); the
// package is loaded from there so the repository needs no node_modules.
// Prints one line:
//   js-tiktoken threads=1 bytes=B tokens=N runs=R median_mb_s=X min_mb_s=Y max_mb_s=Z version=V
// MB is 10^6 bytes of the file. Special tokens in the text are encoded as
// ordinary text, as kiln does by default (js-tiktoken would throw otherwise).
import { createRequire } from "node:module";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

function parseArgs(argv) {
  const a = { text: null, repeat: 5, jstok: "/tmp/jstok", idsOut: null };
  for (let i = 2; i < argv.length; i++) {
    const k = argv[i];
    const v = () => {
      if (i + 1 >= argv.length) throw new Error(`${k} needs a value`);
      return argv[++i];
    };
    if (k === "--text") a.text = v();
    else if (k === "--repeat") a.repeat = parseInt(v(), 10);
    else if (k === "--jstok") a.jstok = v();
    else if (k === "--ids-out") a.idsOut = v();
    else throw new Error(`unknown argument ${k}`);
  }
  if (!a.text) throw new Error("--text is required");
  if (!(a.repeat >= 1)) throw new Error("--repeat must be at least 1");
  return a;
}

try {
  const a = parseArgs(process.argv);
  const require = createRequire(join(a.jstok, "package.json"));
  const { getEncoding } = require("js-tiktoken");
  // Not require(): the package's "exports" map does not expose package.json.
  const version = JSON.parse(readFileSync(join(a.jstok, "node_modules", "js-tiktoken", "package.json"), "utf8")).version;
  const enc = getEncoding("gpt2");

  const bytes = readFileSync(a.text);
  const text = bytes.toString("utf8");
  if (Buffer.byteLength(text, "utf8") !== bytes.length) {
    // Invalid UTF-8 became U+FFFD: the tokens would not be comparable with kiln's.
    throw new Error(`${a.text} is not valid UTF-8`);
  }

  const speeds = [];
  let tokens = 0;
  let ids = null;
  for (let r = 0; r < a.repeat; r++) {
    const t0 = process.hrtime.bigint();
    ids = enc.encode(text, [], []);
    const s = Number(process.hrtime.bigint() - t0) / 1e9;
    tokens = ids.length;
    speeds.push(bytes.length / 1e6 / s);
  }
  if (a.idsOut) writeFileSync(a.idsOut, ids.join(" ") + "\n");
  speeds.sort((x, y) => x - y);
  const m = speeds.length;
  const median = m % 2 ? speeds[(m - 1) / 2] : 0.5 * (speeds[m / 2 - 1] + speeds[m / 2]);
  console.log(
    `js-tiktoken threads=1 bytes=${bytes.length} tokens=${tokens} runs=${a.repeat} ` +
      `median_mb_s=${median.toFixed(3)} min_mb_s=${speeds[0].toFixed(3)} max_mb_s=${speeds[m - 1].toFixed(3)} ` +
      `version=${version}`,
  );
} catch (e) {
  console.error(`error: ${e.message}`);
  process.exit(1);
}

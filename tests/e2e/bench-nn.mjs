// The race against TensorFlow Playground's own network code, in one headless-Chromium run:
// its `src/nn.ts` (plain JavaScript objects, one neuron and one example at a time) against
// gradlab's CPU path (the host kernels, and burn's generic path for reference), on the same nets:
//   - compute only: batches of 10 per second, nothing drawn;
//   - its page loop: an epoch of steps, then the train and test losses over every point (what
//     TF Playground's `oneStep` computes each animation frame), against the same in gradlab;
//   - replaying a link: opening a 100,000-step link of the default net until the page says it is
//     ready, less opening the same link with no steps (the page's load), against nn.ts computing
//     as many steps (compute only: warm, as in the rows above, and from a fresh page, cold).
// The two race in alternating rounds (ROUNDS, default 7, of SECONDS/ROUNDS each), so a machine that
// changes speed during the run (a shared machine does) slows both alike; the rates printed are the
// medians of the rounds, the ratio the median of each round's ratio.
// Prints one JSON line per row and the ratios; nothing passes or fails on time.
//
// nn.ts is never copied into this project: give a checkout of tensorflow/playground at the pinned
// commit below (its nn.ts is checked by SHA-256), e.g.
//   TF_PLAYGROUND=/path/to/playground node tests/e2e/bench-nn.mjs [SECONDS]
// It is transpiled here by TypeScript (npm typescript@5.9.3, fetched with `npm pack` into
// target/bench on first use). Without TF_PLAYGROUND only gradlab's rows are printed.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { execSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { serve, launch, open } from './lib.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const dist = process.env.DIST ? path.resolve(process.env.DIST) : path.join(root, 'dist');
const seconds = Number(process.argv[2] || 3);
const PINNED = { commit: '02469bd3751764b20486015d4202b792af5362a6', sha256: 'eca97b4c0ca3787aa7d516fb8a560107f70f4809d036af1fb2db49b4bb27c9db' };

/** The nets raced: TF Playground's default (2-4-2-1 tanh, square error, batch 10, lr 0.03, 500
 *  circle points, half for training) and the largest both can build (7 features, 6 × 16, one
 *  output: TF Playground has no 3-class output). */
const all = 'x1,x2,x1sq,x2sq,x1x2,sinx1,sinx2';
const NETS = [
  { net: 'default 2-4-2-1', link: 'loss=mse', shape: [2, 4, 2, 1], features: 2 },
  { net: '7-16x6-1', link: `loss=mse&features=${all}&layers=16,16,16,16,16,16`, shape: [7, 16, 16, 16, 16, 16, 16, 1], features: 7 },
];

/** nn.ts transpiled to a script that sets `window.nn`, or null (with the reason printed). */
function nnScript() {
  const checkout = process.env.TF_PLAYGROUND;
  if (!checkout) {
    console.log(JSON.stringify({ nn_ts: 'skipped: set TF_PLAYGROUND to a checkout of tensorflow/playground at ' + PINNED.commit }));
    return null;
  }
  const file = fs.statSync(checkout).isDirectory() ? path.join(checkout, 'src/nn.ts') : checkout;
  const source = fs.readFileSync(file, 'utf8');
  const sha = crypto.createHash('sha256').update(source).digest('hex');
  if (sha !== PINNED.sha256) {
    console.log(JSON.stringify({ nn_ts: `skipped: ${file} is not the pinned nn.ts (sha256 ${sha})` }));
    return null;
  }
  const cache = path.join(root, 'target/bench');
  const tsDir = path.join(cache, 'package');
  if (!fs.existsSync(path.join(tsDir, 'lib/typescript.js'))) {
    fs.mkdirSync(cache, { recursive: true });
    const tgz = execSync('npm pack --silent typescript@5.9.3', { cwd: cache }).toString().trim();
    execSync(`tar xzf ${tgz}`, { cwd: cache });
  }
  const ts = createRequire(import.meta.url)(path.join(tsDir, 'lib/typescript.js'));
  const js = ts.transpileModule(source, { compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2017 } }).outputText;
  return `(function (exports) {\n${js}\n})(window.nn = {});`;
}

/** Runs in the page: TF Playground's training loop (its playground.ts `oneStep`, without the UI)
 *  on random points, for `seconds`; batches per second. With `losses`, each epoch ends with the
 *  train and test losses over every point, as its page loop does. */
function raceNn({ shape, features, seconds, losses }) {
  const nn = window.nn;
  let seed = 1;
  const random = () => { seed = (seed * 16807) % 2147483647; return seed / 2147483647; };
  const inputIds = Array.from({ length: features }, (_, i) => `f${i}`);
  const network = nn.buildNetwork(shape, nn.Activations.TANH, nn.Activations.TANH, null, inputIds, false);
  const point = () => ({ input: Array.from({ length: features }, () => random() * 10 - 5), label: random() < 0.5 ? -1 : 1 });
  const train = Array.from({ length: 250 }, point);
  const test = Array.from({ length: 250 }, point);
  const loss = (points) => points.reduce((s, p) => s + nn.Errors.SQUARE.error(nn.forwardProp(network, p.input), p.label), 0) / points.length;
  let batches = 0;
  const start = performance.now();
  while (performance.now() - start < seconds * 1000) {
    train.forEach((p, i) => {
      nn.forwardProp(network, p.input);
      nn.backProp(network, p.label, nn.Errors.SQUARE);
      if ((i + 1) % 10 === 0) {
        nn.updateWeights(network, 0.03, 0);
        batches++;
      }
    });
    if (losses) {
      loss(train);
      loss(test);
    }
  }
  return batches * 1000 / (performance.now() - start);
}

/** Runs in a fresh page: nn.ts trains `batches` batches of 10 (as `raceNn` does, compute only)
 *  from its first call; batches per second. */
function nnCold({ shape, features, batches }) {
  const nn = window.nn;
  let seed = 1;
  const random = () => { seed = (seed * 16807) % 2147483647; return seed / 2147483647; };
  const inputIds = Array.from({ length: features }, (_, i) => `f${i}`);
  const start = performance.now();
  const network = nn.buildNetwork(shape, nn.Activations.TANH, nn.Activations.TANH, null, inputIds, false);
  const point = () => ({ input: Array.from({ length: features }, () => random() * 10 - 5), label: random() < 0.5 ? -1 : 1 });
  const train = Array.from({ length: 250 }, point);
  let done = 0;
  while (done < batches) {
    for (let i = 0; i < train.length && done < batches; i++) {
      nn.forwardProp(network, train[i].input);
      nn.backProp(network, train[i].label, nn.Errors.SQUARE);
      if ((i + 1) % 10 === 0) {
        nn.updateWeights(network, 0.03, 0);
        done++;
      }
    }
  }
  return batches * 1000 / (performance.now() - start);
}

const { url, close } = await serve(dist);
const browser = await launch({ webgpu: false });
const page = await open(browser, url, 'backend=cpu');
await page.waitForFunction(() => window.wasmBindings && window.wasmBindings.bench_steps);
const script = nnScript();
if (script) await page.addScriptTag({ content: script });

const ROUNDS = Number(process.env.ROUNDS || 7);
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2; };
const rows = [];
// NET=default races only the nets whose name has it; KERNELS=ours leaves burn's generic path out.
for (const { net, link, shape, features } of NETS.filter((n) => n.net.includes(process.env.NET || ''))) {
  for (const losses of [false, true]) {
    const loop = losses ? 'epoch + losses' : 'compute only';
    const row = { net, loop };
    // 25 batches make an epoch of the 250 training points.
    const every = losses ? 25 : 0;
    // Long enough to fill `seconds` at the speeds measured natively.
    const steps = (kernels) => Math.max(200, Math.round(seconds * (kernels === 'ours' ? (features > 2 ? 20000 : 200000) : 10000)));
    const gradlab = (kernels, share) => page.evaluate(([l, n, k, e]) => window.wasmBindings.bench_steps(l, n, k, e), [link, Math.max(200, Math.round(steps(kernels) * share)), kernels, every]);
    const kernelSets = (process.env.KERNELS || 'ours,generic').split(',');
    if (kernelSets.includes('generic')) row.gradlab_generic = Math.round(await gradlab('generic', 1));
    if (kernelSets.includes('ours')) {
      const ours = [];
      const theirs = [];
      for (let r = 0; r < ROUNDS; r++) {
        ours.push(await gradlab('ours', 1 / ROUNDS));
        if (script) theirs.push(await page.evaluate(raceNn, { shape, features, seconds: seconds / ROUNDS, losses }));
      }
      row.gradlab_ours = Math.round(median(ours));
      if (script) {
        row.nn_ts = Math.round(median(theirs));
        row.ours_vs_nn_ts = +median(ours.map((o, r) => o / theirs[r])).toFixed(2);
        row.ratio_range = [Math.min(...ours.map((o, r) => o / theirs[r])), Math.max(...ours.map((o, r) => o / theirs[r]))].map((x) => +x.toFixed(2));
      }
    }
    if (row.gradlab_generic) row.ours_vs_generic = +(row.gradlab_ours / row.gradlab_generic).toFixed(2);
    rows.push(row);
    console.log(JSON.stringify({ where: 'browser', unit: 'batches of 10 per second', ...row }));
  }
}

/** Milliseconds from opening `hash` to the page's ready signal (after its replay). */
async function readyMs(hash, steps) {
  const p = await browser.newPage();
  const start = Date.now();
  await p.goto(`${url}#${hash}`);
  await p.waitForSelector('body[data-ready="1"]', { timeout: 120_000 });
  const ms = Date.now() - start;
  const shown = await p.locator('[data-testid="step-count"]').first().textContent();
  if (Number(shown.trim()) !== steps) throw new Error(`the page shows step ${shown}, not ${steps}`);
  await p.close();
  return ms;
}
const REPLAYED = 100_000;
// Three rounds of (the page without steps, the page replaying them): the medians.
const loads = [];
const opens = [];
for (let r = 0; r < 3; r++) {
  loads.push(await readyMs('backend=cpu&loss=mse&steps=0', 0));
  opens.push(await readyMs(`backend=cpu&loss=mse&steps=${REPLAYED}`, REPLAYED));
}
const [load, opened] = [median(loads), median(opens)];
const replay = { net: NETS[0].net, loop: `replay a ${REPLAYED.toLocaleString('en')}-step link`, page_load_ms: load, page_with_replay_ms: opened, gradlab_ours: Math.round(REPLAYED * 1000 / Math.max(1, median(opens.map((o, r) => o - loads[r])))) };
if (rows[0].nn_ts) {
  replay.nn_ts = rows[0].nn_ts;
  replay.ours_vs_nn_ts = +(replay.gradlab_ours / replay.nn_ts).toFixed(2);
  // The same work for nn.ts as a replay is for gradlab: as many steps from a fresh page, where
  // its code starts cold too (V8 compiles JavaScript, like WebAssembly, in tiers: the first
  // hundreds of milliseconds run the slow tiers). Medians of three fresh pages.
  const cold = [];
  for (let r = 0; r < 3; r++) {
    const p = await browser.newPage();
    await p.addScriptTag({ content: script });
    cold.push(await p.evaluate(nnCold, { shape: NETS[0].shape, features: NETS[0].features, batches: REPLAYED }));
    await p.close();
  }
  replay.nn_ts_cold = Math.round(median(cold));
  replay.ours_vs_nn_ts_cold = +(replay.gradlab_ours / replay.nn_ts_cold).toFixed(2);
}
console.log(JSON.stringify({ where: 'browser', unit: 'batches of 10 per second', ...replay }));
await browser.close();
close();

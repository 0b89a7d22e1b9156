// Browser tests against the release build in dist/: headless chromium, driven like a person
// would (click, select, read what the page shows), with screenshots written to tests/e2e/out/.
// Prints 'N passed, N failed' and exits non-zero on any failure.
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { serve, launch, open, openPlaygroundStepper, text, assert, stepCount, lossValue, noError, value, download, safetensorsHeader } from './lib.mjs';
import { faultTests } from './faults.mjs';
import { playgroundTests } from './playground.mjs';
import { digitsTests } from './digits.mjs';
import { ganTests } from './gan.mjs';
import { tabularTests } from './tabular.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const out = path.join(here, 'out');
fs.mkdirSync(out, { recursive: true });

const results = [];
/** `ONLY=regex node run.mjs` runs the tests whose names match. */
async function test(name, fn) {
  if (process.env.ONLY && !new RegExp(process.env.ONLY).test(name)) return;
  const t0 = Date.now();
  try {
    await fn();
    results.push([name, true]);
    console.log(`ok   ${name} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  } catch (e) {
    results.push([name, false]);
    console.log(`FAIL ${name}: ${e.stack || e}`);
  }
}


/** Clicks step and waits for the counter to move on by one. */
async function stepOnce(page) {
  const before = await stepCount(page);
  await page.click('[data-testid="step"]');
  await page.waitForFunction((n) => Number(document.querySelector('[data-testid="step-count"]').textContent) === n, before + 1);
}


// DIST=<folder> runs the tests against another build (e.g. a quick one without wasm-opt).
const dist = process.env.DIST || path.join(root, 'dist');
const { url, close } = await serve(dist);
const browser = await launch();

await test('the page becomes ready and shows a backend', async () => {
  const page = await open(browser, url);
  const backend = await text(page, 'backend');
  assert(['cpu', 'webgpu'].includes(backend), `backend text: ${backend}`);
  assert((await text(page, 'epoch')) === '0', 'epoch starts at 0');
  assert(Number(await lossValue(page, 'loss-test')) > 0, 'a test loss is shown');
  console.log(`     auto-picked backend: ${backend} (${await text(page, 'backend-note')})`);
  await noError(page);
  await page.screenshot({ path: path.join(out, 'start.png') });
  await page.close();
});

await test('with backend=auto the page answers at once on the CPU; WebGPU is measured in the background, or offered unmeasured when it is a software fallback', async () => {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  const t0 = Date.now();
  await page.goto(url);
  await page.waitForSelector('body[data-ready="1"]', { timeout: 60_000 });
  const ready = (Date.now() - t0) / 1000;
  await page.click('[data-testid="play"]');
  await page.waitForFunction(() => Number(document.querySelector('[data-testid="step-count"]').textContent) > 0, null, { timeout: 60_000 });
  const training = (Date.now() - t0) / 1000;
  const note = await text(page, 'backend-note');
  assert(/measuring|measured|no WebGPU/.test(note), `the footer says what the backend choice is doing: ${note}`);
  // Which adapter this browser has, judged as the page judges it (src/ui/devices.rs): none, the
  // browser's software fallback (this suite's Chromium: SwiftShader), or a hardware one.
  const adapter = await page.evaluate(async () => {
    const a = await navigator.gpu?.requestAdapter();
    if (!a) return 'none';
    const info = a.info || {};
    const software = info.isFallbackAdapter === true || a.isFallbackAdapter === true || /swiftshader/i.test(info.architecture || '');
    return software ? 'software' : 'hardware';
  });
  // The GPU is measured while the page is idle, not in the middle of a run.
  await page.click('[data-testid="pause"]');
  await page.waitForFunction(() => /measured:|no WebGPU|failed|not measured/.test(document.querySelector('[data-testid="backend-note"]').textContent), null, { timeout: 120_000 });
  const measured = (Date.now() - t0) / 1000;
  const settled = await text(page, 'backend-note');
  console.log(`     adapter: ${adapter}; ready ${ready.toFixed(1)} s, training ${training.toFixed(1)} s after opening; settled by ${measured.toFixed(1)} s: ` +
    `${settled} → ${await text(page, 'backend')}`);
  const webgpuOption = page.locator('[data-testid="backend-select"] option[value="webgpu"]');
  if (adapter === 'none') {
    assert(/no WebGPU/.test(settled), `no adapter: the footer says so: ${settled}`);
  } else if (adapter === 'software') {
    assert(/software fallback, offered but not measured/.test(settled), `a software WebGPU is not measured: ${settled}`);
    assert(await webgpuOption.isEnabled(), 'the software WebGPU is still offered');
    assert((await text(page, 'backend')) === 'cpu', 'and the page stays on the CPU');
  } else {
    assert(/measured: cpu \d+ steps\/s, webgpu \d+ steps\/s|failed/.test(settled), `a hardware WebGPU is measured: ${settled}`);
    assert(await webgpuOption.isEnabled(), 'WebGPU is offered');
  }
  // A regression guard, not a timing test: the old start-up blocked for 13–18 s.
  assert(training < 8, `play answered ${training.toFixed(1)} s after opening`);
  await noError(page);
  await page.close();
});

for (const [backend, limit] of [['cpu', 120], ['webgpu', 400]]) {
  await test(`circle, 2-layer tanh net, reaches test loss < 0.05 on ${backend}`, async () => {
    const page = await open(browser, url, `backend=${backend}`);
    assert((await text(page, 'backend')) === backend, `backend is ${await text(page, 'backend')}`);
    await page.selectOption('[data-testid="optimizer"]', 'adam');
    await page.waitForFunction(() => document.querySelector('body').dataset.ready === '1');
    await page.click('[data-testid="play"]');
    const t0 = Date.now();
    let loss = Infinity;
    while ((Date.now() - t0) / 1000 < limit) {
      await page.waitForTimeout(1000);
      loss = Number(await lossValue(page, 'loss-test'));
      if (loss < 0.05) break;
    }
    const [shown, gflops] = [await text(page, 'steps-per-sec'), await text(page, 'gflops')];
    await page.click('[data-testid="pause"]');
    const steps = await stepCount(page);
    console.log(`     ${backend}: test loss ${loss} after ${steps} steps, ${((Date.now() - t0) / 1000).toFixed(1)} s, ` +
      `${shown} steps/s and ${gflops} GFLOP/s shown`);
    assert(Number(gflops) > 0, `GFLOP/s while playing: ${gflops}`);
    await page.screenshot({ path: path.join(out, `trained-${backend}.png`) });
    await noError(page);
    assert(loss < 0.05, `test loss ${loss} after ${steps} steps`);
    await page.close();
  });
}

await test('step advances exactly one step; reset restores the identical first-step loss', async () => {
  const page = await open(browser, url, 'backend=cpu');
  const first = [];
  for (let round = 0; round < 2; round++) {
    await page.click('[data-testid="reset"]');
    await page.waitForFunction(() => document.querySelector('[data-testid="step-count"]').textContent === '0');
    await stepOnce(page);
    assert((await stepCount(page)) === 1, 'one click, one step');
    first.push(await lossValue(page, 'loss-train'));
    await stepOnce(page);
    assert((await stepCount(page)) === 2, 'second click, second step');
  }
  assert(first[0] === first[1], `first-step loss after reset: ${first[0]} vs ${first[1]}`);
  await noError(page);
  await page.close();
});

await test('the page and the native CLI give the same losses, bit for bit, on the host kernels', async () => {
  // The CPU path runs our own host kernels (libm's maths, plain loops): the same bits in wasm and
  // natively. Five clicked steps, then a replayed link with Adam, dropout and L2.
  const cli = path.join(root, 'target/release/gradlab');
  const cliLast = (args) => {
    const lines = execFileSync(cli, ['train', ...args, '--json'], { encoding: 'utf8' }).trim().split('\n').map((l) => JSON.parse(l));
    return lines[lines.length - 1];
  };
  const page = await open(browser, url, 'backend=cpu');
  for (let i = 0; i < 5; i++) await stepOnce(page);
  const kernels = await page.locator('[data-testid="backend"]').getAttribute('data-kernels');
  assert(kernels === 'host', `the page's steps ran on '${kernels}' kernels, not the host's`);
  const pageLoss = await lossValue(page, 'loss-train');
  const last = cliLast(['--steps', '5', '--eval-every', '5']);
  assert(last.step === 5, `CLI's last evaluation is at step ${last.step}`);
  console.log(`     5 steps: page ${pageLoss} vs CLI ${last.train_loss}`);
  assert(String(last.train_loss) === pageLoss, `page ${pageLoss} vs CLI ${last.train_loss}`);
  await page.close();

  const settings = { dataset: 'spiral', layers: '8,8', optimizer: 'adam', lr: '0.01', dropout: '0.2', reg: 'l2', 'reg-rate': '0.003', seed: '7' };
  const hash = `dataset=spiral&layers=8,8&opt=adam&lr=0.01&dropout=0.2&reg=l2&regrate=0.003&seed=7&backend=cpu&steps=400`;
  const replayed = await open(browser, url, hash);
  await replayed.waitForFunction(() => document.querySelector('[data-testid="step-count"]').textContent === '400', null, { timeout: 60_000 });
  const replayedLoss = await lossValue(replayed, 'loss-train');
  const adam = cliLast([...Object.entries(settings).flatMap(([k, v]) => [`--${k}`, v]), '--steps', '400', '--eval-every', '400']);
  console.log(`     400 replayed steps (spiral, 8,8, Adam, dropout, L2): page ${replayedLoss} vs CLI ${adam.train_loss}`);
  assert(String(adam.train_loss) === replayedLoss, `page ${replayedLoss} vs CLI ${adam.train_loss}`);
  await noError(replayed);
  await replayed.close();
});

await test('settings rebuild the network; a 3-class spiral trains; phone width renders', async () => {
  const page = await open(browser, url, 'backend=cpu', { width: 390, height: 844 });
  await page.selectOption('[data-testid="dataset"]', 'spiral3');
  await page.click('[data-testid="layer-add"]');
  await page.waitForSelector('#neuron-3-0');
  await page.click('[data-testid="play"]');
  await page.waitForTimeout(3000);
  await page.click('[data-testid="pause"]');
  assert((await stepCount(page)) > 0, 'trained some steps');
  // On a phone the output map comes first, and the header with play/pause stays on screen when
  // the page is scrolled (sticky).
  const order = await page.evaluate(() => {
    const out = document.querySelector('[data-testid="heatmap"], canvas#heatmap, .out-panel')?.getBoundingClientRect();
    const net = document.querySelector('#neuron-3-0')?.getBoundingClientRect();
    return { out: out?.top, net: net?.top };
  });
  assert(order.out !== undefined && order.net !== undefined && order.out < order.net, `the output comes before the network: ${JSON.stringify(order)}`);
  await page.evaluate(() => window.scrollTo(0, 1500));
  await page.waitForTimeout(100);
  const header = await page.evaluate(() => {
    const play = document.querySelector('[data-testid="play"]').getBoundingClientRect();
    return { scrolled: window.scrollY, top: document.querySelector('header.top').getBoundingClientRect().top, play: play.top, height: play.height };
  });
  assert(header.scrolled > 500 && Math.abs(header.top) < 1 && header.play >= 0 && header.play + header.height <= 844, `the header stays on screen: ${JSON.stringify(header)}`);
  await page.click('[data-testid="play"]');
  await page.waitForTimeout(300);
  await page.click('[data-testid="pause"]');
  await page.evaluate(() => window.scrollTo(0, 0));
  await noError(page);
  await page.screenshot({ path: path.join(out, 'phone-spiral3.png'), fullPage: true });
  await page.close();
});


await test('a crafted link sets every control', async () => {
  const link = 'v=1&dataset=xor&points=300&noise=0.1&ratio=0.7&features=x1,x2,x1x2&layers=3&act=relu&dropout=0.2' +
    '&reg=l2&regrate=0.003&loss=mse&opt=adam&lr=0.1&batch=7&seed=42&backend=cpu&steps=0&changes=none&page=play&preset=none&stage=0';
  const page = await open(browser, url, link);
  const expect = { dataset: 'xor', ratio: '70', noise: '10', batch: '7', seed: '42', optimizer: 'adam', lr: '0.1',
    loss: 'mse', dropout: '0.2', reg: 'l2', 'reg-rate': '0.003', 'act-1': 'relu', 'backend-select': 'cpu' };
  for (const [id, want] of Object.entries(expect)) {
    const got = await value(page, id);
    assert(got === want, `${id} shows ${got}, the link says ${want}`);
  }
  assert((await text(page, 'backend')) === 'cpu', 'backend');
  for (const [f, on] of [['x1', true], ['x2', true], ['x1x2', true], ['x1sq', false], ['sinx1', false]]) {
    const inactive = await page.locator(`[data-testid="feature-${f}"].inactive`).count();
    assert((inactive === 0) === on, `feature ${f} should be ${on ? 'on' : 'off'}`);
  }
  assert(await page.locator('#neuron-1-2').count() === 1 && await page.locator('#neuron-1-3').count() === 0, 'one layer of 3');
  assert(await page.locator('#neuron-2-0').count() === 0, 'no second layer');
  await noError(page);
  const shared = await value(page, 'share-link');
  // A version-1 link reads as it is and is written back as version 2 (which added the mnist.* keys).
  assert(shared.endsWith('#' + link.replace('v=1&', 'v=2&')), `the page's link is ${shared}`);
  await page.close();
});

await test('train, copy the link, open it in a fresh page: the same loss, exactly', async () => {
  const page = await open(browser, url, 'dataset=spiral&layers=6,4&opt=adam&lr=0.01&dropout=0.1&seed=5&backend=cpu');
  await page.click('[data-testid="play"]');
  await page.waitForTimeout(1500);
  await page.click('[data-testid="pause"]');
  await page.waitForTimeout(300);
  const steps = await stepCount(page);
  await page.click('[data-testid="copy-link"]');
  const link = await value(page, 'share-link');
  const loss = await lossValue(page, 'loss-train');
  assert(link.includes(`steps=${steps}`), `link ${link} should carry steps=${steps}`);
  assert(page.url().endsWith(link.split('#')[1]), 'the address bar holds the same link');
  const fresh = await browser.newPage();
  await fresh.goto(link);
  await fresh.waitForSelector('body[data-ready="1"]', { timeout: 120_000 });
  assert((await stepCount(fresh)) === steps, `replayed ${await stepCount(fresh)} of ${steps} steps`);
  const again = await lossValue(fresh, 'loss-train');
  console.log(`     ${steps} steps: ${loss} in the page, ${again} after opening its link`);
  assert(again === loss, `training loss ${again} after replay vs ${loss}`);
  await noError(fresh);
  await fresh.close();
  await page.close();
});

await test('changing the learning rate and optimizer mid-run keeps training going; its link replays the same loss', async () => {
  const page = await open(browser, url, 'backend=cpu&dataset=spiral&layers=6,4&seed=3');
  for (let i = 0; i < 30; i++) await stepOnce(page);
  const before = await lossValue(page, 'loss-test');
  await page.selectOption('[data-testid="lr"]', '0.01');
  await page.waitForFunction(() => location.hash.includes('changes=30_lr_0.01'));
  assert((await stepCount(page)) === 30, 'the step count is kept');
  assert((await lossValue(page, 'loss-test')) === before, 'the weights are kept');
  for (let i = 0; i < 20; i++) await stepOnce(page);
  await page.selectOption('[data-testid="optimizer"]', 'adam');
  for (let i = 0; i < 10; i++) await stepOnce(page);
  const hash = await page.evaluate(() => location.hash);
  assert(hash.includes('changes=30_lr_0.01+50_opt_adam') && hash.includes('lr=0.03') && hash.includes('steps=60'), hash);
  const loss = await lossValue(page, 'loss-test');
  const again = await open(browser, url, hash.slice(1));
  await again.waitForFunction(() => document.querySelector('[data-testid="step-count"]').textContent === '60');
  assert((await lossValue(again, 'loss-test')) === loss, `replayed ${await lossValue(again, 'loss-test')} vs ${loss}`);
  assert((await value(again, 'lr')) === '0.01' && (await value(again, 'optimizer')) === 'adam', 'the controls show the settings in force');
  const points = await again.locator('[data-testid="loss-chart"] polyline').first().getAttribute('points');
  assert(points && points.trim().split(' ').length >= 2, 'the chart has the replayed history');
  // A chart people can read: two axes, numbered ticks, a legend naming both lines; the log scale
  // re-labels the loss axis.
  const chart = async () => again.evaluate(() => {
    const svg = document.querySelector('[data-testid="loss-chart"]');
    return { axes: svg.querySelectorAll('line.axis').length, ticks: [...svg.querySelectorAll('text.tick')].map((t) => t.textContent) };
  });
  const linear = await chart();
  assert(linear.axes === 2, `two axes: ${linear.axes}`);
  assert(linear.ticks.filter((t) => /\d/.test(t)).length >= 4, `numbered ticks: ${linear.ticks}`);
  assert(linear.ticks.includes('train') && linear.ticks.includes('test'), `a legend for train and test: ${linear.ticks}`);
  await again.click('[data-testid="loss-chart-log"]');
  const log = await chart();
  assert(log.ticks.join() !== linear.ticks.join(), `the log scale re-labels the axis: ${log.ticks}`);
  await again.click('[data-testid="loss-chart-log"]');
  // An architecture change still starts afresh, and forgets the changes.
  await again.click('[data-testid="layer-add"]');
  await again.waitForFunction(() => document.querySelector('[data-testid="step-count"]').textContent === '0');
  assert((await again.evaluate(() => location.hash)).includes('changes=none'), 'a fresh start has no changes');
  console.log(`     link after two changes: ${hash.length} chars; replayed loss ${loss} exactly`);
  await noError(again);
  await again.close();
  await page.close();
});

await test('bad links say what was wrong, use defaults there, and the page still works', async () => {
  const page = await open(browser, url, 'v=1&lr=NaN&layers=4,99&frobnicate=1&dataset=%E2%28&seed=12&backend=cpu');
  const error = await text(page, 'app-error');
  for (const key of ['lr', 'layers', 'frobnicate', 'dataset']) assert(error.includes(`${key}:`), `app-error does not name ${key}: ${error}`);
  assert((await value(page, 'seed')) === '12', 'the good part of the link still applies');
  assert((await value(page, 'lr')) === '0.03', 'lr fell back to its default');
  await stepOnce(page);
  await page.screenshot({ path: path.join(out, 'bad-link.png') });
  const hostile = await open(browser, url, encodeURIComponent('<img src=x onerror=alert(1)>') + '=1&backend=cpu');
  assert(await hostile.locator('[data-testid="app-error"] img').count() === 0, 'markup in a link must never be rendered');
  assert((await text(hostile, 'app-error')).includes('<img'), 'the unknown key is shown as text');
  await hostile.close();
  await page.close();
});

await test('weights: in a link (f16), as a safetensors file, as experiment JSON; bad files change nothing', async () => {
  const settings = 'dataset=gauss&layers=5,3&act=tanh&opt=adam&lr=0.01&seed=8&backend=cpu';
  const page = await open(browser, url, settings);
  await page.click('[data-testid="play"]');
  await page.waitForTimeout(800);
  await page.click('[data-testid="pause"]');
  await page.waitForTimeout(300);
  const loss = await lossValue(page, 'loss-train');
  const steps = await stepCount(page);

  // The safetensors file: names are parameter paths, shapes match, and it loads back exactly.
  const st = await download(page, 'download-weights');
  const header = safetensorsHeader(st);
  const names = Object.keys(header).filter((k) => k !== '__metadata__').sort();
  assert(JSON.stringify(names) === JSON.stringify(['l1.b', 'l1.w', 'l2.b', 'l2.w', 'l3.b', 'l3.w']), `names ${names}`);
  assert(JSON.stringify(header['l1.w'].shape) === '[2,5]' && JSON.stringify(header['l2.b'].shape) === '[1,3]', 'shapes');
  assert(header['l1.w'].dtype === 'F32', 'dtype');
  assert(header.__metadata__.gradlab.includes('dataset=gauss'), 'the experiment rides in the header');
  const fresh = await open(browser, url, settings);
  await fresh.locator('[data-testid="open-file"]').setInputFiles({ name: 'model.safetensors', mimeType: 'application/octet-stream', buffer: st });
  await fresh.waitForFunction((want) => document.querySelector('[data-testid="loss-train"]').dataset.value === want, loss, { timeout: 10_000 });
  await noError(fresh);

  // A corrupt file and another network's file are refused and change nothing.
  for (const [name, buffer, why] of [['junk.safetensors', Buffer.from('not a model at all'), 'not a valid weights file'],
    ['truncated.safetensors', st.subarray(0, st.length - 8), 'not a valid weights file']]) {
    await fresh.locator('[data-testid="open-file"]').setInputFiles({ name, mimeType: 'application/octet-stream', buffer });
    await fresh.waitForSelector('[data-testid="app-error"]');
    const error = await text(fresh, 'app-error');
    assert(error.includes(name) && error.includes(why) && error.includes('unchanged'), `error: ${error}`);
    assert((await lossValue(fresh, 'loss-train')) === loss, 'the model is untouched');
  }
  await fresh.screenshot({ path: path.join(out, 'bad-weights-file.png') });
  await fresh.close();

  // The experiment JSON restores settings and exact weights in a default page.
  const json = await download(page, 'download-experiment');
  const doc = JSON.parse(json.toString('utf8'));
  assert(doc.link.dataset === 'gauss' && doc.weights['l2.w'].shape.join() === '5,3', 'JSON content');
  const blank = await open(browser, url, 'backend=cpu');
  await blank.locator('[data-testid="open-file"]').setInputFiles({ name: 'exp.json', mimeType: 'application/json', buffer: json });
  await blank.waitForFunction((want) => document.querySelector('[data-testid="loss-train"]').dataset.value === want, loss, { timeout: 10_000 });
  assert((await value(blank, 'dataset')) === 'gauss', 'dataset from the JSON');
  assert((await stepCount(blank)) === steps, 'steps from the JSON');
  await blank.close();

  // The link with weights (f16) opens that model: the same steps, a loss within f16's error.
  await page.check('[data-testid="share-weights"]');
  const link = await value(page, 'share-link');
  assert(link.includes('&w='), 'the link carries weights');
  const viaLink = await browser.newPage();
  await viaLink.goto(link);
  await viaLink.waitForSelector('body[data-ready="1"]');
  const linked = Number(await lossValue(viaLink, 'loss-train'));
  assert((await stepCount(viaLink)) === steps, 'steps shown');
  assert(Math.abs(linked - Number(loss)) / Number(loss) < 1e-2, `loss ${linked} vs ${loss}`);
  console.log(`     link with weights: ${link.length} chars; loss ${loss} → ${linked} after f16; safetensors ${st.length} bytes`);
  await noError(viaLink);
  await viaLink.close();
  await page.close();
});

await test('without WebGPU the page says so plainly and trains on the CPU', async () => {
  const plain = await launch({ webgpu: false });
  try {
    const page = await open(plain, url, 'backend=webgpu');
    assert((await text(page, 'backend')) === 'cpu', `backend is ${await text(page, 'backend')}`);
    const notice = await text(page, 'notice');
    assert(/WebGPU is not available/.test(notice), `notice: ${notice}`);
    const option = page.locator('[data-testid="backend-select"] option[value="webgpu"]');
    assert(await option.isDisabled(), 'the WebGPU choice is disabled');
    await stepOnce(page);
    await noError(page);
    await page.screenshot({ path: path.join(out, 'no-webgpu.png') });
    console.log(`     notice: ${notice}`);
  } finally {
    await plain.close();
  }
});

// The stepper. Native numbers come from the CLI on the same engine (`gradlab step --json`).
const cli = path.join(root, 'target/release/gradlab');
function nativeStep(preset) {
  return JSON.parse(execFileSync(cli, ['step', '--preset', preset, '--json'], { encoding: 'utf8' }));
}
const stageIndex = async (page) => Number(await text(page, 'stage-index'));
async function openStepper(hash, b = browser) {
  const page = await open(b, url, hash, { width: 1400, height: 1000 });
  await page.waitForFunction(() => Number(document.querySelector('[data-testid="stage-count"]')?.textContent) > 0, null, { timeout: 180_000 });
  return page;
}
/** Every displayed parameter gradient against the native values: 1e-5 relative. */
async function compareGradients(page, native, what) {
  let n = 0;
  for (const [name, p] of Object.entries(native.params)) {
    const [rows, cols] = p.shape;
    for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) {
      const shown = Number(await page.locator(`[data-testid="grad-${name}.${r}.${c}"]`).getAttribute('data-value'));
      const want = p.grad[r * cols + c];
      assert(Math.abs(shown - want) <= 1e-5 * Math.max(Math.abs(want), 0.1), `${what}: grad-${name}.${r}.${c} shows ${shown}, native ${want}`);
      n++;
    }
  }
  return n;
}

for (const preset of ['xor-2-2-1', 'essay-relu', 'essay-sigmoid']) {
  await test(`stepper preset ${preset}: walk every stage with the keyboard; gradients equal the native ones`, async () => {
    const page = await openStepper(`preset=${preset}&backend=cpu`);
    const native = nativeStep(preset);
    const count = Number(await text(page, 'stage-count'));
    assert(count === native.stages, `stage count ${count} vs native ${native.stages}`);
    assert(Math.abs(Number(await text(page, 'step-loss')) - native.loss) <= 1e-4 * native.loss, 'loss shown');
    await page.keyboard.press('Home');
    const shots = { forward: false, backward: false, update: false };
    for (let i = 1; i <= count; i++) {
      assert((await stageIndex(page)) === i, `stage-index ${await stageIndex(page)}, expected ${i}`);
      const name = await text(page, 'stage-name');
      const kind = name.split(' · ')[0];
      assert(['forward', 'loss', 'backward', 'update'].includes(kind), `stage name ${name}`);
      assert(await page.locator('[data-testid="stage-math"] math').count() > 0, `MathML at ${name}`);
      if (kind in shots && !shots[kind] && (kind !== 'forward' || i > 1)) {
        shots[kind] = true;
        await page.screenshot({ path: path.join(out, `stepper-${preset}-${kind}.png`), fullPage: true });
      }
      // Before the backward pass reaches l1.w its gradient is not shown.
      if (kind === 'forward') assert((await text(page, 'grad-l1.w.0.1')) === '—', 'gradient hidden during forward');
      await page.keyboard.press('ArrowRight');
    }
    assert((await stageIndex(page)) === count, 'stops at the last stage');
    await page.keyboard.press('ArrowLeft');
    assert((await stageIndex(page)) === count - 1, '← goes back');
    await page.keyboard.press('End');
    const n = await compareGradients(page, native, preset);
    // Every gradient check is green.
    const bad = await page.locator('td[data-testid^="relerr-"]:not(.good)').count();
    assert(bad === 0, `${bad} gradient checks are not green`);
    // The nudge: Δloss ≈ g·ε for l1.w.0.1.
    await page.click('[data-testid="grad-l1.w.0.1"]');
    await page.locator('tr:has([data-testid="grad-l1.w.0.1"]) input[type=radio]').check();
    await page.check('[data-testid="nudge-toggle"]');
    const delta = Number(await page.locator('[data-testid="nudge-delta"]').getAttribute('data-value'));
    const g = native.params['l1.w'].grad[1];
    // Second-order terms (½·∂²L/∂w²·ε²) make the two differ slightly.
    assert(Math.abs(delta - g * 1e-3) <= 1e-2 * Math.abs(g * 1e-3) + 1e-9, `nudge Δloss ${delta} vs g·ε ${g * 1e-3}`);
    // The link names the preset and the stage.
    const hash = await page.evaluate(() => location.hash);
    assert(hash.includes(`preset=${preset}`) && hash.includes(`stage=${count - 1}`) && hash.includes('page=step'), `link ${hash}`);
    if (preset !== 'xor-2-2-1') assert((await page.locator('[data-testid="errata"] li').count()) >= 1, 'errata panel');
    console.log(`     ${count} stages walked; ${n} gradients equal the native ones; nudge Δloss ${delta.toExponential(4)} vs g·ε ${(g * 1e-3).toExponential(4)}`);
    await noError(page);
    await page.close();
  });
}

await test('stepper: jump buttons, the optimizer update with Adam, animation, the next training step', async () => {
  const page = await openStepper('preset=essay-relu&backend=cpu');
  await page.click('[data-testid="jump-update"]');
  assert((await text(page, 'stage-name')).startsWith('update'), 'jump to update');
  await page.selectOption('[data-testid="step-optimizer"]', 'adam');
  await page.waitForFunction(() => document.querySelector('[data-testid="stage-name"]')?.textContent.includes('adam'));
  const maths = await page.locator('[data-testid="stage-math"] math').count();
  assert(maths === 5, `Adam shows m, v, m̂, v̂ and the update: ${maths} formulas`);
  await page.screenshot({ path: path.join(out, 'stepper-adam-update.png'), fullPage: true });
  await page.click('[data-testid="jump-backward"]');
  assert((await text(page, 'stage-name')).startsWith('backward'), 'jump to backward');
  await page.click('[data-testid="jump-loss"]');
  assert((await text(page, 'stage-name')).startsWith('loss'), 'jump to loss');
  await page.selectOption('[data-testid="step-speed"]', '200');
  const before = await stageIndex(page);
  await page.click('[data-testid="step-play"]');
  await page.waitForFunction((b) => Number(document.querySelector('[data-testid="stage-index"]').textContent) >= b + 3, before);
  await page.click('[data-testid="step-play"]');
  const lossBefore = Number(await text(page, 'step-loss'));
  await page.click('[data-testid="step-again"]');
  await page.waitForFunction(() => document.querySelector('[data-testid="step-taken"]').textContent === '2');
  const lossAfter = Number(await text(page, 'step-loss'));
  assert(lossAfter < lossBefore, `the second step's loss ${lossAfter} is below the first's ${lossBefore}`);
  await noError(page);
  await page.close();
});

await test('stepper from the playground: the next real step, large tensors as heatmaps, back to the playground', async () => {
  const page = await openPlaygroundStepper(browser, url, 'backend=cpu&layers=8,8&batch=30&dropout=0.2&reg=l2&regrate=0.001');
  // h1 is [30 × 8] = 240 values: a heatmap with statistics, not 240 numbers.
  for (let i = 0; i < 40 && !(await text(page, 'stage-name')).includes('· h₁ ='); i++) await page.keyboard.press('ArrowRight');
  assert((await text(page, 'stage-name')).includes('h₁ = tanh(z₁)'), 'reached the h₁ activation');
  assert(await page.locator('svg.heat').count() > 0, 'heatmap shown');
  assert(/min .* max .* mean .* norm/.test(await page.locator('.large .stats').first().textContent()), 'statistics shown');
  await page.locator('svg.heat rect').nth(8 * 5 + 2).click();
  assert((await page.locator('.drill input').first().inputValue()) === '5', 'drilled into row 5');
  await page.screenshot({ path: path.join(out, 'stepper-playground-heatmap.png'), fullPage: true });
  await page.keyboard.press('End');
  const bad = await page.locator('td[data-testid^="relerr-"].bad').count();
  assert(bad === 0, `${bad} red gradient checks (dropout and L2 included)`);
  // Its link replays the steps before it and shows the same step: the same loss.
  const link = await page.evaluate(() => location.href);
  assert(link.includes('page=step') && link.includes('steps=0&'), `link ${link}`);
  const again = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  await again.goto(link);
  await again.waitForFunction(() => Number(document.querySelector('[data-testid="stage-count"]')?.textContent) > 0, null, { timeout: 60_000 });
  assert((await text(again, 'step-loss')) === (await text(page, 'step-loss')), 'the link shows the same step');
  await again.close();
  await page.click('[data-testid="page-play"]');
  assert((await stepCount(page)) === 1, 'the playground took the stepped step');
  await noError(page);
  await page.close();
});

await test('stepper on WebGPU: the same gradients as the native CPU engine', async () => {
  const page = await openStepper('preset=xor-2-2-1&backend=webgpu');
  const backend = await text(page, 'backend');
  // Comparing on the CPU instead would prove nothing about WebGPU: this browser has it (SwiftShader).
  assert(backend === 'webgpu', `this test needs WebGPU in the browser; the page runs on ${backend}`);
  await page.keyboard.press('End');
  const n = await compareGradients(page, nativeStep('xor-2-2-1'), `xor on ${backend}`);
  await page.screenshot({ path: path.join(out, `stepper-xor-${backend}.png`), fullPage: true });
  console.log(`     ${n} gradients on ${backend} equal the native CPU values within 1e-5`);
  await noError(page);
  await page.close();
});

await playgroundTests({ test, browser, url, out });
await digitsTests({ test, browser, url, out, dist });
await ganTests({ test, browser, url, out, cli: path.join(root, 'target/release/gradlab') });
await faultTests({ test, browser, url, out, cli: path.join(root, 'target/release/gradlab') });
await tabularTests({ test, browser, url, out, cli: path.join(root, 'target/release/gradlab'), root });

await browser.close();
close();
const failed = results.filter((r) => !r[1]).length;
console.log(`${results.length - failed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);

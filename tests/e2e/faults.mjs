// Faults in, nothing lost: each test provokes a fault as a user (or a failing GPU) would and
// checks that the work survives — a real GPU device loss (the app's own GPUDevice destroyed
// through an init-script hook, no special build), a loss before the first readout, a layer
// change before a download, a run that diverges, a link read while playing, a link pasted into
// an open page, a hand switch of backend while playing, and four minutes of soak.
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { open, text, assert, stepCount, lossValue, noError, noPanic, value, download, safetensorsHeader, gpuHook } from './lib.mjs';
import { soak } from './soak.mjs';

/** The link in the address bar without its `steps` (which moves while playing). */
const settingsOf = (hash) => hash.replace(/^#/, '').split('&').filter((kv) => !kv.startsWith('steps=')).join('&');
const hashOf = (page) => page.evaluate(() => location.hash);
const playing = (page) => page.locator('[data-testid="pause"]').isEnabled();

/** From now on, records every [step, test loss] the page shows, in `window.__seen`. */
function watchSteps(page) {
  return page.evaluate(() => {
    window.__seen = [];
    const record = () => window.__seen.push([
      Number(document.querySelector('[data-testid="step-count"]').textContent),
      Number(document.querySelector('[data-testid="loss-test"]').dataset.value),
    ]);
    new MutationObserver(record).observe(document.querySelector('[data-testid="step-count"]'), { subtree: true, characterData: true, childList: true });
    new MutationObserver(record).observe(document.querySelector('[data-testid="loss-test"]'), { attributes: true });
  });
}

/** Waits until the step counter passes `n`. */
async function stepsPast(page, n, timeout = 120_000) {
  await page.waitForFunction((n) => Number(document.querySelector('[data-testid="step-count"]').textContent) > n, n, { timeout });
  return stepCount(page);
}

export async function faultTests({ test, browser, url, out, cli }) {
  await test('GPU device lost mid-training: notice, cpu, steps keep rising, same settings, loss goes on', async () => {
    const page = await open(browser, url, 'backend=webgpu&opt=adam&lr=0.03&seed=3', undefined, gpuHook());
    if ((await text(page, 'backend')) !== 'webgpu') throw new Error('this test needs WebGPU (SwiftShader) in the browser');
    assert((await page.evaluate(() => window.__gpuDevices.length)) >= 1, 'the hook saw the app create its GPU device');
    const initial = Number(await lossValue(page, 'loss-test'));
    await page.click('[data-testid="play"]');
    await stepsPast(page, 60, 300_000);
    await page.waitForTimeout(1500); // a readout or two after that
    const before = { loss: Number(await lossValue(page, 'loss-test')), step: await stepCount(page), settings: settingsOf(await hashOf(page)) };
    assert(before.loss < initial, `trained: ${before.loss} < ${initial}`);
    await watchSteps(page);
    // What the page shows at the moment the device is destroyed, and where the record stands.
    const mark = await page.evaluate(() => {
      const shown = { n: window.__seen.length, step: Number(document.querySelector('[data-testid="step-count"]').textContent),
        loss: Number(document.querySelector('[data-testid="loss-test"]').dataset.value) };
      window.__gpuDevices.forEach((d) => d.destroy());
      return shown;
    });
    await page.waitForFunction(() => document.querySelector('[data-testid="app-error"]')?.textContent.includes('GPU stopped working'), null, { timeout: 60_000 });
    await page.waitForFunction(() => document.querySelector('[data-testid="backend"]').textContent === 'cpu', null, { timeout: 30_000 });
    const error = await text(page, 'app-error');
    const resumed = await stepCount(page);
    const later = await stepsPast(page, resumed + 50, 60_000);
    assert(await playing(page), 'still playing after the loss');
    const after = { loss: Number(await lossValue(page, 'loss-test')), settings: settingsOf(await hashOf(page)) };
    const seen = (await page.evaluate(() => window.__seen)).slice(mark.n);
    const firstOnCpu = seen[0];
    console.log(`     on webgpu: test loss ${initial} at step 0 → ${mark.loss} at step ${mark.step}; device destroyed; first shown on cpu: ` +
      `step ${firstOnCpu[0]}, loss ${firstOnCpu[1]}; later step ${later}, loss ${after.loss}. "${error}"`);
    // Never back to a fresh start: every step shown after the loss is at or past the one shown
    // when it happened, and the first loss on the CPU is (within a frame of training) that of the
    // last weights read from the GPU.
    assert(seen.every(([step]) => step >= mark.step), `steps shown after the loss: ${seen.map((x) => x[0]).join(',')}`);
    assert(Math.abs(firstOnCpu[1] - mark.loss) <= 0.1 * mark.loss, `first loss on the CPU ${firstOnCpu[1]} vs ${mark.loss} when lost`);
    assert(after.loss < initial, `the loss went on: ${after.loss} < ${initial}`);
    assert(after.settings === before.settings, `settings kept:\n${before.settings}\n${after.settings}`);
    const option = page.locator('[data-testid="backend-select"] option[value="webgpu"]');
    assert(await option.isDisabled(), 'WebGPU is no longer offered');
    noPanic(page);
    await page.screenshot({ path: path.join(out, 'gpu-lost.png') });
    await page.click('[data-testid="pause"]');
    await page.close();
  });

  await test('GPU lost before the first readout: no panic; the seed\'s initial weights go on on the CPU', async () => {
    const hash = 'backend=webgpu&dataset=xor&layers=5,3&seed=11';
    const page = await open(browser, url, hash, undefined, gpuHook(true));
    await page.waitForFunction(() => document.querySelector('[data-testid="backend"]').textContent === 'cpu', null, { timeout: 60_000 });
    await page.waitForSelector('[data-testid="app-error"]');
    const error = await text(page, 'app-error');
    assert(/GPU|WebGPU/.test(error), `says what happened: ${error}`);
    // The same seed's initial weights: the same loss as a page that started on the CPU.
    await page.waitForFunction(() => Number(document.querySelector('[data-testid="loss-test"]')?.dataset.value) > 0);
    const cpuPage = await open(browser, url, hash.replace('backend=webgpu', 'backend=cpu'));
    const want = await lossValue(cpuPage, 'loss-test');
    await cpuPage.close();
    assert((await lossValue(page, 'loss-test')) === want, `initial loss ${await lossValue(page, 'loss-test')} vs ${want} on a CPU page`);
    assert((await stepCount(page)) === 0, 'at step 0');
    await page.click('[data-testid="step"]');
    await page.waitForFunction(() => document.querySelector('[data-testid="step-count"]').textContent === '1');
    noPanic(page);
    await page.screenshot({ path: path.join(out, 'gpu-lost-at-start.png') });
    await page.close();
  });

  await test('weights ⬇ right after a layer change: the new network\'s file, no panic', async () => {
    // On WebGPU a readback takes a while, so the download comes before the new network's first
    // readout: the page must not pair the old network's values with the new one's names.
    const page = await open(browser, url, 'backend=webgpu&layers=4,2&seed=2');
    await page.click('[data-testid="play"]');
    await page.waitForTimeout(700);
    await page.evaluate(() => {
      document.querySelector('[data-testid="layer-add"]').click();
      document.querySelector('[data-testid="download-weights"]').click();
    });
    const file = await download(page, 'download-weights');
    const header = safetensorsHeader(file);
    const names = Object.keys(header).filter((k) => k !== '__metadata__').sort();
    assert(names.join() === 'l1.b,l1.w,l2.b,l2.w,l3.b,l3.w,l4.b,l4.w', `the new network's tensors: ${names}`);
    assert(header['l3.w'].shape.join() === '2,2' && header['l4.w'].shape.join() === '2,1', JSON.stringify(header));
    assert(header.__metadata__.gradlab.includes('layers=4,2,2'), header.__metadata__.gradlab);
    noPanic(page);
    await noError(page);
    await page.close();
  });

  await test('the address bar holds the steps while playing; that link replays to the same loss', async () => {
    const page = await open(browser, url, 'backend=cpu&dataset=spiral&layers=6&seed=5');
    await page.click('[data-testid="play"]');
    await page.waitForTimeout(3500);
    const hash = await hashOf(page);
    assert(await playing(page), 'read while playing');
    const steps = Number(/steps=(\d+)/.exec(hash)[1]);
    const now = await stepCount(page);
    assert(steps > 0 && steps <= now, `the link says ${steps} steps; the page is at ${now}`);
    await page.click('[data-testid="pause"]');
    await page.close();
    const again = await open(browser, url, hash.slice(1));
    await again.waitForFunction((n) => Number(document.querySelector('[data-testid="step-count"]').textContent) === n, steps, { timeout: 60_000 });
    const replayed = await lossValue(again, 'loss-test');
    const native = execFileSync(cli, ['train', '--dataset', 'spiral', '--layers', '6', '--seed', '5', '--steps', String(steps), '--eval-every', String(steps), '--json'],
      { encoding: 'utf8' }).trim().split('\n').map((l) => JSON.parse(l)).at(-1);
    console.log(`     link read while playing: ${steps} steps (page at ${now}); replayed test loss ${replayed}, CLI ${native.test_loss}`);
    assert(Math.abs(Number(replayed) - native.test_loss) <= 1e-6 * Math.abs(native.test_loss), `replayed ${replayed} vs CLI ${native.test_loss}`);
    await noError(again);
    await again.close();
  });

  await test('a diverging run stops with a message, keeps the last finite weights, and reset works', async () => {
    const page = await open(browser, url, 'backend=cpu&dataset=plane&lr=10&opt=sgd&seed=1');
    await page.click('[data-testid="play"]');
    await page.waitForFunction(() => document.querySelector('[data-testid="app-error"]')?.textContent.includes('diverged'), null, { timeout: 60_000 });
    const error = await text(page, 'app-error');
    assert(!(await playing(page)), 'stopped');
    assert(/learning rate/.test(error) && /reset/.test(error), `says what to do: ${error}`);
    const step = await stepCount(page);
    await page.waitForTimeout(500);
    assert((await stepCount(page)) === step, 'no more steps');
    for (const id of ['loss-test', 'loss-train']) {
      const v = Number(await lossValue(page, id));
      assert(Number.isFinite(v), `${id} shows a finite value: ${v}`);
    }
    // NaN appears nowhere on the page except in the message that says so.
    const shown = await page.evaluate(() => {
      const banner = document.querySelector('[data-testid="app-error"]');
      const clone = document.body.cloneNode(true);
      clone.querySelector('[data-testid="app-error"]')?.remove();
      return { text: clone.innerText, edges: [...document.querySelectorAll('svg [stroke]')].map((e) => e.getAttribute('stroke')).join(' '), banner: banner.textContent };
    });
    assert(!/NaN|Infinity/.test(shown.text) && !/NaN/.test(shown.edges), 'no NaN drawn or written');
    assert(/steps=(\d+)/.exec(await hashOf(page))[1] === String(step), 'the link holds the step of the kept weights');
    await page.screenshot({ path: path.join(out, 'diverged.png') });
    console.log(`     diverged, kept step ${step}: "${error}"`);
    // As the message says: a lower learning rate goes on from the kept weights.
    await page.selectOption('[data-testid="lr"]', '0.01');
    assert((await stepCount(page)) === step, 'the step count is kept');
    await page.click('[data-testid="play"]');
    await stepsPast(page, step + 20, 30_000);
    await page.click('[data-testid="pause"]');
    assert(Number.isFinite(Number(await lossValue(page, 'loss-test'))), 'finite again');
    assert((await hashOf(page)).includes(`changes=${step}_lr_0.01`), 'the link records the change');
    await page.click('[data-testid="reset"]');
    await page.waitForFunction(() => document.querySelector('[data-testid="step-count"]').textContent === '0');
    assert(Number.isFinite(Number(await lossValue(page, 'loss-test'))), 'a fresh, finite start');
    await noError(page);
    await page.close();
  });

  await test('a link pasted into an open page (hashchange) is applied, and replays like a fresh page', async () => {
    const page = await open(browser, url, 'backend=cpu');
    const link = 'v=1&dataset=xor&layers=3&act=relu&seed=5&steps=20&backend=cpu';
    await page.evaluate((h) => { location.hash = h; }, link);
    await page.waitForFunction(() => document.querySelector('[data-testid="step-count"]').textContent === '20', null, { timeout: 30_000 });
    assert((await value(page, 'dataset')) === 'xor', 'dataset from the pasted link');
    const fresh = await open(browser, url, link);
    await fresh.waitForFunction(() => document.querySelector('[data-testid="step-count"]').textContent === '20');
    assert((await lossValue(page, 'loss-test')) === (await lossValue(fresh, 'loss-test')), 'the same loss as a fresh page');
    await noError(page);
    await fresh.close();
    await page.close();
  });

  await test('switching backend by hand while playing (cpu → webgpu → cpu) keeps the weights and the steps', async () => {
    const page = await open(browser, url, 'backend=cpu&opt=adam&lr=0.03&seed=4');
    const initial = Number(await lossValue(page, 'loss-test'));
    await page.click('[data-testid="play"]');
    await stepsPast(page, 300);
    for (const to of ['webgpu', 'cpu']) {
      const before = { step: await stepCount(page), loss: Number(await lossValue(page, 'loss-test')) };
      await watchSteps(page);
      await page.selectOption('[data-testid="backend-select"]', to);
      await page.waitForFunction((to) => document.querySelector('[data-testid="backend"]').textContent === to, to, { timeout: 60_000 });
      // The move reads the weights back and builds the new device's pipelines; then play resumes.
      await page.waitForFunction(() => !document.querySelector('[data-testid="pause"]').disabled, null, { timeout: 120_000 });
      const resumed = await stepCount(page);
      const after = await stepsPast(page, resumed + 5, 120_000);
      const loss = Number(await lossValue(page, 'loss-test'));
      const seen = await page.evaluate(() => window.__seen);
      console.log(`     → ${to}: step ${before.step} → resumed at ${resumed} → ${after}, test loss ${before.loss} → ${loss}`);
      assert(seen.every(([step]) => step >= before.step), `steps shown: ${seen.map((x) => x[0]).join(',')}`);
      assert(after > before.step, 'the step count went on');
      assert(loss < 0.5 * initial, `the weights were kept, not reset: ${before.loss} → ${loss} (${initial} at step 0)`);
      assert(await playing(page), 'still playing');
    }
    await page.click('[data-testid="pause"]');
    await noError(page);
    await page.close();
  });

  await test('stepper: a stage past the end (from a link) shows the last stage, never an error', async () => {
    const page = await open(browser, url, 'preset=essay-sigmoid&stage=100000', { width: 1400, height: 1000 });
    await page.waitForFunction(() => Number(document.querySelector('[data-testid="stage-count"]')?.textContent) > 0, null, { timeout: 60_000 });
    const n = await text(page, 'stage-count');
    assert((await text(page, 'stage-index')) === n, `stage ${await text(page, 'stage-index')} of ${n}`);
    assert((await text(page, 'stage-name')).length > 0, 'the last stage is shown');
    await page.selectOption('[data-testid="step-source"]', 'essay-relu');
    await page.waitForFunction(() => document.querySelector('[data-testid="stage-index"]').textContent === '1');
    await page.keyboard.press('End');
    await page.selectOption('[data-testid="step-optimizer"]', 'adam');
    await page.waitForFunction(() => document.querySelector('[data-testid="step-taken"]')?.textContent.length > 0);
    noPanic(page);
    await page.close();
  });

  await test('soak, 4 minutes: playground and stepper; JS heap and wasm memory flat (< 5% growth after a 2-minute warm-up)', async () => {
    const r = await soak(browser, url, 4, () => {}, 120);
    console.log(`     ${r.samples.length} samples, ${r.last.step} steps, from t=${r.base.t} s (${r.base.cycles} cycles); JS heap ${r.base.js_heap} → ${r.last.js_heap} ` +
      `(${(100 * r.growth.js_heap).toFixed(2)}%), wasm ${r.base.wasm_memory} → ${r.last.wasm_memory} (${(100 * r.growth.wasm_memory).toFixed(2)}%)`);
    assert(r.base.wasm_memory > 0, 'the wasm memory was read');
    assert(r.errors === 0, 'no error banner');
    assert(r.growth.js_heap < 0.05, `JS heap grew ${(100 * r.growth.js_heap).toFixed(2)}%`);
    assert(r.growth.wasm_memory < 0.05, `wasm memory grew ${(100 * r.growth.wasm_memory).toFixed(2)}%`);
  });
}

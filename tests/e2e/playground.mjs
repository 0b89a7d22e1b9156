// The playground's first ten minutes: the largest network plays smoothly, the diagram fits its
// panel, the pointer over a neuron shows its map large with its bias, an edge's tooltip gives its
// exact weight, "discretize" shows the decision only. Timings here are regression floors, far
// below what bench-nets.mjs measures; the speed itself is measured there.
import path from 'node:path';
import { open, killableWorker, openPlaygroundStepper, text, assert, stepCount, noError, value, lossValue } from './lib.mjs';

const ALL = 'features=x1,x2,x1sq,x2sq,x1x2,sinx1,sinx2';
export const BIGGEST = `${ALL}&layers=16,16,16,16,16,16&dataset=spiral3&opt=adam&lr=0.003&backend=cpu`;

/** Frames the play loop has drawn (the page's data-frames counter). */
const frames = async (page) => Number(await page.locator('.counters').getAttribute('data-frames'));

/** A canvas's pixels (the output heatmap by default), as a compact string (to compare two moments). */
const heatmap = (page, id = 'heatmap') => page.evaluate((id) => {
  const c = document.getElementById(id);
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let s = '';
  for (let i = 0; i < d.length; i += 4) s += `${d[i]},${d[i + 1]},${d[i + 2]};`;
  return s;
}, id);

export async function playgroundTests({ test, browser, url, out }) {
  await test('6 × 16, all features, 3 classes: steps and frames both advance while playing; the diagram fits its panel', async () => {
    const page = await open(browser, url, BIGGEST);
    const fit = await page.evaluate(() => { const e = document.querySelector('.network-scroll'); return [e.scrollWidth, e.clientWidth]; });
    assert(fit[0] <= fit[1] + 1, `the 6-layer diagram fits its panel at 1280 px without scrolling sideways: ${fit[0]} > ${fit[1]}`);
    const before = await heatmap(page, 'edges');
    const [s0, f0] = [await stepCount(page), await frames(page)];
    await page.click('[data-testid="play"]');
    await page.waitForTimeout(3000);
    const [s1, f1] = [await stepCount(page), await frames(page)];
    await page.screenshot({ path: path.join(out, 'playing-6x16.png') });
    await page.click('[data-testid="pause"]');
    const where = await page.locator('.counters').getAttribute('data-where');
    console.log(`     3 s of 6 × 16: ${s1 - s0} steps, ${f1 - f0} frames; steps in the ${where}`);
    assert(where === 'worker', `the CPU path's steps run in the page's worker: ${where}`);
    assert(s1 - s0 >= 100, `at least 100 steps in 3 s, got ${s1 - s0}`);
    assert(f1 - f0 >= 10, `at least 10 frames in 3 s, got ${f1 - f0}`);
    assert((await heatmap(page, 'edges')) !== before, 'the edges follow their weights while playing');
    await noError(page);
    await page.setViewportSize({ width: 390, height: 844 });
    await page.click('[data-testid="play"]');
    await page.waitForTimeout(1500);
    await page.screenshot({ path: path.join(out, 'playing-6x16-phone.png') });
    await page.click('[data-testid="pause"]');
    await page.close();
  });

  await test('playing trains in the page\'s worker; a learning-rate change mid-play keeps the steps, and the link replays the same loss', async () => {
    const page = await open(browser, url, 'backend=cpu&dataset=spiral&layers=6,4&opt=adam&lr=0.01&dropout=0.1&seed=7');
    await page.click('[data-testid="play"]');
    await page.waitForFunction(() => document.querySelector('.counters').dataset.where === 'worker'
      && Number(document.querySelector('[data-testid="step-count"]').textContent) > 500, null, { timeout: 30_000 });
    // Pause and play in one task: the first play loop ends after the second has started its run
    // in the worker, and must not end that run.
    // (The play button is enabled once the page has re-rendered: a timer of 0 comes after that and,
    // mostly, before the next animation frame, which is when the first loop sees it is over.)
    await page.evaluate(() => new Promise((done) => {
      document.querySelector('[data-testid="pause"]').click();
      setTimeout(() => { document.querySelector('[data-testid="play"]').click(); done(); }, 0);
    }));
    assert(await page.locator('[data-testid="play"]').isDisabled(), 'playing again');
    const resumed = await stepCount(page);
    await page.waitForTimeout(1000);
    assert(await stepCount(page) > resumed + 100, `training goes on after pause and play at once: ${resumed} → ${await stepCount(page)}`);
    // Changed while the worker trains a slice: that slice started before the change, so the page
    // drops it; the change is recorded at the page's step and training goes on from there.
    await page.selectOption('[data-testid="lr"]', '0.003');
    const changed = await stepCount(page);
    await page.waitForTimeout(1000);
    assert(await stepCount(page) > changed, 'training goes on after the change');
    await page.click('[data-testid="pause"]');
    await page.waitForTimeout(300);
    const hash = await page.evaluate(() => location.hash);
    const steps = Number(/steps=(\d+)/.exec(hash)?.[1]);
    const at = Number(/changes=(\d+)_lr_0\.003/.exec(hash)?.[1]);
    assert(steps === await stepCount(page) && at > 0 && at < steps, `one change inside the run: ${hash}`);
    const loss = await lossValue(page, 'loss-train');
    await page.close();
    const again = await open(browser, url, hash.slice(1));
    await again.waitForFunction((n) => Number(document.querySelector('[data-testid="step-count"]').textContent) === n, steps, { timeout: 60_000 });
    const replayed = await lossValue(again, 'loss-train');
    console.log(`     ${steps} steps in the worker, lr changed at step ${at}: loss ${loss}; the link replayed on the page: ${replayed}`);
    assert(replayed === loss, `replayed ${replayed} vs ${loss}`);
    await noError(again);
    await again.close();
  });

  await test('the worker fails mid-play: training goes on on the page from where it was, and the link replays the same loss', async () => {
    // The page's Worker, wrapped so the test can end it as a crash would (lib.mjs's killableWorker).
    const page = await open(browser, url, 'backend=cpu&dataset=xor&layers=5,3&opt=momentum&lr=0.03&seed=11', undefined, killableWorker());
    const warnings = [];
    page.on('console', (m) => { if (m.type() === 'warning') warnings.push(m.text()); });
    await page.click('[data-testid="play"]');
    await page.waitForFunction(() => document.querySelector('.counters').dataset.where === 'worker', null, { timeout: 30_000 });
    // The page trains no step of its own while the worker does: steps from here are the worker's.
    const handed = await stepCount(page);
    await page.waitForFunction((n) => Number(document.querySelector('[data-testid="step-count"]').textContent) > n + 500, handed, { timeout: 30_000 });
    await page.evaluate(() => window.__killWorker());
    const killed = await stepCount(page);
    await page.waitForFunction(() => document.querySelector('.counters').dataset.where === 'page', null, { timeout: 10_000 });
    await page.waitForTimeout(1000);
    const later = await stepCount(page);
    assert(later > killed + 100, `training goes on on the page after the worker died: ${killed} → ${later}`);
    assert(warnings.some((w) => /moves back to the page: .*killed by the test/.test(w)), `the console says why: ${warnings.join(' | ')}`);
    await noError(page);
    await page.click('[data-testid="pause"]');
    await page.waitForTimeout(300);
    const hash = await page.evaluate(() => location.hash);
    const steps = Number(/steps=(\d+)/.exec(hash)?.[1]);
    assert(steps === await stepCount(page), `the link holds the steps shown: ${hash}`);
    const loss = await lossValue(page, 'loss-train');
    // Played again: the page trains (the worker is given up for this page's life).
    await page.click('[data-testid="play"]');
    await page.waitForTimeout(500);
    assert(await page.locator('.counters').getAttribute('data-where') === 'page' && await stepCount(page) > steps, 'played again, the page trains');
    await page.click('[data-testid="pause"]');
    await page.close();
    const again = await open(browser, url, hash.slice(1));
    await again.waitForFunction((n) => Number(document.querySelector('[data-testid="step-count"]').textContent) === n, steps, { timeout: 60_000 });
    const replayed = await lossValue(again, 'loss-train');
    console.log(`     the worker took over at step ${handed}, was killed at step ≈ ${killed}, ${steps} steps in all: loss ${loss}; the link replayed: ${replayed}`);
    assert(replayed === loss, `replayed ${replayed} vs ${loss}`);
    await noError(again);
    await again.close();
  });

  await test('the pointer over a neuron shows its map large with its bias; an edge tooltip gives the exact weight; discretize', async () => {
    const page = await open(browser, url, `${ALL}&layers=8,8&dataset=spiral3&opt=adam&lr=0.01&steps=300&backend=cpu`);
    await page.waitForFunction(() => Number(document.querySelector('[data-testid="step-count"]').textContent) >= 300, null, { timeout: 60_000 });
    const prediction = await heatmap(page);
    assert(/prediction/.test(await text(page, 'map-caption')), 'the caption names the prediction');
    await page.hover('[data-testid="neuron-2-3"]');
    const caption = await text(page, 'map-caption');
    const bias = Number(/bias (-?[\d.]+)/.exec(caption)?.[1]);
    assert(/^layer 2, neuron 4: its output over the plane · bias -?\d/.test(caption) && Number.isFinite(bias), `caption: ${caption}`);
    const title = await page.getAttribute('[data-testid="neuron-2-3"]', 'title');
    const exact = Number(/bias (-?[\d.e-]+)$/.exec(title)?.[1]);
    assert(Math.abs(exact - bias) < 1e-4, `the tooltip's bias (${title}) is the caption's (${bias})`);
    const neuron = await heatmap(page);
    assert(neuron !== prediction, 'the heatmap shows the neuron, not the prediction');
    await page.screenshot({ path: path.join(out, 'hover-neuron.png') });
    await page.hover('[data-testid="feature-sinx1"]');
    assert(/sin/.test(await text(page, 'map-caption')), 'a feature under the pointer is named');
    await page.mouse.move(5, 5);
    assert((await heatmap(page)) === prediction, 'the prediction is back when the pointer leaves');

    // An edge's tooltip: halfway between x1 and the first neuron lies the edge l1.w[0][0] (both on
    // the first row, so the curve is flat there).
    const from = await page.locator('[data-testid="feature-x1"]').boundingBox();
    const to = await page.locator('[data-testid="neuron-1-0"]').boundingBox();
    await page.mouse.move((from.x + from.width + to.x) / 2, from.y + from.height / 2);
    const tip = await page.getAttribute('#edges', 'title');
    assert(/^l1\.w\[0\]\[0\] = -?\d/.test(tip ?? ''), `edge tooltip: ${tip}`);

    // Discretize: every cell in one of the three class colours; off again: the same map as before.
    await page.click('[data-testid="discretize"]');
    const cells = new Set((await heatmap(page)).split(';').filter(Boolean));
    assert(cells.size <= 3, `discretized: ${cells.size} colours (${[...cells].slice(0, 5).join(' ')})`);
    await page.screenshot({ path: path.join(out, 'discretized.png') });
    await page.click('[data-testid="discretize"]');
    assert((await heatmap(page)) === prediction, 'continuous shading again');
    await noError(page);
    await page.close();
  });

  await test('stepper at 1280 px on the playground\'s 16,16 net: nothing runs over its panel; names, captions and the batch loss read plainly', async () => {
    const page = await openPlaygroundStepper(browser, url, 'layers=16,16&steps=20&backend=cpu', { width: 1280, height: 800 });
    const meta = await page.locator('.step-meta').textContent();
    assert(/the playground's step 21 · batch loss \d/.test(meta.replace(/\s+/g, ' ')), `step line: ${meta}`);
    const count = Number(await text(page, 'stage-count'));
    let matmul = false;
    for (let i = 1; i <= count; i++) {
      const name = await text(page, 'stage-name');
      assert(!/·l\d\.w|h\d·/.test(name), `no product-like node names: ${name}`);
      if (name === 'forward · matmul · a₂ = h₁·W₂') matmul = true;
      assert((await text(page, 'stage-caption')).length > 20, `a caption at ${name}`);
      assert(await page.locator('[data-testid="stage-rule"] math').count() === 1, `the generic rule in MathML at ${name}`);
      const fits = await page.evaluate(() => {
        const panel = document.querySelector('.stage-panel').getBoundingClientRect();
        const boxes = [...document.querySelectorAll('.stage-panel .mathml, .stage-panel .tensor-box, .stage-panel .drill')];
        const over = boxes.filter((b) => b.getBoundingClientRect().right > panel.right + 1).length;
        return { over, page: document.documentElement.scrollWidth <= document.documentElement.clientWidth };
      });
      assert(fits.over === 0 && fits.page, `at ${name}: ${fits.over} boxes run over the stage panel, page fits: ${fits.page}`);
      if (i === 4) await page.screenshot({ path: path.join(out, 'stepper-16x16-matmul.png'), fullPage: true });
      await page.keyboard.press('ArrowRight');
    }
    assert(matmul, 'the second layer\'s product reads a₂ = h₁·W₂');
    await noError(page);
    await page.close();
  });

  await test('stepper at phone width (390 px): the page does not scroll sideways, formulas and tables scroll in their boxes, the essay preset\'s errata read in one column', async () => {
    let page = await openPlaygroundStepper(browser, url, 'layers=8,8&steps=5&backend=cpu', { width: 390, height: 844 });
    const fits = async (where) => {
      const f = await page.evaluate(() => {
        const panel = document.querySelector('.stage-panel').getBoundingClientRect();
        const boxes = [...document.querySelectorAll('.stage-panel .mathml, .stage-panel .tensor-box, .stage-panel .drill')];
        return { over: boxes.filter((b) => b.getBoundingClientRect().right > panel.right + 1).length, width: document.documentElement.scrollWidth };
      });
      assert(f.over === 0 && f.width <= 391, `${where}: ${f.over} boxes run over the stage panel; page ${f.width} px wide`);
    };
    await fits('first stage');
    for (let i = 0; i < 3; i++) await page.keyboard.press('ArrowRight');
    await fits('fourth stage');
    await page.screenshot({ path: path.join(out, 'stepper-phone.png'), fullPage: true });
    // An essay preset: its errata are a full-width panel below the step, each item in one column here.
    await noError(page);
    await page.close();
    page = await open(browser, url, 'page=step&preset=essay-relu&backend=cpu', { width: 390, height: 844 });
    await page.waitForFunction(() => Number(document.querySelector('[data-testid="stage-count"]')?.textContent) > 0, null, { timeout: 60_000 });
    const errata = await page.evaluate(() => {
      const e = document.querySelector('[data-testid="errata"]');
      if (!e) return null;
      const main = document.querySelector('main.step-main').getBoundingClientRect();
      const box = e.getBoundingClientRect();
      return { items: e.querySelectorAll('li').length, below: box.top >= main.bottom - 1, width: Math.round(box.width), page: document.documentElement.scrollWidth };
    });
    assert(errata && errata.items >= 1 && errata.below && errata.width >= 330 && errata.page <= 391, `errata: ${JSON.stringify(errata)}`);
    await page.locator('[data-testid="errata"]').scrollIntoViewIfNeeded();
    await page.screenshot({ path: path.join(out, 'stepper-errata-phone.png') });
    await noError(page);
    await page.close();
  });
  await test('playground search: a grid over the learning rate on validation points, its table, plot and link; the best applied keeps training', async () => {
    const page = await open(browser, url, 'backend=cpu&steps=20&search=grid,3,30,lr=0.00001|0.3|10');
    await page.locator('[data-testid="play-search"]').scrollIntoViewIfNeeded();
    // A width outside the playground's limits is refused with its range, and the link keeps the search.
    await page.check('[data-testid="play-search-on-width"]');
    await page.fill('[data-testid="play-search-width"]', '32');
    await page.press('[data-testid="play-search-width"]', 'Tab');
    assert(/outside 1 to 16/.test(await text(page, 'play-search-error')), 'a width of 32 is refused with the range');
    await page.uncheck('[data-testid="play-search-on-width"]');
    await page.waitForFunction(() => !document.querySelector('[data-testid="play-search-error"]'));
    const s0 = Date.now();
    await page.click('[data-testid="play-search-run"]');
    await page.waitForFunction(() => /^done: 3 trials/.test(document.querySelector('[data-testid="play-search-status"]')?.textContent || ''), null, { timeout: 120_000 });
    const trials = await page.locator('[data-testid="play-search-table"] tr[data-trial]').evaluateAll((rows) => rows.map((r) => [Number(r.dataset.trial), Number(r.dataset.loss)]));
    console.log(`     3-trial search in ${((Date.now() - s0) / 1000).toFixed(1)} s: validation losses ${trials.map(([n, l]) => `${n}: ${l.toFixed(4)}`).join(', ')}`);
    const loss = Object.fromEntries(trials);
    assert(trials.length === 3 && loss[2] < 0.6 * loss[1] && loss[2] < loss[3], `lr 0.3 trains best: ${JSON.stringify(trials)}`);
    const best = await page.locator('[data-testid="play-search-table"] tr.best').getAttribute('data-trial');
    assert(best === '2', `the best row is trial 2, not ${best}`);
    assert(/200 training points, scored on 50 validation points carved from the training split/.test(await page.locator('.play-search .hint').first().textContent()), 'scored on validation points');
    assert(await page.locator('[data-testid="play-search-plot"] circle').count() === 3, 'a dot a trial');
    const hash = () => page.evaluate(() => decodeURIComponent(location.hash));
    assert((await hash()).includes('&search=grid,3,30,lr=0.00001|0.3|10'), `the search is in the link: ${await hash()}`);
    await page.locator('[data-testid="play-search"]').screenshot({ path: path.join(out, 'play-search.png') });
    const before = await stepCount(page);
    await page.click('[data-testid="play-search-apply"]');
    // A live change: the link keeps the settings training started with and records the change.
    await page.waitForFunction((n) => decodeURIComponent(location.hash).includes(`changes=${n}_lr_0.3`), before, { timeout: 5000 });
    assert(Number(await value(page, 'lr')) === 0.3, `the learning rate shown is ${await value(page, 'lr')}`);
    assert((await stepCount(page)) === before, 'a new learning rate keeps the weights and the step count');
    await noError(page);
    await page.close();
    // Pressing play pauses a running search (they would share each frame); it resumes only when
    // training is paused.
    const long = await open(browser, url, 'backend=cpu&search=random,50,2000,lr=0.003..1');
    await long.click('[data-testid="play-search-run"]');
    await long.waitForFunction(() => /running/.test(document.querySelector('[data-testid="play-search-status"]')?.textContent || ''));
    await long.click('[data-testid="play"]');
    await long.waitForFunction(() => /^paused after/.test(document.querySelector('[data-testid="play-search-status"]')?.textContent || ''), null, { timeout: 10_000 });
    assert(await long.locator('[data-testid="play-search-run"]').isDisabled(), 'no resuming while training plays');
    await long.click('[data-testid="pause"]');
    await long.waitForFunction(() => !document.querySelector('[data-testid="play-search-run"]').disabled);
    await noError(long);
    await long.close();
  });
}

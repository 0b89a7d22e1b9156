// Browser tests of the GAN page: opened from the tabs it starts from the shipped gan-small weights
// (digits at once, measured by the shipped classifier), and gan-essay from its own (scored as the
// CLI scores them); step D / step G advance their own counters;
// a short deterministic run gives the CLI's losses; the essay's loop as printed runs, and its
// unrolled D step leaks gradients into G where the corrected one sends none; a link replays.
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { open, text, assert, noError, download, safetensorsHeader } from './lib.mjs';

const status = (page) => text(page, 'gan-status');
async function ready(page) {
  await page.waitForFunction(() => /^ready/.test(document.querySelector('[data-testid="gan-status"]')?.textContent || ''), null, { timeout: 180_000 });
}
/** Mean and spread of the grid canvas's grey levels (ink on black). */
const gridStats = (page, id = 'gan-grid') => page.evaluate((id) => {
  const c = document.getElementById(id);
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let s = 0, s2 = 0, n = 0;
  for (let i = 0; i < d.length; i += 4) { s += d[i]; s2 += d[i] * d[i]; n++; }
  const m = s / n;
  return { width: c.width, mean: m, std: Math.sqrt(s2 / n - m * m) };
}, id);
const num = async (page, id) => Number(await text(page, id));

export async function ganTests({ test, browser, url, out, cli }) {
  await test('GAN page: opened from the tabs, digits from the shipped gan-small weights at once; IS, classes, MSE and SSIM measured; step D / G advance their own counters', async () => {
    const page = await open(browser, url);
    await page.click('[data-testid="page-gan"]');
    const t0 = Date.now();
    await ready(page);
    const seconds = (Date.now() - t0) / 1000;
    assert(/shipped/.test(await status(page)), await status(page));
    await page.waitForFunction(() => document.getElementById('gan-grid').width > 200);
    const grid = await gridStats(page);
    console.log(`     samples after ${seconds.toFixed(1)} s (data and weights downloaded): grid ${grid.width} px, grey mean ${grid.mean.toFixed(1)}, spread ${grid.std.toFixed(1)}`);
    assert(grid.width === 8 * 29 + 1 && grid.std > 40, 'an 8 × 8 grid of digits with ink and background');
    await page.click('[data-testid="gan-measure"]');
    await page.waitForFunction(() => document.querySelector('[data-testid="gan-is"]').textContent !== '—', null, { timeout: 120_000 });
    const is = await num(page, 'gan-is');
    console.log(`     shipped gan-small in the page: IS ${is}, ${await text(page, 'gan-modes')}, MSE ${await text(page, 'gan-mse')}, SSIM ${await text(page, 'gan-ssim')}`);
    assert(is > 4 && /^10 of 10/.test(await text(page, 'gan-modes')), `IS ${is}`);
    await page.screenshot({ path: path.join(out, 'gan-shipped.png'), fullPage: true });
    const counters = async () => [await num(page, 'gan-d-steps'), await num(page, 'gan-g-steps')];
    assert(JSON.stringify(await counters()) === '[0,0]', 'no steps yet');
    await page.click('[data-testid="gan-step-d"]');
    await page.waitForFunction(() => document.querySelector('[data-testid="gan-d-steps"]').textContent === '1');
    assert(JSON.stringify(await counters()) === '[1,0]' && (await text(page, 'gan-g-loss')) === '—', 'D only');
    await page.click('[data-testid="gan-step-g"]');
    await page.waitForFunction(() => document.querySelector('[data-testid="gan-g-steps"]').textContent === '1');
    assert(JSON.stringify(await counters()) === '[1,1]', 'then G only');
    await page.click('[data-testid="gan-step-both"]');
    await page.waitForFunction(() => document.querySelector('[data-testid="gan-g-steps"]').textContent === '2');
    assert(JSON.stringify(await counters()) === '[2,2]', 'then both');
    assert(Number(await page.locator('[data-testid="gan-d-loss"]').getAttribute('data-value')) > 0, 'a D loss');
    await page.waitForFunction(() => /gan\.steps=d1\+g1\+1/.test(location.hash), null, { timeout: 5000 });
    // Weights by file: saved as a state dict with PyTorch's names; a broken file changes nothing;
    // the saved file loads back.
    const saved = await download(page, 'gan-export');
    const header = safetensorsHeader(saved);
    assert(JSON.stringify(header['g.fc1.weight'].shape) === '[256,64]' && header['d.fc2.bias'] && /gan\.steps/.test(header.__metadata__.gradlab), 'a state dict of both networks');
    const before = await page.locator('[data-testid="gan-d-loss"]').getAttribute('data-value');
    await page.setInputFiles('[data-testid="gan-import"]', { name: 'broken.safetensors', mimeType: 'application/octet-stream', buffer: Buffer.from('not weights') });
    await page.waitForFunction(() => /nothing changed/.test(document.querySelector('[data-testid="gan-note"]')?.textContent || ''));
    await page.setInputFiles('[data-testid="gan-import"]', { name: 'saved.safetensors', mimeType: 'application/octet-stream', buffer: saved });
    await page.waitForFunction(() => /^loaded saved\.safetensors/.test(document.querySelector('[data-testid="gan-note"]')?.textContent || ''));
    assert((await page.locator('[data-testid="gan-d-loss"]').getAttribute('data-value')) === before, 'loading shows the same state');
    console.log(`     saved weights: ${(saved.length / 1e6).toFixed(2)} MB; a broken file refused; the saved file loaded back`);
    await noError(page);
    await page.close();
  });

  await test('GAN page: five steps from the seed give the CLI\'s losses (to an f32 ulp or two: native gemm may fuse multiply-adds where wasm cannot); the link replays them', async () => {
    const hash = 'page=gan&gan.start=seed&gan.limit=1000&gan.steps=5';
    const page = await open(browser, url, hash);
    await ready(page);
    assert(Number(await num(page, 'gan-step')) === 5, 'the link\'s five steps replayed');
    // The page shows the last step's losses after the next one: take a sixth by hand, as the CLI does.
    await page.click('[data-testid="gan-step-both"]');
    await page.waitForFunction(() => document.querySelector('[data-testid="gan-step"]').textContent === '6');
    const pageD = await page.locator('[data-testid="gan-d-loss"]').getAttribute('data-value');
    const pageG = await page.locator('[data-testid="gan-g-loss"]').getAttribute('data-value');
    const lines = execFileSync(cli, ['train', '--preset', 'gan-small', '--start', 'seed', '--train-limit', '1000', '--steps', '6', '--eval-every', '6', '--json'], { encoding: 'utf8', cwd: path.resolve(path.dirname(cli), '../..') }).trim().split('\n').map((l) => JSON.parse(l));
    const last = lines[lines.length - 1];
    const same = String(last.d_loss) === pageD && String(last.g_loss) === pageG;
    console.log(`     step 6: page D ${pageD}, G ${pageG}; CLI D ${last.d_loss}, G ${last.g_loss} (${same ? 'bit for bit' : 'not bit for bit on this CPU'})`);
    // The big matmuls are burn's gemm: its native kernels use FMA where the CPU has it (wasm's SIMD
    // has none), so the last bits can differ by machine; the playground's own kernels do not.
    const close = (a, b) => Math.abs(a - b) <= 4e-7 * Math.max(Math.abs(a), Math.abs(b));
    assert(close(last.d_loss, Number(pageD)) && close(last.g_loss, Number(pageG)), 'page and CLI agree to an ulp or two');
    await noError(page);
    await page.close();
  });

  await test("GAN page: the essay's GAN from its shipped int8 weights: varied digits at once, scored as the CLI scores the same file; training goes on from them", async () => {
    const page = await open(browser, url, 'page=gan&gan.preset=gan-essay&gan.start=shipped');
    const t0 = Date.now();
    await ready(page);
    const seconds = (Date.now() - t0) / 1000;
    assert(/shipped/.test(await status(page)), await status(page));
    // The weights were trained with D's dropout at 0.3; the essay's settings (here) have none.
    assert(/trained with gan\.dropout=0\.3/.test(await text(page, 'gan-note')), await text(page, 'gan-note'));
    await page.click('[data-testid="gan-measure"]');
    await page.waitForFunction(() => document.querySelector('[data-testid="gan-is"]').textContent !== '—', null, { timeout: 180_000 });
    const is = await num(page, 'gan-is');
    const modes = await text(page, 'gan-modes');
    // The CLI scores the shipped file on the same z (seed 1, the page's grid) with the same classifier.
    const root = path.resolve(path.dirname(cli), '../..');
    const scored = JSON.parse(execFileSync(cli, ['generate', '--preset', 'gan-essay', '--n', '64', '--json'], { encoding: 'utf8', cwd: root }).trim());
    console.log(`     shipped gan-essay: ready in ${seconds.toFixed(1)} s; in the page IS ${is}, ${modes}, MSE ${await text(page, 'gan-mse')}, SSIM ${await text(page, 'gan-ssim')}; the CLI: IS ${scored.inception_score}, ${scored.modes} classes`);
    assert(Math.abs(is - scored.inception_score) < 0.01, `page IS ${is} vs CLI ${scored.inception_score}`);
    assert(is > 3.5 && Number(modes.split(' ')[0]) >= 8, `IS ${is}, ${modes}: varied digits, not one shape`);
    const grid = await gridStats(page);
    assert(grid.width === 8 * 29 + 1 && grid.std > 40, 'an 8 × 8 grid of digits with ink and background');
    await page.screenshot({ path: path.join(out, 'gan-essay-shipped.png'), fullPage: true });
    await page.click('[data-testid="gan-step-both"]');
    await page.waitForFunction(() => document.querySelector('[data-testid="gan-g-steps"]').textContent === '1', null, { timeout: 60_000 });
    const d = Number(await page.locator('[data-testid="gan-d-loss"]').getAttribute('data-value'));
    // A trained pair: D is not sure of either batch (a fresh D and G give ≈ 1.39 and D(G(z)) ≈ 0.5 too,
    // but the samples above are digits, which a fresh G does not draw).
    assert(Number.isFinite(d) && d > 0 && d < 3, `D loss ${d} after one step from the shipped weights`);
    await noError(page);
    await page.close();
  });

  await test("GAN page: the essay's loop as printed runs beside the corrected one; its unrolled D step leaks gradients into G, the corrected one's sends none", async () => {
    const page = await open(browser, url, 'page=gan&gan.start=seed&gan.limit=2000');
    await ready(page);
    await page.click('[data-testid="gan-unroll"]');
    await page.waitForSelector('[data-testid="gan-unroll-verdict"]');
    const corrected = await page.locator('[data-testid="gan-unroll-verdict"]').allTextContents();
    assert(/No gradient reaches the generator/.test(corrected[0]), corrected[0]);
    await page.click('[data-testid="gan-play"]');
    await page.waitForFunction(() => Number(document.querySelector('[data-testid="gan-step"]').textContent) >= 60, null, { timeout: 120_000 });
    // The live rate and its GFLOP/s (steps/s × batch × FLOPs per sample: both positive).
    const [rate, gflops] = [Number(await num(page, 'gan-steps-per-sec')), Number(await num(page, 'gan-gflops'))];
    assert(rate > 0 && gflops > 0, `steps/s ${rate}, GFLOP/s ${gflops}`);
    await page.click('[data-testid="gan-pause"]');
    await page.selectOption('[data-testid="gan-recipe"]', 'essay');
    await ready(page);
    assert((await num(page, 'gan-step')) === 0, 'a new recipe starts afresh');
    assert(await page.locator('[data-testid="gan-other"]').isVisible(), 'the corrected run\'s grid is kept beside');
    await page.click('[data-testid="gan-unroll"]');
    await page.waitForFunction(() => /got gradients/.test(document.querySelector('[data-testid="gan-unroll-verdict"]')?.textContent || ''));
    const essay = await page.locator('[data-testid="gan-unroll-verdict"]').allTextContents();
    console.log(`     corrected: ${corrected[0]} | essay: ${essay[0]} | ${essay[1]}`);
    assert(/MSE to the real batch/.test(essay[1]), essay[1]);
    await page.click('[data-testid="gan-play"]');
    await page.waitForFunction(() => Number(document.querySelector('[data-testid="gan-step"]').textContent) >= 60, null, { timeout: 120_000 });
    await page.click('[data-testid="gan-pause"]');
    await page.waitForTimeout(300);
    assert(/gan\.recipe=essay/.test(await page.evaluate(() => location.hash)), 'the link says which loop');
    await page.screenshot({ path: path.join(out, 'gan-essay-vs-corrected.png'), fullPage: true });
    await noError(page);
    await page.close();
  });
}

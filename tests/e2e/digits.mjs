// Browser tests of the MNIST page's data half: the bundles download with a progress bar, are
// checked against the published sums and kept in the Cache API (a reload reads them from there);
// bad files give a message and the app goes on; the draw pad makes a drawing into an MNIST digit.
import fs from 'node:fs';
import path from 'node:path';
import { open, text, assert, noError } from './lib.mjs';

/** The settled status line (after a download or a cache read, or a failure). */
async function settled(page) {
  await page.waitForFunction(() => /checked against|could not load/.test(document.querySelector('[data-testid="data-status"]')?.textContent || ''), null, { timeout: 180_000 });
  return text(page, 'data-status');
}

/** Ink pixels of a canvas (dark on white): [row, col] of each pixel darker than mid-grey. */
async function ink(page, id) {
  return page.evaluate((id) => {
    const c = document.getElementById(id);
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    const out = [];
    for (let i = 0; i < c.width * c.height; i++) if (d[4 * i] < 128 && d[4 * i + 3] > 0) out.push([Math.floor(i / c.width), i % c.width]);
    return out;
  }, id);
}

const pixels = (page, id) => page.evaluate((id) => { const c = document.getElementById(id); return Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data); }, id);

export async function digitsTests({ test, browser, url, out, dist }) {
  await test('MNIST page: the data downloads with progress, is checked, shows labelled digits and class counts; a reload reads it from the cache', async () => {
    const page = await open(browser, url, 'page=mnist');
    let status = await settled(page);
    console.log(`     ${status}`);
    assert(/^60,000 training and 10,000 test images, checked against the published checksums; downloaded/.test(status), status);
    assert(Number(await page.locator('[data-testid="data-progress"]').evaluate((p) => p.value)) === 1, 'the progress bar is full');
    // MNIST's test set begins 7 2 1 0 4; its training set has 5,923 zeros, its test set 980.
    const labels = await page.locator('[data-testid="digit-grid"] figcaption').allTextContents();
    assert(labels.length === 100 && labels.slice(0, 5).join('') === '72104', `labels ${labels.slice(0, 5)}`);
    const zero = await page.locator('[data-testid="class-counts"] tr').nth(1).locator('td').allTextContents();
    assert(zero.join(' ') === '0 5,923 980', `class 0 counts: ${zero}`);
    assert((await ink(page, 'digit-0')).length > 40, 'the first digit is drawn');
    // Augmentation: copies differ from the original and from each other; "again" draws anew.
    const [orig, a1, a2] = [await pixels(page, 'augment-0'), await pixels(page, 'augment-1'), await pixels(page, 'augment-2')];
    assert(orig.join() !== a1.join() && a1.join() !== a2.join(), 'augmented copies differ');
    await page.click('[data-testid="augment-again"]');
    assert((await pixels(page, 'augment-1')).join() !== a1.join(), '"again" draws new shifts and rotations');
    await page.screenshot({ path: path.join(out, 'mnist-data.png'), fullPage: true });
    await page.setViewportSize({ width: 390, height: 844 });
    await page.screenshot({ path: path.join(out, 'mnist-data-phone.png'), fullPage: true });
    await page.setViewportSize({ width: 1280, height: 800 });
    assert(new URL(page.url()).hash.includes('page=mnist'), 'the link names the page');
    await page.reload();
    await page.waitForSelector('body[data-ready="1"]');
    status = await settled(page);
    console.log(`     after a reload: ${status}`);
    assert(/read from this browser's cache/.test(status), `a reload reads the cache: ${status}`);
    // Fashion-MNIST: 6,000 of each class; its test set begins with an ankle boot.
    await page.selectOption('[data-testid="image-dataset"]', 'fashion');
    status = await settled(page);
    console.log(`     ${status}`);
    assert(/^60,000 training and 10,000 test images/.test(status), status);
    const boot = await page.locator('[data-testid="digit-grid"] figcaption').first().textContent();
    assert(boot === 'ankle boot', `first Fashion-MNIST test label: ${boot}`);
    const counts = await page.locator('[data-testid="class-counts"] tr').nth(3).locator('td').allTextContents();
    assert(counts.join('|') === 'pullover|6,000|1,000', `pullover counts: ${counts}`);
    await page.screenshot({ path: path.join(out, 'fashion-data.png'), fullPage: true });
    await noError(page);
    await page.close();
  });

  await test('MNIST page: a truncated, substituted or missing data file says what is wrong; the playground still works', async () => {
    const real = fs.readFileSync(path.join(dist, 'data/mnist.idx.gz'));
    const fashion = fs.readFileSync(path.join(dist, 'data/fashion.idx.gz'));
    const cases = [
      ['truncated', { body: real.subarray(0, 1 << 20) }, /not readable gzip|cut short/],
      ['substituted', { body: fashion }, /differ from the published dataset/],
      ['missing', { status: 404, body: 'not found' }, /the server answered 404/],
    ];
    for (const [what, reply, expected] of cases) {
      const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
      await page.route('**/data/mnist.idx.gz', (route) => route.fulfill({ contentType: 'application/octet-stream', ...reply }));
      await page.goto(`${url}#page=mnist`);
      await page.waitForSelector('body[data-ready="1"]');
      const status = await settled(page);
      console.log(`     ${what}: ${status}`);
      assert(expected.test(status), `${what}: ${status}`);
      assert(await page.locator('[data-testid="data-status"].error').count() === 1, `${what}: shown as an error`);
      if (what === 'truncated') {
        await page.screenshot({ path: path.join(out, 'mnist-truncated.png') });
        // "try again" fetches anew: with the real file this time.
        await page.unroute('**/data/mnist.idx.gz');
        await page.click('[data-testid="data-retry"]');
        const again = await settled(page);
        assert(/^60,000 training/.test(again), `try again: ${again}`);
      }
      await page.click('[data-testid="page-play"]');
      await page.click('[data-testid="step"]');
      await page.waitForFunction(() => document.querySelector('[data-testid="step-count"]').textContent === '1');
      await noError(page);
      await page.close();
    }
  });

  await test('draw pad: a stroke becomes a 28 × 28 digit fitted to 20 rows and centred by its mass; clear empties it', async () => {
    const page = await open(browser, url, 'page=mnist', { width: 1280, height: 900 });
    const pad = await page.locator('[data-testid="draw-pad"]').boundingBox();
    // A "7": a bar across the top, then a diagonal down to the left.
    await page.mouse.move(pad.x + 80, pad.y + 60);
    await page.mouse.down();
    for (const [x, y] of [[200, 60], [170, 140], [140, 230]]) await page.mouse.move(pad.x + x, pad.y + y, { steps: 12 });
    await page.mouse.up();
    const dots = await ink(page, 'draw-preview');
    assert(dots.length > 30, `the preview shows the stroke (${dots.length} ink pixels)`);
    const rows = dots.map((d) => d[0]);
    const height = Math.max(...rows) - Math.min(...rows) + 1;
    assert(height >= 17 && height <= 20, `fitted to 20 rows (dark pixels: the ends are grey): ${height}`);
    const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const [cy, cx] = [mean(rows), mean(dots.map((d) => d[1]))];
    assert(Math.abs(cy - 14) < 2 && Math.abs(cx - 14) < 2, `centred near (14, 14): (${cy.toFixed(1)}, ${cx.toFixed(1)})`);
    assert(/made like MNIST/.test(await text(page, 'draw-hint')), 'the hint says what the preview is');
    await page.screenshot({ path: path.join(out, 'draw-pad.png'), fullPage: true });
    await page.click('[data-testid="draw-clear"]');
    assert((await ink(page, 'draw-preview')).length === 0, 'clear empties the preview');
    await noError(page);
    await page.close();
  });
}

// Browser tests of the table page (#13): the Adult table loads, its columns are profiled, essay
// 003's network and the logistic baseline train in the tab and give the CLI's numbers exactly,
// with the per-group table; bad files (binary, ragged, too large) are refused with a message
// naming the problem and change nothing; a CSV chosen or dropped trains with its own columns.
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { open, text, assert, noError, download, safetensorsHeader } from './lib.mjs';

const ADULT = ['--positive', '>50K', '--sensitive', 'sex', '--products', 'age*hours_per_week'];

async function openTable(browser, url, hash = '', viewport) {
  const page = await open(browser, url, hash, viewport);
  if (!hash) await page.click('[data-testid="page-table"]');
  return page;
}
const readyToTrain = (page, timeout = 120_000) =>
  page.waitForFunction(() => /^ready to train/.test(document.querySelector('[data-testid="tab-status"]')?.textContent || ''), null, { timeout });
const trained = (page, timeout = 300_000) =>
  page.waitForFunction(() => document.querySelector('[data-testid="tab-status"]')?.textContent === 'done', null, { timeout });
const dataValue = async (page, id) => Number(await page.locator(`[data-testid="${id}"]`).getAttribute('data-value'));

/** A small two-class table with a group column (the same rows every run). */
function syntheticCsv(rows) {
  let s = 'score,hours,kind,group,outcome\n';
  let x = 7;
  const rand = () => { x = (x * 1103515245 + 12345) % 2147483648; return x / 2147483648; };
  for (let i = 0; i < rows; i++) {
    const a = rand() * 4 - 2, b = rand() * 40;
    const kind = ['north', 'south', 'east'][Math.floor(rand() * 3)];
    const group = rand() < 0.3 ? 'small' : 'large';
    const outcome = a + b / 40 + (rand() - 0.5) > 0.5 ? 'yes' : 'no';
    s += `${a.toFixed(3)},${b.toFixed(1)},${kind},${group},${outcome}\n`;
  }
  return s;
}

export async function tabularTests({ test, browser, url, out, cli, root }) {
  await test('table page: the Adult table loads and is profiled; essay 003\'s net and the logistic baseline train in the tab and equal the CLI; per-group table', async () => {
    const page = await openTable(browser, url);
    await readyToTrain(page);
    const columns = await page.locator('[data-testid="tab-columns"] tr[data-column]').count();
    assert(columns === 15, `15 columns, got ${columns}`);
    const role = (name) => page.locator(`tr[data-column="${name}"] [data-testid="tab-role"]`).inputValue();
    assert((await role('income_per_year')) === 'target' && (await role('sex')) === 'sensitive' && (await role('age')) === 'feature', 'Adult defaults');
    assert((await text(page, 'tab-train-rows')) === '36,177' && (await text(page, 'tab-test-rows')) === '9,045', `split ${await text(page, 'tab-split')}`);
    assert(/103 network inputs/.test(await text(page, 'tab-inputs')), await text(page, 'tab-inputs'));
    const t0 = Date.now();
    await page.click('[data-testid="tab-train"]');
    await trained(page);
    const seconds = (Date.now() - t0) / 1000;
    const rates = await text(page, 'tab-progress-text');
    assert(/[1-9][\d,]* steps\/s · \d+\.\d\d GFLOP\/s$/.test(rates) && !/ 0\.00 GFLOP/.test(rates), rates);
    const acc = await dataValue(page, 'tab-accuracy');
    const base = await dataValue(page, 'tab-base-accuracy');
    const groups = await page.locator('[data-testid="tab-fairness"] tr[data-group]').evaluateAll((rows) => rows.map((r) => [r.dataset.group, Number(r.dataset.accuracy)]));
    // The CLI with the page's compression and search defaults, for the panels below.
    const lines = execFileSync(cli, ['train', '--csv', path.join(root, 'target/data/adult.csv.gz'), ...ADULT, '--prune', '0.8', '--quantize', 'channel', '--search', 'default', '--json'], { encoding: 'utf8' }).trim().split('\n');
    const native = JSON.parse(lines[lines.length - 1]);
    console.log(`     Adult in the tab: network ${(100 * acc).toFixed(2)}%, logistic ${(100 * base).toFixed(2)}%, both trained in ${seconds.toFixed(1)} s; CLI ${(100 * native.test_accuracy).toFixed(2)}% / ${(100 * native.baseline.test_accuracy).toFixed(2)}%; groups ${JSON.stringify(groups)}`);
    assert(acc === native.test_accuracy && base === native.baseline.test_accuracy, 'the page\'s accuracies are the CLI\'s, exactly');
    assert(acc >= 0.84, `≥ 84%: ${acc}`);
    assert(JSON.stringify(groups.map((g) => g[0])) === '["Male","Female"]', 'groups of sex');
    groups.forEach(([g, a], i) => assert(a === native.groups[i].accuracy && g === native.groups[i].group, `group ${g}: page ${a}, CLI ${native.groups[i].accuracy}`));
    assert(Math.abs(await dataValue(page, 'tab-mean-group-accuracy') - native.mean_group_accuracy) < 1e-12, 'mean of per-group accuracies');
    // The link holds the experiment and opens the table page with it.
    const hash = await page.evaluate(() => location.hash);
    assert(/page=table/.test(hash) && /tab\.sensitive=sex/.test(hash) && /tab\.products=age\*hours_per_week|tab\.products=age%2Ahours_per_week/.test(hash), hash);

    // Compression: 80% pruned, 3 epochs of fine-tuning with the mask held, int8 per channel.
    const c0 = Date.now();
    await page.click('[data-testid="tab-compress"]');
    await page.waitForFunction(() => document.querySelector('[data-testid="tab-compressed-accuracy"]')?.dataset.value, null, { timeout: 300_000 });
    const compressed = await dataValue(page, 'tab-compressed-accuracy');
    const table = await text(page, 'tab-compress-table');
    console.log(`     compressed in ${((Date.now() - c0) / 1000).toFixed(1)} s: ${table.replace(/\s+/g, ' ')}`);
    assert(compressed >= 0.83, `80% sparse, fine-tuned, int8: ${compressed}`);
    assert(compressed === native.compressed.test_accuracy, `compressed: page ${compressed}, CLI ${native.compressed.test_accuracy}`);
    assert(/80% zero/.test(table), table);
    const int8 = safetensorsHeader(await download(page, 'tab-export-int8'));
    assert(int8['l1.w'].dtype === 'I8' && JSON.stringify(int8['l1.w'].shape) === '[103,128]' && JSON.stringify(int8['l1.w_scale'].shape) === '[128]' && int8['l2.b'].dtype === 'F32', JSON.stringify(int8));
    await page.screenshot({ path: path.join(out, 'table-adult.png'), fullPage: true });

    // Search: the default six random trials on the validation split, then the best applied.
    const s0 = Date.now();
    await page.click('[data-testid="tab-search-run"]');
    await page.waitForFunction(() => /^done: 6 trials/.test(document.querySelector('[data-testid="tab-search-status"]')?.textContent || ''), null, { timeout: 300_000 });
    const trials = await page.locator('[data-testid="tab-search-table"] tr[data-trial]').evaluateAll((rows) => rows.map((r) => Number(r.dataset.accuracy)));
    console.log(`     6-trial search in ${((Date.now() - s0) / 1000).toFixed(1)} s: validation accuracies ${trials.map((a) => (100 * a).toFixed(2)).join(', ')}`);
    assert(trials.length === 6 && Math.max(...trials) > 0.84, JSON.stringify(trials));
    assert(Math.max(...trials) === native.search.best.accuracy, `best trial: page ${Math.max(...trials)}, CLI ${native.search.best.accuracy}`);
    assert(/carved from the training split/.test(await page.locator('.tab-search .hint').first().textContent()), 'scored on the validation split');
    await page.locator('.tab-search').screenshot({ path: path.join(out, 'table-search.png') });
    await page.click('[data-testid="tab-search-apply"]');
    await page.waitForFunction(() => !/tab\.lr=0\.001&/.test(location.hash), null, { timeout: 5000 });
    assert(/tab\.search=random/.test(await page.evaluate(() => location.hash)), 'the search is in the link');
    assert((await text(page, 'tab-status')) === 'ready to train', 'applying the best settings asks for a new training run');
    await noError(page);
    await page.close();
  });

  await test('table page: bad files are refused with a message naming the problem and change nothing; a CSV chosen, then one dropped, trains with its own columns', async () => {
    const page = await openTable(browser, url);
    await readyToTrain(page);
    const before = await text(page, 'tab-summary');
    const choose = (name, content) => page.setInputFiles('[data-testid="tab-file"]', { name, mimeType: 'text/csv', buffer: Buffer.from(content) });
    await choose('image.csv', Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 0, 1, 2]));
    const noteSays = (re) => page.waitForFunction((src) => new RegExp(src).test(document.querySelector('[data-testid="tab-note"]')?.textContent || ''), re.source);
    await noteSays(/image\.csv: this is not/);
    assert(/not a CSV file: it holds binary data/.test(await text(page, 'tab-note')), await text(page, 'tab-note'));
    await choose('ragged.csv', 'a,b,c\n1,2,3\n4,5\n');
    await noteSays(/ragged\.csv: row/);
    assert(/row 3 has 2 cells; the header has 3/.test(await text(page, 'tab-note')), await text(page, 'tab-note'));
    // A table with one class only reads, but has nothing to predict: refused the same way.
    await choose('one-class.csv', 'x,y\n1,a\n2,a\n3,a\n');
    await noteSays(/one-class\.csv: the target/);
    assert(/the target 'y' has only one distinct value \('a'\); a target needs exactly two/.test(await text(page, 'tab-note')), await text(page, 'tab-note'));
    // Too large: refused by its size before it is read.
    await page.evaluate(() => {
      const input = document.querySelector('[data-testid="tab-file"]');
      const dt = new DataTransfer();
      const big = new File([new Uint8Array(8)], 'huge.csv', { type: 'text/csv' });
      Object.defineProperty(big, 'size', { value: 200e6 });
      dt.items.add(big);
      document.querySelector('[data-testid="tab-drop"]').dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
    });
    await page.waitForFunction(() => /MB/.test(document.querySelector('[data-testid="tab-note"]')?.textContent || ''));
    console.log(`     a 200 MB file: ${await text(page, 'tab-note')}`);
    assert((await text(page, 'tab-summary')) === before && /Adult/.test(await text(page, 'tab-source')), 'the Adult experiment is kept after bad files');
    // A good file: its last two-valued column is the target; the group column is chosen as sensitive.
    await choose('mine.csv', syntheticCsv(800));
    await page.waitForFunction(() => /mine\.csv/.test(document.querySelector('[data-testid="tab-source"]')?.textContent || ''));
    await readyToTrain(page);
    await page.locator('tr[data-column="group"] [data-testid="tab-role"]').selectOption('sensitive');
    await page.fill('[data-testid="tab-epochs"]', '5');
    await page.press('[data-testid="tab-epochs"]', 'Enter');
    await page.waitForFunction(() => /tab\.epochs=5/.test(location.hash));
    await page.click('[data-testid="tab-train"]');
    await trained(page, 120_000);
    const groups = await page.locator('[data-testid="tab-fairness"] tr[data-group]').evaluateAll((rows) => rows.map((r) => r.dataset.group));
    assert(JSON.stringify(groups) === '["large","small"]', JSON.stringify(groups));
    const acc = await dataValue(page, 'tab-accuracy');
    assert(acc > 0.7, `the synthetic signal is learnt: ${acc}`);
    await page.screenshot({ path: path.join(out, 'table-upload.png'), fullPage: true });
    // An id column of 10,000 categories cannot be one-hot: the file is read, the column left out
    // of the features, and the note names it.
    let ids = 'id,score,outcome\n';
    for (let i = 0; i < 10_000; i++) ids += `u${i},${(i % 17) / 17},${i % 3 ? 'no' : 'yes'}\n`;
    await choose('ids.csv', ids);
    await noteSays(/read ids\.csv/);
    assert(/left out of the features: 'id' has 10000 different values; one-hot encoding takes at most 500/.test(await text(page, 'tab-note')), await text(page, 'tab-note'));
    assert((await page.locator('tr[data-column="id"] [data-testid="tab-role"]').inputValue()) === 'ignored', 'the id column is ignored');
    // A 10 MB CSV: time from choosing it to its preparation shown.
    let big = 'a,b,c,kind,label\n';
    for (let i = 0; big.length < 10e6; i++) big += `${(i % 1000) / 7},${i % 13},${(i * 7919) % 10007},k${i % 9},${i % 4 ? 'n' : 'y'}\n`;
    const p0 = Date.now();
    await choose('ten-mb.csv', big);
    await page.waitForFunction(() => /ten-mb\.csv/.test(document.querySelector('[data-testid="tab-source"]')?.textContent || ''), null, { timeout: 60_000 });
    console.log(`     a ${(big.length / 1e6).toFixed(1)} MB CSV read, profiled and prepared in the page in ${((Date.now() - p0) / 1000).toFixed(2)} s (${await text(page, 'tab-note')})`);
    assert(/not in the link \(it is 10\.0 MB; a table in a link may unpack to 4 MB at most\)/.test(await text(page, "tab-note")), await text(page, "tab-note"));
    await page.waitForFunction(() => /&tab\.data=file&/.test(location.hash) && !/tab\.csv/.test(location.hash));
    // Dropped on the zone: read the same way.
    await page.evaluate((csv) => {
      const dt = new DataTransfer();
      dt.items.add(new File([csv], 'dropped.csv', { type: 'text/csv' }));
      document.querySelector('[data-testid="tab-drop"]').dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
    }, syntheticCsv(300));
    await page.waitForFunction(() => /dropped\.csv/.test(document.querySelector('[data-testid="tab-source"]')?.textContent || ''));
    assert(/300 rows/.test(await text(page, 'tab-summary')), await text(page, 'tab-summary'));
    await noError(page);
    await page.close();
  });

  await test('table page: a link made with a file of one\'s own asks for the file, then applies its settings to it', async () => {
    // (A link the page writes carries every tab.* key; this one names those that differ from Adult's.)
    const page = await openTable(browser, url, 'page=table&tab.data=file&tab.target=outcome&tab.positive=&tab.products=&tab.sensitive=group&tab.epochs=2');
    await page.waitForFunction(() => /made with a CSV file of your own/.test(document.querySelector('[data-testid="tab-status"]')?.textContent || ''));
    await page.setInputFiles('[data-testid="tab-file"]', { name: 'mine.csv', mimeType: 'text/csv', buffer: Buffer.from(syntheticCsv(400)) });
    await readyToTrain(page);
    const role = (name) => page.locator(`tr[data-column="${name}"] [data-testid="tab-role"]`).inputValue();
    assert((await role('outcome')) === 'target' && (await role('group')) === 'sensitive', 'the link\'s parts, on the file');
    assert((await page.locator('[data-testid="tab-epochs"]').inputValue()) === '2', 'the link\'s epochs');
    await noError(page);
    await page.close();
  });

  await test('table page: a small CSV rides in its link; the link opens the same table and trains to the same accuracy without the file', async () => {
    const page = await openTable(browser, url);
    await readyToTrain(page);
    await page.setInputFiles('[data-testid="tab-file"]', { name: 'mine.csv', mimeType: 'text/csv', buffer: Buffer.from(syntheticCsv(400)) });
    await page.waitForFunction(() => /mine\.csv/.test(document.querySelector('[data-testid="tab-source"]')?.textContent || ''));
    await readyToTrain(page);
    assert(/the link carries this table \(\d+\.\d kB\)/.test(await text(page, 'tab-note')), await text(page, 'tab-note'));
    await page.locator('tr[data-column="group"] [data-testid="tab-role"]').selectOption('sensitive');
    await page.fill('[data-testid="tab-epochs"]', '2');
    await page.press('[data-testid="tab-epochs"]', 'Enter');
    await page.waitForFunction(() => /tab\.epochs=2/.test(location.hash));
    const hash = await page.evaluate(() => location.hash);
    assert(/&tab\.data=link&/.test(hash) && /&tab\.csv=[A-Za-z0-9_-]{100,}/.test(hash), hash.slice(0, 300));
    // Its owner may keep the table out of the link (the link then asks for the file), and put it back.
    await page.uncheck('[data-testid="tab-in-link"]');
    await page.waitForFunction(() => /&tab\.data=file&/.test(location.hash) && !/tab\.csv/.test(location.hash));
    await page.check('[data-testid="tab-in-link"]');
    await page.waitForFunction((h) => location.hash === h, hash);
    console.log(`     a 400-row CSV (${syntheticCsv(400).length} bytes) makes a ${hash.length}-character link`);
    const summary = await text(page, 'tab-summary');
    await page.click('[data-testid="tab-train"]');
    await trained(page, 120_000);
    const acc = await dataValue(page, 'tab-accuracy');
    // Another tab opens the link: no file asked for; the same table, split and accuracy.
    const other = await open(browser, url, hash.slice(1));
    await readyToTrain(other);
    assert(/the link's table/.test(await text(other, 'tab-source')), await text(other, 'tab-source'));
    assert((await text(other, 'tab-summary')) === summary, `${await text(other, 'tab-summary')} vs ${summary}`);
    assert((await other.locator('tr[data-column="group"] [data-testid="tab-role"]').inputValue()) === 'sensitive', 'the link\'s roles');
    await other.click('[data-testid="tab-train"]');
    await trained(other, 120_000);
    const again = await dataValue(other, 'tab-accuracy');
    assert(again === acc, `the link trains to ${again}, the page that made it to ${acc}`);
    await other.screenshot({ path: path.join(out, 'table-from-link.png'), fullPage: true });
    // Another link pasted into the open page names another table: that one opens (Adult), and
    // pasting the first link again brings its table back.
    await other.evaluate(() => { location.hash = 'page=table&tab.data=adult'; });
    await other.waitForFunction(() => /Adult census/.test(document.querySelector('[data-testid="tab-source"]')?.textContent || ''));
    await readyToTrain(other);
    assert((await text(other, 'tab-train-rows')) === '36,177', `the Adult split: ${await text(other, 'tab-train-rows')}`);
    await other.evaluate((h) => { location.hash = h; }, hash);
    await other.waitForFunction(() => /the link's table/.test(document.querySelector('[data-testid="tab-source"]')?.textContent || ''));
    await readyToTrain(other);
    assert((await text(other, 'tab-summary')) === summary, `back to the link's table: ${await text(other, 'tab-summary')}`);
    await noError(other);
    await other.close();
    // A link cut short (as some chat apps do) says so and asks for the file.
    const cut = await open(browser, url, hash.slice(1).replace(/tab\.csv=([A-Za-z0-9_-]+)/, (_, v) => `tab.csv=${v.slice(0, -40)}`));
    await cut.waitForFunction(() => /made with a CSV file of your own/.test(document.querySelector('[data-testid="tab-status"]')?.textContent || ''));
    const banner = await text(cut, 'app-error');
    assert(/tab\.csv: the table is damaged: the link may have been cut short/.test(banner), banner);
    await cut.close();
    await page.close();
  });

  await test('table page on a phone (390 × 844): no sideways overflow; wide tables scroll inside their panel', async () => {
    const page = await openTable(browser, url, '', { width: 390, height: 844 });
    await readyToTrain(page);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    await page.screenshot({ path: path.join(out, 'table-phone.png'), fullPage: true });
    assert(overflow <= 0, `the page overflows by ${overflow} px`);
    await page.close();
  });
}

// Opens a report page in Debian's headless Chromium (driven by
// playwright-core, which downloads no browser of its own) and prints what
// tests/page.rs asserts, as JSON: console errors and page errors, every
// request besides the page itself, the charts, whether a phone-width
// viewport scrolls sideways, and the A4 print's page count. Saves a
// desktop and a phone screenshot.
//
//   node check_page.cjs <index.html> <desktop.png> <phone.png>
const fs = require('fs');
const os = require('os');
const path = require('path');
const { chromium } = require('playwright-core');

async function main() {
  const [file, desktopShot, phoneShot] = process.argv.slice(2);
  const url = 'file://' + path.resolve(file);
  // A fresh profile each time, and Chromium's own background traffic off:
  // the only requests left are the page's.
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'advocacy-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.ADVOCACY_CHROMIUM || '/usr/bin/chromium',
    headless: true,
    viewport: { width: 1200, height: 900 },
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
  });
  try {
    const page = await context.newPage();
    const consoleErrors = [];
    const requests = [];
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') consoleErrors.push(m.text());
    });
    page.on('pageerror', (e) => consoleErrors.push(String(e)));
    context.on('request', (r) => {
      if (r.url() !== url) requests.push(r.url());
    });
    await page.goto(url, { waitUntil: 'load' });
    const charts = await page.$$eval('figure.chart', (figures) => figures.map((f) => ({
      id: f.id,
      kind: f.dataset.kind,
      svg: f.querySelectorAll('svg').length,
      svg_width: f.querySelector('svg') ? f.querySelector('svg').getBoundingClientRect().width : 0,
      // Points, bars and cells (the one background rectangle aside): a
      // chart with axes but no data has none.
      marks: f.querySelectorAll('svg circle').length + Math.max(0, f.querySelectorAll('svg rect').length - 1),
      title: (f.querySelector('h3') || {}).textContent || '',
      reading: (f.querySelector('.reading') || {}).textContent || '',
      failed: f.querySelectorAll('.failed').length,
      empty: f.querySelectorAll('.empty').length,
    })));
    await page.screenshot({ path: desktopShot, fullPage: true });
    await page.setViewportSize({ width: 390, height: 844 });
    const phoneOverflow = await page.evaluate(
      () => document.documentElement.scrollWidth > window.innerWidth + 1);
    await page.screenshot({ path: phoneShot, fullPage: false });
    const pdf = await page.pdf({ format: 'A4', printBackground: true });
    const a4Pages = (pdf.toString('latin1').match(/\/Type\s*\/Page[^s]/g) || []).length;
    await page.waitForTimeout(200);
    console.log(JSON.stringify({
      console_errors: consoleErrors, requests, charts, phone_overflow: phoneOverflow, a4_pages: a4Pages,
    }));
  } finally {
    await context.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
}

main().catch((e) => { console.error(e); process.exit(1); });

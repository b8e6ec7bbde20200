// Shared by the end-to-end tests: the static server and the headless browser.
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));

/** Serves `site` on a free loopback port; resolves to { child, url } once it listens. */
export async function startServer(site) {
  const child = spawn(process.execPath, [join(here, 'serve.mjs'), site], {
    env: { ...process.env, PORT: '0', HOST: '127.0.0.1' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = await new Promise((ok, fail) => {
    const timer = setTimeout(() => fail(new Error('static server did not start in 10 s')), 10_000);
    let out = '';
    child.stdout.on('data', (chunk) => {
      out += chunk;
      const m = out.match(/http:\/\/[^\s]+/);
      if (m) { clearTimeout(timer); ok(m[0]); }
    });
    child.on('exit', (code) => { clearTimeout(timer); fail(new Error(`static server exited (${code})`)); });
  });
  return { child, url };
}

/** Debian's Chromium, headless, with no background traffic (the machine has no network). */
export function launchBrowser(executablePath = process.env.CHROMIUM ?? '/usr/bin/chromium', extraArgs = []) {
  return chromium.launch({
    executablePath,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync', ...extraArgs],
  });
}

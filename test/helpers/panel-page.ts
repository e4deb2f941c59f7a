/// <reference lib="dom" />
// Drives a replay panel in a JupyterLab 4 or Notebook 7 page (both are built from JupyterLab's
// components): runs cells, reads what the panel shows (the header's cursor: data-seq and
// data-status) and what a following cell prints.
import type { Locator, Page } from 'playwright-core';

export const cells = (page: Page): Locator => page.locator('.jp-Notebook .jp-Cell.jp-CodeCell');

/**
 * Waits until the notebook's kernel is connected and idle (the toolbar's kernel status). On a
 * loaded machine JupyterLab sometimes asks which kernel to start although the notebook names
 * one (its "Select Kernel" dialog, before the kernelspecs have loaded): the notebook's kernel is
 * chosen there, as a person would, and the wait goes on.
 */
export async function kernelIdle(page: Page, timeout = 60_000): Promise<void> {
  const idle = page.locator('[data-status="idle"]').first();
  const chooser = kernelChooser(page);
  const deadline = Date.now() + timeout;
  for (;;) {
    await idle.or(chooser).first().waitFor({ state: 'attached', timeout: Math.max(1, deadline - Date.now()) });
    if ((await chooser.count()) === 0) return;
    await chooseKernel(page, deadline);
  }
}

const kernelChooser = (page: Page): Locator => page.locator('.jp-Dialog').filter({ hasText: /Select Kernel/i });

/** Answers JupyterLab's "Select Kernel" dialog with the notebook's kernel (replaybook). */
async function chooseKernel(page: Page, deadline: number): Promise<void> {
  const chooser = kernelChooser(page);
  await chooser.first().evaluate((d) => {
    const select = d.querySelector('select');
    const option = select ? Array.from(select.options).find((o) => /replaybook/i.test(o.textContent ?? '')) : undefined;
    if (select && option) {
      select.value = option.value;
      select.dispatchEvent(new Event('change', { bubbles: true }));
    }
  });
  await chooser.first().locator('.jp-mod-accept').first().click();
  await chooser.first().waitFor({ state: 'detached', timeout: Math.max(1, deadline - Date.now()) });
}

/** Runs the i-th code cell as a person does: click into it, Shift+Enter; waits until it started. */
export async function runCell(page: Page, i: number): Promise<void> {
  const cell = cells(page).nth(i);
  // Right after the page loads the toolbar may say idle before the session's kernel takes
  // requests, and the front end then drops the run: try again until the cell shows it started.
  // The "Select Kernel" dialog may also come after the toolbar said idle (a loaded machine).
  // (A loaded machine may take seconds to show the prompt of a run that did start: the wait
  // grows with each attempt, and a run that shows late is not started again.)
  const started = cell.locator('.jp-InputArea-prompt').filter({ hasText: /\[(\*|\d+)\]/ });
  for (let attempt = 1; ; attempt++) {
    try {
      if ((await kernelChooser(page).count()) > 0) await kernelIdle(page);
      await cell.locator('.jp-InputArea-editor').click({ timeout: 10_000 });
      await page.keyboard.press('Shift+Enter');
      await started.waitFor({ timeout: 5_000 * attempt });
      return;
    } catch (e) {
      if (attempt >= 4) throw e;
      if ((await started.count()) > 0) return;
    }
  }
}

/** Waits for the i-th cell to finish (its prompt shows a number) and returns its output text. */
export async function cellOutput(page: Page, i: number, timeout = 60_000): Promise<string> {
  const cell = cells(page).nth(i);
  await cell.locator('.jp-InputArea-prompt').filter({ hasText: /\[\d+\]/ }).waitFor({ timeout });
  return (await cell.locator('.jp-OutputArea').innerText()).trim();
}

export interface Shown {
  seq: number;
  status: string;
}

export async function shown(panel: Locator): Promise<Shown> {
  const c = panel.locator('.rb-cursor');
  return { seq: Number(await c.getAttribute('data-seq')), status: String(await c.getAttribute('data-status')) };
}

/** Waits until the panel shows what `ok` accepts; returns it. */
export async function waitShown(panel: Locator, ok: (s: Shown) => boolean, timeout = 60_000): Promise<Shown> {
  const deadline = Date.now() + timeout;
  let last: Shown = { seq: -1, status: '' };
  while (Date.now() < deadline) {
    if ((await panel.locator('.rb-cursor').count()) > 0) {
      last = await shown(panel);
      if (ok(last)) return last;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`the panel still shows ${JSON.stringify(last)} after ${timeout} ms`);
}

// SPDX-License-Identifier: Apache-2.0
// The overview's samples when the event loop is held (the agent's collections on a busy host): a
// second that passed with no sample is not skipped silently. Each sample's seq is its slot on the
// clock; the sample after a stall names the slots it missed (gap), and over the live stream every
// slot from the first to the last is either a sample or counted in a gap, exactly. With the old
// setInterval ticks the stall shifted every later sample by its length and nothing said so.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as http from 'node:http';
import { AddressInfo } from 'node:net';
import { createDashboard } from '../../src/dashboard/index';
import { Monitor } from '../../src/dashboard/monitor';
import type { Sample } from '../../src/dashboard/types';

const INTERVAL = 20;
const STALL = 300;

/** Holds the event loop for `ms` (as a long collection does). */
function stall(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    /* busy */
  }
}

function until(cond: () => boolean): Promise<void> {
  return new Promise((resolve) => {
    const t = setInterval(() => cond() && (clearInterval(t), resolve()), 5);
  });
}

/** Every slot from the first sample's to the last's is the sample or in the next sample's gap. */
function assertAccounted(samples: Sample[]): void {
  for (let i = 1; i < samples.length; i++) {
    assert.equal(samples[i].seq, samples[i - 1].seq + 1 + (samples[i].gap ?? 0), `sample ${i}: ${JSON.stringify(samples.slice(i - 1, i + 1))}`);
  }
}

test('a held event loop: the next sample names the slots that passed without one; the rest follow on the clock', async () => {
  const got: Sample[] = [];
  const m = new Monitor(
    { oomRecords: () => [] },
    (s) => got.push(s),
    () => undefined,
  );
  m.start(INTERVAL);
  try {
    await until(() => got.length >= 3);
    const before = got[got.length - 1].seq;
    stall(STALL);
    await until(() => got.length >= 6 && got[got.length - 1].seq > before + 3);
    assertAccounted(got);
    // slots 1..first: the first is slot 1 unless the start itself was held
    assert.equal(got[0].seq, 1 + (got[0].gap ?? 0));
    const after = got.find((s) => s.seq > before)!;
    // the stall spanned at least STALL / INTERVAL - 1 whole slots with no tick
    assert.ok((after.gap ?? 0) >= STALL / INTERVAL - 1, `the sample after a ${STALL} ms stall: ${JSON.stringify(after)}`);
    assert.equal(after.seq, before + 1 + after.gap!);
    assert.equal(
      m.missed,
      got.reduce((a, s) => a + (s.gap ?? 0), 0),
    );
  } finally {
    m.stop();
  }
});

test('over the live stream, a stall and a reconnect: every slot is a sample received or a marked gap', async () => {
  const dash = createDashboard({ sampleMs: INTERVAL, sources: { oomRecords: () => [] } });
  const server = http.createServer((req, res) => void (dash.handle(req, res) || res.writeHead(404).end()));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const samples: Sample[] = [];
  let lastId = '';
  /** reads the stream (resuming from lastId) until `enough` */
  const read = (enough: () => boolean, during?: () => void) =>
    new Promise<void>((resolve, reject) => {
      const req = http.get(`${base}/api/dash/stream`, { headers: lastId ? { 'Last-Event-ID': lastId } : {} }, (res) => {
        let buf = '';
        let ran = false;
        res.setEncoding('utf8').on('data', (d: string) => {
          buf += d;
          let i: number;
          while ((i = buf.indexOf('\n\n')) >= 0) {
            const f: Record<string, string> = {};
            for (const line of buf.slice(0, i).split('\n')) {
              const m = /^(\w+): ?(.*)$/.exec(line);
              if (m) f[m[1]] = m[2];
            }
            buf = buf.slice(i + 2);
            if (f.event === 'hello') samples.push(...(JSON.parse(f.data).samples as Sample[]));
            if (f.event === 'sample') samples.push(JSON.parse(f.data) as Sample);
            if (f.id) lastId = f.id;
          }
          if (!ran && during && samples.length) {
            ran = true;
            during();
          }
          if (enough()) {
            req.destroy();
            resolve();
          }
        });
      });
      req.on('error', (e) => (e.message === 'socket hang up' ? undefined : reject(e)));
    });
  try {
    await read(
      () => samples.length >= 20,
      () => stall(STALL),
    );
    const cut = samples[samples.length - 1].seq;
    // away a while, then back with Last-Event-ID: the replay fills the time away
    await new Promise((r) => setTimeout(r, 10 * INTERVAL));
    await read(() => samples[samples.length - 1].seq > cut + 10);
    assert.equal(samples[0].seq, 1 + (samples[0].gap ?? 0));
    assertAccounted(samples);
    assert.ok(
      samples.some((s) => (s.gap ?? 0) >= STALL / INTERVAL - 1),
      `no sample marks the ${STALL} ms stall: ${samples.map((s) => `${s.seq}${s.gap ? `(+${s.gap})` : ''}`).join(' ')}`,
    );
  } finally {
    dash.close();
    server.closeAllConnections();
    server.close();
  }
});

// SPDX-License-Identifier: Apache-2.0
// The live stream: Server-Sent Events. Event ids are "<instance>.<seq>": a browser reconnecting
// after a network blip sends Last-Event-ID and gets only the samples it missed; after an agent
// restart the instance differs and it gets a "hello" that tells it to start over. Memory is bounded
// on this side: a client that does not read (its socket buffer beyond MAX_BUFFERED) is dropped and
// will resume by itself; at most MAX_CLIENTS streams are open.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomBytes } from 'node:crypto';

const MAX_BUFFERED = 1 << 20;
export const MAX_CLIENTS = 32;
const HEARTBEAT_MS = 15_000;

export class EventHub {
  readonly instance = randomBytes(6).toString('hex');
  private readonly clients = new Set<ServerResponse>();
  private readonly heartbeat: NodeJS.Timeout;

  constructor() {
    this.heartbeat = setInterval(() => this.broadcastRaw(': keep-alive\n\n'), HEARTBEAT_MS);
    this.heartbeat.unref();
  }

  get size(): number {
    return this.clients.size;
  }

  /** The seq a reconnecting client already has, when it is ours. */
  resumeFrom(req: IncomingMessage): number | null {
    const id = String(req.headers['last-event-id'] ?? '');
    const m = /^([0-9a-f]{12})\.(\d+)$/.exec(id);
    return m && m[1] === this.instance ? Number(m[2]) : null;
  }

  /** Opens a stream; `replay` writes what the client missed (or everything) before live events. */
  open(req: IncomingMessage, res: ServerResponse, replay: (send: (event: string, data: unknown, seq?: number) => void) => void): void {
    if (this.clients.size >= MAX_CLIENTS) {
      res.writeHead(503, { 'Content-Type': 'text/plain; charset=utf-8', 'Retry-After': '5' }).end('too many live streams\n');
      return;
    }
    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-store',
      Connection: 'keep-alive',
      'X-Accel-Buffering': 'no',
    });
    res.write('retry: 1000\n\n');
    replay((event, data, seq) => res.write(frame(event, data, seq === undefined ? undefined : `${this.instance}.${seq}`)));
    this.clients.add(res);
    const drop = () => this.clients.delete(res);
    req.on('close', drop);
    res.on('error', drop);
  }

  /** Sends to every client; `seq` becomes the event id (samples) so a reconnect resumes after it. */
  broadcast(event: string, data: unknown, seq?: number): void {
    if (!this.clients.size) return; // nobody to send to: not serialized (every second, with no page open)
    this.broadcastRaw(frame(event, data, seq === undefined ? undefined : `${this.instance}.${seq}`));
  }

  private broadcastRaw(text: string): void {
    for (const res of this.clients) {
      if (res.writableLength > MAX_BUFFERED) {
        this.clients.delete(res);
        res.destroy(); // it reconnects and resumes from its Last-Event-ID
        continue;
      }
      res.write(text);
    }
  }

  close(): void {
    clearInterval(this.heartbeat);
    for (const res of this.clients) res.end();
    this.clients.clear();
  }
}

function frame(event: string, data: unknown, id?: string): string {
  // JSON has no raw newlines, so one data: line carries it
  return `${id ? `id: ${id}\n` : ''}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

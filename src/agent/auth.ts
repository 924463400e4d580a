// SPDX-License-Identifier: Apache-2.0
// Who may ask: loopback-only by default; beyond loopback the agent serves only with a bearer
// token (read from a file, so it is not in the process list), compared in constant time.
import { createHash, timingSafeEqual } from 'node:crypto';
import * as fs from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { MemscopeError } from '../core/errors';
import type { ListenAddress } from './config';

export function readToken(file: string): Buffer {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new MemscopeError(`cannot read token file ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  const token = text.trim();
  if (token.length < 16 || /\s/.test(token)) throw new MemscopeError(`token file ${file}: expected one token of at least 16 characters`);
  return createHash('sha256').update(token).digest();
}

/** Refuses to listen beyond loopback without a token: that must be asked for explicitly. */
export function checkExposure(addr: ListenAddress, tokenFile: string | undefined): void {
  if (!addr.loopback && !tokenFile) {
    throw new MemscopeError(`listening on ${addr.host} (beyond loopback) needs --token-file FILE: clients then send "Authorization: Bearer TOKEN"`);
  }
}

export class Authenticator {
  constructor(private digest: Buffer | null) {}

  setToken(digest: Buffer | null): void {
    this.digest = digest;
  }

  allows(req: IncomingMessage): boolean {
    if (!this.digest) return true;
    const m = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '');
    return !!m && this.matches(m[1]);
  }

  /** Whether a token is required (the dashboard asks: a browser brings it as a cookie, not a header). */
  required(): boolean {
    return this.digest !== null;
  }

  matches(token: string): boolean {
    return this.digest !== null && timingSafeEqual(createHash('sha256').update(token).digest(), this.digest);
  }
}

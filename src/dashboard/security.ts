// SPDX-License-Identifier: Apache-2.0
// The dashboard's guards: a Content-Security-Policy with no inline script, a Host check against DNS
// rebinding (loopback names only, unless the host listens beyond loopback with a token), the bearer
// token (header, or a cookie set by opening /?token=…), and a per-session CSRF token for every POST:
// HMAC(server secret, session cookie), so nothing per session is stored.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';

export const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

export const SECURITY_HEADERS: Record<string, string> = {
  'Content-Security-Policy': CSP,
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'X-Frame-Options': 'DENY',
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Resource-Policy': 'same-origin',
};

const SESSION = 'memscope_session';
const TOKEN = 'memscope_token';

export function cookies(req: IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of String(req.headers.cookie ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i > 0) out[part.slice(0, i).trim()] = part.slice(i + 1).trim();
  }
  return out;
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return '';
  }
}

function same(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** How the host checks a bearer token. */
export interface TokenCheck {
  /** whether a token is required now (the host listens beyond loopback) */
  required(): boolean;
  /** whether a presented token is the right one (in constant time) */
  matches(token: string): boolean;
}

/** A TokenCheck over a token the caller holds (null: none required). */
export function plainToken(get: () => string | null): TokenCheck {
  return { required: () => get() !== null, matches: (t) => get() !== null && same(t, get()!) };
}

export class Guard {
  private readonly secret = randomBytes(32);

  /** token: the host's check of a presented bearer token (it may keep only a digest, and reload it);
   *  loopbackOnly: only loopback Host names are answered */
  constructor(private readonly opts: { token?: TokenCheck; loopbackOnly: boolean }) {}

  /** Loopback hosts by name: a page on evil.example resolving to 127.0.0.1 is refused. */
  hostAllowed(req: IncomingMessage): boolean {
    if (!this.opts.loopbackOnly) return true;
    const host = String(req.headers.host ?? '').toLowerCase();
    return /^(127\.\d+\.\d+\.\d+|localhost|\[::1\])(:\d+)?$/.test(host);
  }

  authorized(req: IncomingMessage): boolean {
    const check = this.opts.token;
    if (!check?.required()) return true;
    const auth = /^Bearer\s+(\S+)$/i.exec(String(req.headers.authorization ?? ''));
    if (auth && check.matches(auth[1])) return true;
    const c = cookies(req)[TOKEN];
    return c !== undefined && check.matches(safeDecode(c));
  }

  /** `/?token=…` from `memscope agent --open`: remembered in a cookie, then out of the URL. */
  acceptTokenParam(url: URL, res: ServerResponse): boolean {
    const t = url.searchParams.get('token');
    if (!this.opts.token?.required() || t === null || !this.opts.token.matches(t)) return false;
    res.writeHead(303, { ...SECURITY_HEADERS, 'Set-Cookie': `${TOKEN}=${encodeURIComponent(t)}; Path=/; HttpOnly; SameSite=Strict`, Location: '/' }).end();
    return true;
  }

  /** The session id from the cookie, or a new one (with its Set-Cookie header value). */
  session(req: IncomingMessage): { id: string; setCookie?: string } {
    const c = cookies(req)[SESSION];
    if (c && /^[0-9a-f]{64}$/.test(c)) return { id: c };
    const id = randomBytes(32).toString('hex');
    return { id, setCookie: `${SESSION}=${id}; Path=/; HttpOnly; SameSite=Strict` };
  }

  csrfToken(sessionId: string): string {
    return createHmac('sha256', this.secret).update(sessionId).digest('hex');
  }

  /** A POST is ours: the session cookie, its CSRF token in X-CSRF-Token, and our own Origin if sent. */
  csrfOk(req: IncomingMessage): boolean {
    const c = cookies(req)[SESSION];
    const t = String(req.headers['x-csrf-token'] ?? '');
    if (!c || !/^[0-9a-f]{64}$/.test(c) || !t) return false;
    const origin = req.headers.origin;
    if (origin !== undefined && origin !== `http://${req.headers.host}` && origin !== `https://${req.headers.host}`) return false;
    return same(t, this.csrfToken(c));
  }
}

/**
 * SHA-256 of a part given as chunks. crypto.subtle.digest is native and fast but takes one
 * contiguous buffer and cannot be fed incrementally, so: one chunk → native; small totals →
 * join then native (the copy is cheap); big multi-chunk parts → hash-wasm's streaming SHA-256,
 * which never joins the chunks, so a large model's part is never held twice.
 */
import { createSHA256 } from 'hash-wasm';
import { streamingHex } from './hasher';
import { concatChunks } from '../torch/zip';

const JOIN_LIMIT = 64 * 1024 * 1024;

/** Lowercase hex of the SHA-256 of the chunks' concatenation. */
export async function sha256Hex(chunks: readonly Uint8Array[]): Promise<string> {
  const total = chunks.reduce((n, c) => n + c.byteLength, 0);
  if (chunks.length === 1) return nativeSha256Hex(chunks[0]);
  if (total <= JOIN_LIMIT) return nativeSha256Hex(concatChunks(chunks));
  return streamingSha256Hex(chunks);
}

/** crypto.subtle's SHA-256 of one buffer. */
export async function nativeSha256Hex(bytes: Uint8Array): Promise<string> {
  // digest() rejects SharedArrayBuffer views in the types only; parts are ordinary ArrayBuffers.
  const d = await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>);
  let s = '';
  for (const b of new Uint8Array(d)) s += b.toString(16).padStart(2, '0');
  return s;
}

/** hash-wasm's streaming SHA-256 over the chunks, fed one chunk at a time. */
export const streamingSha256Hex = streamingHex(createSHA256);

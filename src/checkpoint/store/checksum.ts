/**
 * Part checksums. A save records each part's XXH64 (hash-wasm's WASM build, fed the part's chunks
 * one by one, never joined): on this project's 2-core test machine it runs at several GB/s where
 * SHA-256 (crypto.subtle) manages about 200 MB/s, and a checksum here detects damage at rest
 * (a torn write, a flipped byte, a stale file), which a 64-bit hash does as surely as a
 * cryptographic one; nothing trusts it against an adversary. Checkpoints saved before it carry
 * SHA-256 instead, which is still verified.
 */
import { createXXHash64 } from 'hash-wasm';
import { streamingHex } from './hasher';
import type { PartInfo } from './types';
import { sha256Hex } from './sha256';

/** XXH64 (seed 0) of the chunks' concatenation, as 16 lowercase hex digits. */
export const xxh64Hex = streamingHex(() => createXXHash64());

/** The checksum a new save records for a part. */
export const partChecksum = xxh64Hex;

/** The algorithm a part's record names, for messages. */
export function checksumName(p: Pick<PartInfo, 'xxh64' | 'sha256'>): string {
  return p.xxh64 !== undefined ? 'XXH64' : 'SHA-256';
}

/**
 * Whether `bytes` are the part the record describes: its XXH64 when it has one, else (a
 * checkpoint saved before XXH64) its SHA-256. A record with neither verifies nothing and fails.
 */
export async function verifyPart(p: Pick<PartInfo, 'xxh64' | 'sha256'>, bytes: Uint8Array): Promise<boolean> {
  if (p.xxh64 !== undefined) return (await xxh64Hex([bytes])) === p.xxh64;
  if (p.sha256 !== undefined) return (await sha256Hex([bytes])) === p.sha256;
  return false;
}

/**
 * Whether two records of a part name the same bytes: equal size and equal checksum of the same
 * algorithm. Records of different algorithms (one copy rewritten by a repair since) are the same
 * part only when they come from the same save (`generation`), which the caller checks.
 */
export function sameChecksum(
  a: Pick<PartInfo, 'xxh64' | 'sha256' | 'size'>,
  b: Pick<PartInfo, 'xxh64' | 'sha256' | 'size'>,
): boolean | undefined {
  if (a.size !== b.size) return false;
  if (a.xxh64 !== undefined && b.xxh64 !== undefined) return a.xxh64 === b.xxh64;
  if (a.sha256 !== undefined && b.sha256 !== undefined) return a.sha256 === b.sha256;
  return undefined;
}

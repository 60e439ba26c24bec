/**
 * A seeded pseudo-random source (mulberry32): the simulator's only randomness, so one seed gives
 * one run, bit for bit. `hashSeed` derives independent streams (one per task or burst) without
 * drawing from a shared sequence, so adding a task does not change what the others do.
 */
export type Rng = () => number;

export function mulberry32(seed: number): Rng {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    return mulberryOut(a);
  };
}

/** mulberry32's draw from its advanced state `a`. */
function mulberryOut(a: number): number {
  let t = a;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}

/** One step of hashSeed: mixes `p` into `h` (murmur3's finaliser). */
function mix(h: number, p: number): number {
  h = Math.imul(h ^ (p >>> 0), 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h;
}

/** A well-mixed 32-bit value from a seed and a few integers (murmur3's finaliser per step). */
export function hashSeed(seed: number, ...parts: readonly number[]): number {
  let h = seed >>> 0;
  for (const p of parts) h = mix(h, p);
  return h >>> 0;
}

/**
 * A number in [0, 1) fixed by the seed and `part`: the first draw of mulberry32(hashSeed(seed,
 * part)), made without a generator or an argument list (a bursting task asks for one at every step).
 */
export function unitHash(seed: number, part: number): number {
  const h = mix(seed >>> 0, part) >>> 0;
  return mulberryOut((h + 0x6d2b79f5) >>> 0);
}

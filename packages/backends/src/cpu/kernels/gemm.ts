/**
 * Single-precision GEMM in plain JavaScript: C[M, N] = A[M, K] @ B (B is [K, N], or [N, K] when
 * transposed), all row-major Float32Arrays with element offsets. The cpu backend runs products below
 * `smallProduct` multiply-adds here (a WebAssembly call would cost more than they do); the rest go
 * to the SIMD kernels (matmul.ts).
 *
 * Cache blocking: B is packed once per call into column panels of width NR (contiguous in k), and a
 * 4 x NR micro-kernel keeps 4*NR accumulators in local variables, so the inner loop does 4 + NR loads
 * for 4*NR multiply-adds. K is blocked so a panel stays in L1/L2.
 */
const NR = 8;
const KC = 256;

export interface GemmArgs {
  readonly a: Float32Array;
  readonly aOffset: number;
  readonly b: Float32Array;
  readonly bOffset: number;
  readonly c: Float32Array;
  readonly cOffset: number;
  readonly m: number;
  readonly n: number;
  readonly k: number;
  readonly transposeB: boolean;
  /** Rows [rowStart, rowEnd) of C to compute (for splitting across threads). */
  readonly rowStart?: number;
  readonly rowEnd?: number;
}

let packBuffer = new Float32Array(0);

/** Packs B[k0:k0+kc, :] into panels: panel p holds columns [p*NR, p*NR+NR) as kc rows of NR values. */
function packB(b: Float32Array, bOffset: number, n: number, k: number, k0: number, kc: number, transposeB: boolean): Float32Array {
  const panels = Math.ceil(n / NR);
  const need = panels * kc * NR;
  if (packBuffer.length < need) packBuffer = new Float32Array(need);
  const packed = packBuffer;
  for (let p = 0; p < panels; p++) {
    const j0 = p * NR;
    const width = Math.min(NR, n - j0);
    let dst = p * kc * NR;
    for (let kk = 0; kk < kc; kk++) {
      const kIndex = k0 + kk;
      if (transposeB) {
        for (let jj = 0; jj < width; jj++) packed[dst + jj] = b[bOffset + (j0 + jj) * k + kIndex]!;
      } else {
        const src = bOffset + kIndex * n + j0;
        for (let jj = 0; jj < width; jj++) packed[dst + jj] = b[src + jj]!;
      }
      for (let jj = width; jj < NR; jj++) packed[dst + jj] = 0;
      dst += NR;
    }
  }
  return packed;
}

export function gemm(args: GemmArgs): void {
  const { a, aOffset, b, bOffset, c, cOffset, m, n, k, transposeB } = args;
  const rowStart = args.rowStart ?? 0;
  const rowEnd = args.rowEnd ?? m;
  for (let i = rowStart; i < rowEnd; i++) c.fill(0, cOffset + i * n, cOffset + i * n + n);
  if (k === 0) return;
  if (rowEnd - rowStart === 1) {
    gemvRow(args, rowStart);
    return;
  }
  const panels = Math.ceil(n / NR);
  for (let k0 = 0; k0 < k; k0 += KC) {
    const kc = Math.min(KC, k - k0);
    const packed = packB(b, bOffset, n, k, k0, kc, transposeB);
    for (let p = 0; p < panels; p++) {
      const j0 = p * NR;
      const width = Math.min(NR, n - j0);
      const panel = p * kc * NR;
      let i = rowStart;
      for (; i + 4 <= rowEnd; i += 4) microKernel4(a, aOffset + i * k + k0, k, packed, panel, kc, c, cOffset + i * n + j0, n, width);
      for (; i < rowEnd; i++) microKernel1(a, aOffset + i * k + k0, packed, panel, kc, c, cOffset + i * n + j0, width);
    }
  }
}

/** C[4, NR] += A[4, kc] @ panel[kc, NR]. */
function microKernel4(a: Float32Array, aRow: number, lda: number, p: Float32Array, panel: number, kc: number, c: Float32Array, cRow: number, ldc: number, width: number): void {
  let c00 = 0, c01 = 0, c02 = 0, c03 = 0, c04 = 0, c05 = 0, c06 = 0, c07 = 0;
  let c10 = 0, c11 = 0, c12 = 0, c13 = 0, c14 = 0, c15 = 0, c16 = 0, c17 = 0;
  let c20 = 0, c21 = 0, c22 = 0, c23 = 0, c24 = 0, c25 = 0, c26 = 0, c27 = 0;
  let c30 = 0, c31 = 0, c32 = 0, c33 = 0, c34 = 0, c35 = 0, c36 = 0, c37 = 0;
  const a1 = aRow + lda, a2 = a1 + lda, a3 = a2 + lda;
  let q = panel;
  for (let kk = 0; kk < kc; kk++, q += NR) {
    const b0 = p[q]!, b1 = p[q + 1]!, b2 = p[q + 2]!, b3 = p[q + 3]!, b4 = p[q + 4]!, b5 = p[q + 5]!, b6 = p[q + 6]!, b7 = p[q + 7]!;
    const x0 = a[aRow + kk]!, x1 = a[a1 + kk]!, x2 = a[a2 + kk]!, x3 = a[a3 + kk]!;
    c00 += x0 * b0; c01 += x0 * b1; c02 += x0 * b2; c03 += x0 * b3; c04 += x0 * b4; c05 += x0 * b5; c06 += x0 * b6; c07 += x0 * b7;
    c10 += x1 * b0; c11 += x1 * b1; c12 += x1 * b2; c13 += x1 * b3; c14 += x1 * b4; c15 += x1 * b5; c16 += x1 * b6; c17 += x1 * b7;
    c20 += x2 * b0; c21 += x2 * b1; c22 += x2 * b2; c23 += x2 * b3; c24 += x2 * b4; c25 += x2 * b5; c26 += x2 * b6; c27 += x2 * b7;
    c30 += x3 * b0; c31 += x3 * b1; c32 += x3 * b2; c33 += x3 * b3; c34 += x3 * b4; c35 += x3 * b5; c36 += x3 * b6; c37 += x3 * b7;
  }
  const rows = [
    [c00, c01, c02, c03, c04, c05, c06, c07],
    [c10, c11, c12, c13, c14, c15, c16, c17],
    [c20, c21, c22, c23, c24, c25, c26, c27],
    [c30, c31, c32, c33, c34, c35, c36, c37],
  ];
  for (let r = 0; r < 4; r++) {
    const row = rows[r]!;
    const base = cRow + r * ldc;
    for (let j = 0; j < width; j++) c[base + j]! += row[j]!;
  }
}

function microKernel1(a: Float32Array, aRow: number, p: Float32Array, panel: number, kc: number, c: Float32Array, cRow: number, width: number): void {
  let c0 = 0, c1 = 0, c2 = 0, c3 = 0, c4 = 0, c5 = 0, c6 = 0, c7 = 0;
  let q = panel;
  for (let kk = 0; kk < kc; kk++, q += NR) {
    const x = a[aRow + kk]!;
    c0 += x * p[q]!; c1 += x * p[q + 1]!; c2 += x * p[q + 2]!; c3 += x * p[q + 3]!;
    c4 += x * p[q + 4]!; c5 += x * p[q + 5]!; c6 += x * p[q + 6]!; c7 += x * p[q + 7]!;
  }
  const row = [c0, c1, c2, c3, c4, c5, c6, c7];
  for (let j = 0; j < width; j++) c[cRow + j]! += row[j]!;
}

/** One row of C: streams B once without packing (the decode case, M = 1). */
function gemvRow(args: GemmArgs, i: number): void {
  const { a, aOffset, b, bOffset, c, cOffset, n, k, transposeB } = args;
  const aRow = aOffset + i * k;
  const cRow = cOffset + i * n;
  if (transposeB) {
    for (let j = 0; j < n; j++) {
      const bRow = bOffset + j * k;
      let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      let kk = 0;
      for (; kk + 4 <= k; kk += 4) {
        s0 += a[aRow + kk]! * b[bRow + kk]!;
        s1 += a[aRow + kk + 1]! * b[bRow + kk + 1]!;
        s2 += a[aRow + kk + 2]! * b[bRow + kk + 2]!;
        s3 += a[aRow + kk + 3]! * b[bRow + kk + 3]!;
      }
      for (; kk < k; kk++) s0 += a[aRow + kk]! * b[bRow + kk]!;
      c[cRow + j] = s0 + s1 + s2 + s3;
    }
    return;
  }
  const acc = new Float64Array(n);
  for (let kk = 0; kk < k; kk++) {
    const x = a[aRow + kk]!;
    if (x === 0) continue;
    const bRow = bOffset + kk * n;
    for (let j = 0; j < n; j++) acc[j]! += x * b[bRow + j]!;
  }
  for (let j = 0; j < n; j++) c[cRow + j] = acc[j]!;
}

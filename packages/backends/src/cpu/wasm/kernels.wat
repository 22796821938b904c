;; The CPU backend's WebAssembly SIMD kernels, on one memory shared by every thread (the main thread
;; and the worker pool instantiate this module on the same WebAssembly.Memory). All addresses are byte
;; offsets into that memory; every function works on a range of column panels or heads, so threads
;; split a product by columns (each streams only its part of the weights) and attention by heads.
;;
;; Packed panels (the kept layout): B [K, N] in column panels of 8 columns; panel p is K rows of 8
;; floats, contiguous, at packed + p * K * 32 (columns past N are zero). A thread's range of panels is
;; one contiguous stream: the matrix-vector kernels read it four panels at a time, front to back, and
;; the GEMM reads it in blocks of 256 rows (8 KiB per panel, kept in L1 across the rows of A; blocks
;; of 512 measured 2-4% faster, but their longer chains of additions took a training step's
;; gradients past the error float32 reaches in PyTorch, so C takes a block's sums every 256 rows).
;;
;; The source is written with f32x4.relaxed_madd (FMA where the engine has it). scripts/build-wasm.ts
;; emits two binaries from it: this one (relaxed SIMD) and a plain one where each
;; (f32x4.relaxed_madd a b c) becomes (f32x4.add c (f32x4.mul a b)). Regenerate with `pnpm build:wasm`.
(module
  (import "env" "memory" (memory 1 65536 shared))

  ;; ---------------------------------------------------------------------------------------------
  ;; packing

  ;; Panels [p0, p1) of B (byte address b; [k, n] row-major, or [n, k] when transB) into the kept layout at dst.
  (func $pack_panels (export "pack_panels") (param $b i32) (param $k i32) (param $n i32) (param $transB i32) (param $dst i32) (param $p0 i32) (param $p1 i32)
    (call $pack_panels_ld (local.get $b) (local.get $k) (local.get $n) (local.get $transB)
      (i32.shl (select (local.get $k) (local.get $n) (local.get $transB)) (i32.const 2)) (local.get $dst) (local.get $p0) (local.get $p1)))

  ;; pack_panels of a B whose rows lie `ldb` bytes apart (rows of [k, n], or of [n, k] when transposed):
  ;; a head's keys or values inside a [T, H, D] tensor.
  (func $pack_panels_ld (param $b i32) (param $k i32) (param $n i32) (param $transB i32) (param $ldb i32) (param $dst i32) (param $p0 i32) (param $p1 i32)
    (local $np i32) (local $k0 i32) (local $depth i32) (local $p i32) (local $kk i32) (local $jj i32)
    (local $j0 i32) (local $width i32) (local $out i32) (local $src i32)
    (local.set $np (i32.and (i32.add (local.get $n) (i32.const 7)) (i32.const -8)))
    (block $kdone (loop $kloop
      (br_if $kdone (i32.ge_u (local.get $k0) (local.get $k)))
      (local.set $depth (select (i32.const 256) (i32.sub (local.get $k) (local.get $k0))
        (i32.lt_u (i32.const 256) (i32.sub (local.get $k) (local.get $k0)))))
      (local.set $p (local.get $p0))
      (block $pdone (loop $ploop
        (br_if $pdone (i32.ge_u (local.get $p) (local.get $p1)))
        (local.set $j0 (i32.shl (local.get $p) (i32.const 3)))
        (local.set $width (i32.sub (local.get $n) (local.get $j0)))
        (if (i32.gt_s (local.get $width) (i32.const 8)) (then (local.set $width (i32.const 8))))
        (local.set $out (i32.add (local.get $dst) (i32.shl (i32.add (i32.mul (local.get $p) (local.get $k)) (local.get $k0)) (i32.const 5))))
        (local.set $kk (i32.const 0))
        (block $rdone (loop $rloop
          (br_if $rdone (i32.ge_u (local.get $kk) (local.get $depth)))
          (if (i32.and (i32.eqz (local.get $transB)) (i32.eq (local.get $width) (i32.const 8)))
            (then
              (local.set $src (i32.add (i32.add (local.get $b) (i32.mul (i32.add (local.get $k0) (local.get $kk)) (local.get $ldb)))
                (i32.shl (local.get $j0) (i32.const 2))))
              (v128.store (local.get $out) (v128.load (local.get $src)))
              (v128.store offset=16 (local.get $out) (v128.load offset=16 (local.get $src))))
            (else
              (v128.store (local.get $out) (v128.const i32x4 0 0 0 0))
              (v128.store offset=16 (local.get $out) (v128.const i32x4 0 0 0 0))
              (local.set $jj (i32.const 0))
              (block $cdone (loop $cloop
                (br_if $cdone (i32.ge_u (local.get $jj) (local.get $width)))
                (f32.store (i32.add (local.get $out) (i32.shl (local.get $jj) (i32.const 2)))
                  (f32.load (i32.add (local.get $b)
                    (if (result i32) (local.get $transB)
                      (then (i32.add (i32.mul (i32.add (local.get $j0) (local.get $jj)) (local.get $ldb)) (i32.shl (i32.add (local.get $k0) (local.get $kk)) (i32.const 2))))
                      (else (i32.add (i32.mul (i32.add (local.get $k0) (local.get $kk)) (local.get $ldb)) (i32.shl (i32.add (local.get $j0) (local.get $jj)) (i32.const 2))))))))
                (local.set $jj (i32.add (local.get $jj) (i32.const 1)))
                (br $cloop)))))
          (local.set $out (i32.add (local.get $out) (i32.const 32)))
          (local.set $kk (i32.add (local.get $kk) (i32.const 1)))
          (br $rloop)))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $ploop)))
      (local.set $k0 (i32.add (local.get $k0) (i32.const 256)))
      (br $kloop))))

  ;; count floats at src (count % 8 == 0) to bfloat16 at dst, rounding to nearest even; NaN stays NaN.
;; Each group of 8 is stored interleaved, [e0 e4 e1 e5 e2 e6 e3 e7], so that lane i of the loaded
;; i32x4 holds e_i in its low half and e_(i+4) in its high half: a shift and a mask widen them.
  (func (export "to_bf16") (param $src i32) (param $dst i32) (param $count i32)
    (local $i i32) (local $lo v128) (local $hi v128)
    (block $done (loop $loop
      (br_if $done (i32.ge_u (local.get $i) (local.get $count)))
      (local.set $lo (call $round_bf16 (v128.load (local.get $src))))
      (local.set $hi (call $round_bf16 (v128.load offset=16 (local.get $src))))
      (v128.store (local.get $dst) (v128.or (local.get $lo) (i32x4.shl (local.get $hi) (i32.const 16))))
      (local.set $src (i32.add (local.get $src) (i32.const 32)))
      (local.set $dst (i32.add (local.get $dst) (i32.const 16)))
      (local.set $i (i32.add (local.get $i) (i32.const 8)))
      (br $loop))))

  ;; the top 16 bits of each float rounded to nearest even, as u32 lanes (NaN: quiet NaN kept)
  (func $round_bf16 (param $x v128) (result v128)
    (local $r v128) (local $nan v128)
    (local.set $r (i32x4.shr_u
      (i32x4.add (local.get $x) (i32x4.add (v128.const i32x4 0x7fff 0x7fff 0x7fff 0x7fff)
        (v128.and (i32x4.shr_u (local.get $x) (i32.const 16)) (v128.const i32x4 1 1 1 1))))
      (i32.const 16)))
    (local.set $nan (f32x4.ne (local.get $x) (local.get $x)))
    (v128.bitselect
      (v128.or (i32x4.shr_u (local.get $x) (i32.const 16)) (v128.const i32x4 0x40 0x40 0x40 0x40))
      (local.get $r) (local.get $nan)))

  ;; ---------------------------------------------------------------------------------------------
  ;; matrix products

  ;; lane i (0..3) of v
  (func $lane (param $v v128) (param $i i32) (result f32)
    (block $l3 (block $l2 (block $l1 (block $l0
      (br_table $l0 $l1 $l2 $l3 (local.get $i)))
      (return (f32x4.extract_lane 0 (local.get $v))))
      (return (f32x4.extract_lane 1 (local.get $v))))
      (return (f32x4.extract_lane 2 (local.get $v))))
    (f32x4.extract_lane 3 (local.get $v)))

  ;; one row of a 4 x 8 block at the edge of C: cols < 8 values, added to C when acc
  (func $store_row (param $cp i32) (param $cols i32) (param $lo v128) (param $hi v128) (param $acc i32)
    (local $j i32) (local $x f32) (local $at i32)
    (block $done (loop $loop
      (br_if $done (i32.ge_u (local.get $j) (local.get $cols)))
      (local.set $x (if (result f32) (i32.lt_u (local.get $j) (i32.const 4))
        (then (call $lane (local.get $lo) (local.get $j)))
        (else (call $lane (local.get $hi) (i32.sub (local.get $j) (i32.const 4))))))
      (local.set $at (i32.add (local.get $cp) (i32.shl (local.get $j) (i32.const 2))))
      (if (local.get $acc) (then (local.set $x (f32.add (local.get $x) (f32.load (local.get $at))))))
      (f32.store (local.get $at) (local.get $x))
      (local.set $j (i32.add (local.get $j) (i32.const 1)))
      (br $loop))))

  ;; a full row of 8 values, added to C when acc
  (func $store8 (param $cp i32) (param $lo v128) (param $hi v128) (param $acc i32)
    (if (local.get $acc)
      (then
        (v128.store (local.get $cp) (f32x4.add (v128.load (local.get $cp)) (local.get $lo)))
        (v128.store offset=16 (local.get $cp) (f32x4.add (v128.load offset=16 (local.get $cp)) (local.get $hi))))
      (else
        (v128.store (local.get $cp) (local.get $lo))
        (v128.store offset=16 (local.get $cp) (local.get $hi)))))

  ;; A [m, k] (row stride lda bytes) into row blocks of 4: block rb holds k steps of 4 floats (rows
  ;; 4rb..4rb+3, the last row repeated past m) at dst + rb * k * 16, so the GEMM reads one stream.
  ;; Packs row blocks [rb0, rb1) (threads split A so).
  (func $pack_a (export "pack_a") (param $a i32) (param $lda i32) (param $m i32) (param $k i32) (param $dst i32) (param $rb0 i32) (param $rb1 i32)
    (local $rb i32) (local $kk i32) (local $r0 i32) (local $a0 i32) (local $a1 i32) (local $a2 i32) (local $a3 i32) (local $rows i32)
    (local $x0 v128) (local $x1 v128) (local $x2 v128) (local $x3 v128) (local $t0 v128) (local $t1 v128) (local $t2 v128) (local $t3 v128)
    (local.set $r0 (i32.shl (local.get $rb0) (i32.const 2)))
    (local.set $dst (i32.add (local.get $dst) (i32.shl (i32.mul (local.get $rb0) (local.get $k)) (i32.const 4))))
    (if (i32.lt_u (i32.shl (local.get $rb1) (i32.const 2)) (local.get $m)) (then (local.set $m (i32.shl (local.get $rb1) (i32.const 2)))))
    (block $done (loop $blocks
      (br_if $done (i32.ge_u (local.get $r0) (local.get $m)))
      (local.set $rows (i32.sub (local.get $m) (local.get $r0)))
      (local.set $a0 (i32.add (local.get $a) (i32.mul (local.get $r0) (local.get $lda))))
      (local.set $a1 (select (i32.add (local.get $a0) (local.get $lda)) (local.get $a0) (i32.gt_s (local.get $rows) (i32.const 1))))
      (local.set $a2 (select (i32.add (local.get $a1) (local.get $lda)) (local.get $a1) (i32.gt_s (local.get $rows) (i32.const 2))))
      (local.set $a3 (select (i32.add (local.get $a2) (local.get $lda)) (local.get $a2) (i32.gt_s (local.get $rows) (i32.const 3))))
      (local.set $kk (i32.const 0))
      ;; 4 x 4 tiles transposed with shuffles
      (block $tiles_done (loop $tiles
        (br_if $tiles_done (i32.gt_u (i32.add (local.get $kk) (i32.const 4)) (local.get $k)))
        (local.set $x0 (v128.load (local.get $a0)))
        (local.set $x1 (v128.load (local.get $a1)))
        (local.set $x2 (v128.load (local.get $a2)))
        (local.set $x3 (v128.load (local.get $a3)))
        (local.set $t0 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $x0) (local.get $x1)))
        (local.set $t1 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $x2) (local.get $x3)))
        (local.set $t2 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $x0) (local.get $x1)))
        (local.set $t3 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $x2) (local.get $x3)))
        (v128.store (local.get $dst) (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $t0) (local.get $t1)))
        (v128.store offset=16 (local.get $dst) (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $t0) (local.get $t1)))
        (v128.store offset=32 (local.get $dst) (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $t2) (local.get $t3)))
        (v128.store offset=48 (local.get $dst) (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $t2) (local.get $t3)))
        (local.set $a0 (i32.add (local.get $a0) (i32.const 16)))
        (local.set $a1 (i32.add (local.get $a1) (i32.const 16)))
        (local.set $a2 (i32.add (local.get $a2) (i32.const 16)))
        (local.set $a3 (i32.add (local.get $a3) (i32.const 16)))
        (local.set $dst (i32.add (local.get $dst) (i32.const 64)))
        (local.set $kk (i32.add (local.get $kk) (i32.const 4)))
        (br $tiles)))
      (block $tail_done (loop $tail
        (br_if $tail_done (i32.ge_u (local.get $kk) (local.get $k)))
        (f32.store (local.get $dst) (f32.load (local.get $a0)))
        (f32.store offset=4 (local.get $dst) (f32.load (local.get $a1)))
        (f32.store offset=8 (local.get $dst) (f32.load (local.get $a2)))
        (f32.store offset=12 (local.get $dst) (f32.load (local.get $a3)))
        (local.set $a0 (i32.add (local.get $a0) (i32.const 4)))
        (local.set $a1 (i32.add (local.get $a1) (i32.const 4)))
        (local.set $a2 (i32.add (local.get $a2) (i32.const 4)))
        (local.set $a3 (i32.add (local.get $a3) (i32.const 4)))
        (local.set $dst (i32.add (local.get $dst) (i32.const 16)))
        (local.set $kk (i32.add (local.get $kk) (i32.const 1)))
        (br $tail)))
      (local.set $r0 (i32.add (local.get $r0) (i32.const 4)))
      (br $blocks))))

  ;; A [m, k] given as its transpose X [k, m] (row stride ldx bytes: a weight gradient's X^T, a view
  ;; the plan did not copy), packed as pack_a packs A, for row blocks [rb0, rb1): rows 4rb..4rb+3 of
  ;; A at step kk are the four floats X[kk, 4rb..4rb+3], one load; a last, narrower block repeats its
  ;; last row.
  (func (export "pack_a_t") (param $x i32) (param $ldx i32) (param $m i32) (param $k i32) (param $dst i32) (param $rb0 i32) (param $rb1 i32)
    (local $rb i32) (local $r0 i32) (local $kk i32) (local $src i32) (local $out i32) (local $i i32) (local $row i32)
    (local.set $rb (local.get $rb0))
    (block $done (loop $blocks
      (br_if $done (i32.ge_u (local.get $rb) (local.get $rb1)))
      (local.set $r0 (i32.shl (local.get $rb) (i32.const 2)))
      (local.set $out (i32.add (local.get $dst) (i32.shl (i32.mul (local.get $rb) (local.get $k)) (i32.const 4))))
      (local.set $src (i32.add (local.get $x) (i32.shl (local.get $r0) (i32.const 2))))
      (local.set $kk (i32.const 0))
      (if (i32.le_u (i32.add (local.get $r0) (i32.const 4)) (local.get $m))
        (then
          (block $kdone (loop $kloop
            (br_if $kdone (i32.ge_u (local.get $kk) (local.get $k)))
            (v128.store (local.get $out) (v128.load (local.get $src)))
            (local.set $src (i32.add (local.get $src) (local.get $ldx)))
            (local.set $out (i32.add (local.get $out) (i32.const 16)))
            (local.set $kk (i32.add (local.get $kk) (i32.const 1)))
            (br $kloop))))
        (else
          (block $kdone1 (loop $kloop1
            (br_if $kdone1 (i32.ge_u (local.get $kk) (local.get $k)))
            (local.set $i (i32.const 0))
            (block $idone (loop $iloop
              (br_if $idone (i32.ge_u (local.get $i) (i32.const 4)))
              (local.set $row (i32.add (local.get $r0) (local.get $i)))
              (if (i32.ge_u (local.get $row) (local.get $m)) (then (local.set $row (i32.sub (local.get $m) (i32.const 1)))))
              (f32.store (i32.add (local.get $out) (i32.shl (local.get $i) (i32.const 2)))
                (f32.load (i32.add (i32.add (local.get $x) (i32.mul (local.get $kk) (local.get $ldx))) (i32.shl (local.get $row) (i32.const 2)))))
              (local.set $i (i32.add (local.get $i) (i32.const 1)))
              (br $iloop)))
            (local.set $out (i32.add (local.get $out) (i32.const 16)))
            (local.set $kk (i32.add (local.get $kk) (i32.const 1)))
            (br $kloop1)))))
      (local.set $rb (i32.add (local.get $rb) (i32.const 1)))
      (br $blocks))))

  ;; C[0:m, panels p0..p1) = A @ B with A packed by pack_a (at ap) and B in the kept layout at
  ;; packed; C at c (row stride ldc bytes), only C[i < m, j < n] written. A 4 x 8 block of C lives in
  ;; eight f32x4 accumulators for up to 256 steps of k; each step reads 8 floats of B and 4 of A.
  (func $gemm (export "gemm") (param $ap i32) (param $m i32) (param $packed i32) (param $k i32) (param $n i32)
        (param $c i32) (param $ldc i32) (param $p0 i32) (param $p1 i32)
    (local $k0 i32) (local $depth i32) (local $blockBase i32) (local $acc i32)
    (local $i0 i32) (local $iEnd i32) (local $p i32) (local $pbase i32) (local $r0 i32) (local $cols i32)
    (block $kdone (loop $kloop
      (br_if $kdone (i32.ge_u (local.get $k0) (local.get $k)))
      (local.set $depth (select (i32.const 256) (i32.sub (local.get $k) (local.get $k0))
        (i32.lt_u (i32.const 256) (i32.sub (local.get $k) (local.get $k0)))))
      (local.set $blockBase (i32.add (local.get $packed) (i32.shl (local.get $k0) (i32.const 5))))
      (local.set $acc (i32.ne (local.get $k0) (i32.const 0)))
      (local.set $i0 (i32.const 0))
      (block $idone (loop $iloop
        (br_if $idone (i32.ge_u (local.get $i0) (local.get $m)))
        (local.set $iEnd (select (i32.add (local.get $i0) (i32.const 128)) (local.get $m)
          (i32.lt_u (i32.add (local.get $i0) (i32.const 128)) (local.get $m))))
        (local.set $p (local.get $p0))
        (block $pdone (loop $ploop
          (br_if $pdone (i32.ge_u (local.get $p) (local.get $p1)))
          (local.set $pbase (i32.add (local.get $blockBase) (i32.mul (local.get $p) (i32.shl (local.get $k) (i32.const 5)))))
          (local.set $cols (i32.sub (local.get $n) (i32.shl (local.get $p) (i32.const 3))))
          (if (i32.gt_s (local.get $cols) (i32.const 8)) (then (local.set $cols (i32.const 8))))
          (local.set $r0 (local.get $i0))
          (block $rdone (loop $rloop
            (br_if $rdone (i32.ge_u (local.get $r0) (local.get $iEnd)))
            ;; row block r0/4 of packed A, at step k0
            (call $block4x8
              (i32.add (local.get $ap) (i32.shl (i32.add (i32.mul (i32.shr_u (local.get $r0) (i32.const 2)) (local.get $k)) (local.get $k0)) (i32.const 4)))
              (local.get $pbase) (local.get $depth)
              (i32.add (i32.add (local.get $c) (i32.mul (local.get $r0) (local.get $ldc))) (i32.shl (local.get $p) (i32.const 5)))
              (local.get $ldc) (i32.sub (local.get $m) (local.get $r0)) (local.get $cols) (local.get $acc))
            (local.set $r0 (i32.add (local.get $r0) (i32.const 4)))
            (br $rloop)))
          (local.set $p (i32.add (local.get $p) (i32.const 1)))
          (br $ploop)))
        (local.set $i0 (local.get $iEnd))
        (br $iloop)))
      (local.set $k0 (i32.add (local.get $k0) (i32.const 256)))
      (br $kloop))))

  ;; One 4 x 8 block of C (rows of A at xa, packed by pack_a; `depth` rows of one panel of B at pp,
  ;; 32 bytes a row) in eight f32x4 accumulators, stored at cp (rows ldc bytes apart): `rows` and
  ;; `cols` clip it at C's edges, `acc` adds it to C (a later block of K).
  (func $block4x8 (param $xa i32) (param $pp i32) (param $depth i32) (param $cp i32) (param $ldc i32) (param $rows i32) (param $cols i32) (param $acc i32)
    (local $b0 v128) (local $b1 v128) (local $x v128)
    (local $c00 v128) (local $c01 v128) (local $c10 v128) (local $c11 v128) (local $c20 v128) (local $c21 v128) (local $c30 v128) (local $c31 v128)
    (block $kkdone (loop $kkloop
      (br_if $kkdone (i32.eqz (local.get $depth)))
      (local.set $b0 (v128.load (local.get $pp)))
      (local.set $b1 (v128.load offset=16 (local.get $pp)))
      (local.set $x (v128.load32_splat (local.get $xa)))
      (local.set $c00 (f32x4.relaxed_madd (local.get $x) (local.get $b0) (local.get $c00)))
      (local.set $c01 (f32x4.relaxed_madd (local.get $x) (local.get $b1) (local.get $c01)))
      (local.set $x (v128.load32_splat offset=4 (local.get $xa)))
      (local.set $c10 (f32x4.relaxed_madd (local.get $x) (local.get $b0) (local.get $c10)))
      (local.set $c11 (f32x4.relaxed_madd (local.get $x) (local.get $b1) (local.get $c11)))
      (local.set $x (v128.load32_splat offset=8 (local.get $xa)))
      (local.set $c20 (f32x4.relaxed_madd (local.get $x) (local.get $b0) (local.get $c20)))
      (local.set $c21 (f32x4.relaxed_madd (local.get $x) (local.get $b1) (local.get $c21)))
      (local.set $x (v128.load32_splat offset=12 (local.get $xa)))
      (local.set $c30 (f32x4.relaxed_madd (local.get $x) (local.get $b0) (local.get $c30)))
      (local.set $c31 (f32x4.relaxed_madd (local.get $x) (local.get $b1) (local.get $c31)))
      (local.set $xa (i32.add (local.get $xa) (i32.const 16)))
      (local.set $pp (i32.add (local.get $pp) (i32.const 32)))
      (local.set $depth (i32.sub (local.get $depth) (i32.const 1)))
      (br $kkloop)))
    (if (i32.and (i32.ge_s (local.get $rows) (i32.const 4)) (i32.eq (local.get $cols) (i32.const 8)))
      (then
        (call $store8 (local.get $cp) (local.get $c00) (local.get $c01) (local.get $acc))
        (call $store8 (i32.add (local.get $cp) (local.get $ldc)) (local.get $c10) (local.get $c11) (local.get $acc))
        (call $store8 (i32.add (local.get $cp) (i32.shl (local.get $ldc) (i32.const 1))) (local.get $c20) (local.get $c21) (local.get $acc))
        (call $store8 (i32.add (local.get $cp) (i32.mul (local.get $ldc) (i32.const 3))) (local.get $c30) (local.get $c31) (local.get $acc)))
      (else
        (call $store_row (local.get $cp) (local.get $cols) (local.get $c00) (local.get $c01) (local.get $acc))
        (if (i32.gt_s (local.get $rows) (i32.const 1)) (then
          (call $store_row (i32.add (local.get $cp) (local.get $ldc)) (local.get $cols) (local.get $c10) (local.get $c11) (local.get $acc))))
        (if (i32.gt_s (local.get $rows) (i32.const 2)) (then
          (call $store_row (i32.add (local.get $cp) (i32.shl (local.get $ldc) (i32.const 1))) (local.get $cols) (local.get $c20) (local.get $c21) (local.get $acc))))
        (if (i32.gt_s (local.get $rows) (i32.const 3)) (then
          (call $store_row (i32.add (local.get $cp) (i32.mul (local.get $ldc) (i32.const 3))) (local.get $cols) (local.get $c30) (local.get $c31) (local.get $acc)))))))

  ;; gemm, then the epilogue (c = act(c + bias) + residual, as `epilogue`) on the columns of panels
  ;; [p0, p1) for every row: applied by the thread that computed them while they are still in its
  ;; cache, instead of one more pass over C (and one more dispatch) after the product.
  (func (export "gemm_epilogue") (param $ap i32) (param $m i32) (param $packed i32) (param $k i32) (param $n i32)
        (param $c i32) (param $ldc i32) (param $bias i32) (param $res i32) (param $ldr i32) (param $act i32) (param $p0 i32) (param $p1 i32)
    (local $j1 i32)
    (call $gemm (local.get $ap) (local.get $m) (local.get $packed) (local.get $k) (local.get $n) (local.get $c) (local.get $ldc) (local.get $p0) (local.get $p1))
    (local.set $j1 (i32.shl (local.get $p1) (i32.const 3)))
    (if (i32.gt_u (local.get $j1) (local.get $n)) (then (local.set $j1 (local.get $n))))
    (call $epilogue_columns (local.get $c) (local.get $ldc) (i32.shl (local.get $p0) (i32.const 3)) (local.get $j1) (local.get $bias) (local.get $res) (local.get $ldr)
      (local.get $act) (i32.const 0) (local.get $m)))

  ;; Jobs [j0, j1) of a table of gemm calls, nine i32 each (ap, m, packed, k, n, c, ldc, p0, p1): the
  ;; products of a mixture's experts (each its own rows, kept panels and panel range) split across
  ;; the threads as one list, so the experts of a step cost one dispatch, not one each.
  (func (export "gemm_jobs") (param $table i32) (param $j0 i32) (param $j1 i32)
    (local $t i32)
    (block $done (loop $jobs
      (br_if $done (i32.ge_u (local.get $j0) (local.get $j1)))
      (local.set $t (i32.add (local.get $table) (i32.mul (local.get $j0) (i32.const 36))))
      (call $gemm (i32.load (local.get $t)) (i32.load offset=4 (local.get $t)) (i32.load offset=8 (local.get $t))
        (i32.load offset=12 (local.get $t)) (i32.load offset=16 (local.get $t)) (i32.load offset=20 (local.get $t))
        (i32.load offset=24 (local.get $t)) (i32.load offset=28 (local.get $t)) (i32.load offset=32 (local.get $t)))
      (local.set $j0 (i32.add (local.get $j0) (i32.const 1)))
      (br $jobs))))

  ;; Batches [b0, b1) of C[i] = A[i] @ B[i], products too small to split (attention's, one per batch
  ;; and head): each packs its A and B into this thread's scratch and runs the GEMM over every panel,
  ;; so threads split a batched product by batches. A[i] at a + i * sa bytes (rows of lda bytes), B[i]
  ;; ([k, n], or [n, k] when transB) at b + i * sb, C[i] at c + i * sc (rows of n floats); strides may
  ;; be 0 (a broadcast operand).
  (func (export "gemm_batches") (param $a i32) (param $sa i32) (param $lda i32) (param $b i32) (param $sb i32) (param $transB i32)
        (param $c i32) (param $sc i32) (param $m i32) (param $k i32) (param $n i32) (param $scratch i32) (param $b0 i32) (param $b1 i32)
    (local $i i32) (local $panels i32) (local $packedB i32)
    (local.set $panels (i32.shr_u (i32.add (local.get $n) (i32.const 7)) (i32.const 3)))
    (local.set $packedB (i32.add (local.get $scratch) (i32.shl (i32.mul (i32.shr_u (i32.add (local.get $m) (i32.const 3)) (i32.const 2)) (local.get $k)) (i32.const 4))))
    (local.set $i (local.get $b0))
    (block $done (loop $batches
      (br_if $done (i32.ge_u (local.get $i) (local.get $b1)))
      (call $pack_a (i32.add (local.get $a) (i32.mul (local.get $i) (local.get $sa))) (local.get $lda) (local.get $m) (local.get $k) (local.get $scratch)
        (i32.const 0) (i32.shr_u (i32.add (local.get $m) (i32.const 3)) (i32.const 2)))
      (call $pack_panels (i32.add (local.get $b) (i32.mul (local.get $i) (local.get $sb))) (local.get $k) (local.get $n) (local.get $transB) (local.get $packedB)
        (i32.const 0) (local.get $panels))
      (call $gemm (local.get $scratch) (local.get $m) (local.get $packedB) (local.get $k) (local.get $n)
        (i32.add (local.get $c) (i32.mul (local.get $i) (local.get $sc))) (i32.shl (local.get $n) (i32.const 2)) (i32.const 0) (local.get $panels))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $batches))))

  ;; out[j] = x . B[:, j] for the columns of panels [p0, p1): one row of A (decoding) against kept
  ;; panels, read once. Four panels stream at once: four streams keep more of memory's lines in
  ;; flight than one (a 309 MB product on one thread here: 9.2 -> 14.1 GB/s), and their eight
  ;; accumulators break the add chains. The last one to three panels of the range run one at a time
  ;; through the same steps (one chain per half panel, k in order), so a column's sum has the same
  ;; bits however the threads cut the range.
  (func (export "gemv") (param $x i32) (param $packed i32) (param $k i32) (param $n i32) (param $out i32) (param $p0 i32) (param $p1 i32)
    (local $p i32)
    (local.set $p (local.get $p0))
    (block $done (loop $quads
      (br_if $done (i32.gt_u (i32.add (local.get $p) (i32.const 4)) (local.get $p1)))
      (call $gemv_4 (local.get $x) (local.get $packed) (local.get $k) (local.get $n) (local.get $out) (local.get $p))
      (local.set $p (i32.add (local.get $p) (i32.const 4)))
      (br $quads)))
    (block $rest_done (loop $rest
      (br_if $rest_done (i32.ge_u (local.get $p) (local.get $p1)))
      (call $gemv_1 (local.get $x) (local.get $packed) (local.get $k) (local.get $n) (local.get $out) (local.get $p))
      (local.set $p (i32.add (local.get $p) (i32.const 1)))
      (br $rest))))

  (func $gemv_4 (param $x i32) (param $packed i32) (param $k i32) (param $n i32) (param $out i32) (param $p i32)
    (local $xp i32) (local $xend i32) (local $a i32) (local $stride i32) (local $o1 i32) (local $o2 i32) (local $o3 i32) (local $s v128) (local $lo0 v128) (local $hi0 v128) (local $lo1 v128) (local $hi1 v128) (local $lo2 v128) (local $hi2 v128) (local $lo3 v128) (local $hi3 v128)
    (local.set $stride (i32.mul (local.get $k) (i32.const 32)))
    (local.set $o1 (local.get $stride))
    (local.set $o2 (i32.shl (local.get $stride) (i32.const 1)))
    (local.set $o3 (i32.mul (local.get $stride) (i32.const 3)))
    (local.set $a (i32.add (local.get $packed) (i32.mul (local.get $p) (local.get $stride))))
    (local.set $xp (local.get $x))
    (local.set $xend (i32.add (local.get $x) (i32.shl (local.get $k) (i32.const 2))))
    (block $kdone (loop $kloop
      (br_if $kdone (i32.ge_u (local.get $xp) (local.get $xend)))
      (local.set $s (v128.load32_splat (local.get $xp)))
      (local.set $lo0 (f32x4.relaxed_madd (local.get $s) (v128.load (local.get $a)) (local.get $lo0)))
      (local.set $hi0 (f32x4.relaxed_madd (local.get $s) (v128.load offset=16 (local.get $a)) (local.get $hi0)))
      (local.set $lo1 (f32x4.relaxed_madd (local.get $s) (v128.load (i32.add (local.get $a) (local.get $o1))) (local.get $lo1)))
      (local.set $hi1 (f32x4.relaxed_madd (local.get $s) (v128.load offset=16 (i32.add (local.get $a) (local.get $o1))) (local.get $hi1)))
      (local.set $lo2 (f32x4.relaxed_madd (local.get $s) (v128.load (i32.add (local.get $a) (local.get $o2))) (local.get $lo2)))
      (local.set $hi2 (f32x4.relaxed_madd (local.get $s) (v128.load offset=16 (i32.add (local.get $a) (local.get $o2))) (local.get $hi2)))
      (local.set $lo3 (f32x4.relaxed_madd (local.get $s) (v128.load (i32.add (local.get $a) (local.get $o3))) (local.get $lo3)))
      (local.set $hi3 (f32x4.relaxed_madd (local.get $s) (v128.load offset=16 (i32.add (local.get $a) (local.get $o3))) (local.get $hi3)))
      (local.set $xp (i32.add (local.get $xp) (i32.const 4)))
      (local.set $a (i32.add (local.get $a) (i32.const 32)))
      (br $kloop)))
    (call $store_panel (local.get $out) (local.get $p) (local.get $n) (local.get $lo0) (local.get $hi0))
    (call $store_panel (local.get $out) (i32.add (local.get $p) (i32.const 1)) (local.get $n) (local.get $lo1) (local.get $hi1))
    (call $store_panel (local.get $out) (i32.add (local.get $p) (i32.const 2)) (local.get $n) (local.get $lo2) (local.get $hi2))
    (call $store_panel (local.get $out) (i32.add (local.get $p) (i32.const 3)) (local.get $n) (local.get $lo3) (local.get $hi3)))

  (func $gemv_1 (param $x i32) (param $packed i32) (param $k i32) (param $n i32) (param $out i32) (param $p i32)
    (local $xp i32) (local $xend i32) (local $a i32) (local $stride i32) (local $s v128) (local $lo0 v128) (local $hi0 v128)
    (local.set $stride (i32.mul (local.get $k) (i32.const 32)))
    (local.set $a (i32.add (local.get $packed) (i32.mul (local.get $p) (local.get $stride))))
    (local.set $xp (local.get $x))
    (local.set $xend (i32.add (local.get $x) (i32.shl (local.get $k) (i32.const 2))))
    (block $kdone (loop $kloop
      (br_if $kdone (i32.ge_u (local.get $xp) (local.get $xend)))
      (local.set $s (v128.load32_splat (local.get $xp)))
      (local.set $lo0 (f32x4.relaxed_madd (local.get $s) (v128.load (local.get $a)) (local.get $lo0)))
      (local.set $hi0 (f32x4.relaxed_madd (local.get $s) (v128.load offset=16 (local.get $a)) (local.get $hi0)))
      (local.set $xp (i32.add (local.get $xp) (i32.const 4)))
      (local.set $a (i32.add (local.get $a) (i32.const 32)))
      (br $kloop)))
    (call $store_panel (local.get $out) (local.get $p) (local.get $n) (local.get $lo0) (local.get $hi0)))

  ;; gemv on panels stored as bfloat16 (half the bytes per token), four panels at once as gemv: each
  ;; row of 8 weights is one 16-byte load (interleaved by to_bf16), widened to float32 by a shift
  ;; (e0..e3) and a mask (e4..e7).
  (func (export "gemv_bf16") (param $x i32) (param $packed i32) (param $k i32) (param $n i32) (param $out i32) (param $p0 i32) (param $p1 i32)
    (local $p i32)
    (local.set $p (local.get $p0))
    (block $done (loop $quads
      (br_if $done (i32.gt_u (i32.add (local.get $p) (i32.const 4)) (local.get $p1)))
      (call $gemv_bf16_4 (local.get $x) (local.get $packed) (local.get $k) (local.get $n) (local.get $out) (local.get $p))
      (local.set $p (i32.add (local.get $p) (i32.const 4)))
      (br $quads)))
    (block $rest_done (loop $rest
      (br_if $rest_done (i32.ge_u (local.get $p) (local.get $p1)))
      (call $gemv_bf16_1 (local.get $x) (local.get $packed) (local.get $k) (local.get $n) (local.get $out) (local.get $p))
      (local.set $p (i32.add (local.get $p) (i32.const 1)))
      (br $rest))))

  (func $gemv_bf16_4 (param $x i32) (param $packed i32) (param $k i32) (param $n i32) (param $out i32) (param $p i32)
    (local $xp i32) (local $xend i32) (local $a i32) (local $stride i32) (local $o1 i32) (local $o2 i32) (local $o3 i32) (local $s v128) (local $w v128) (local $lo0 v128) (local $hi0 v128) (local $lo1 v128) (local $hi1 v128) (local $lo2 v128) (local $hi2 v128) (local $lo3 v128) (local $hi3 v128)
    (local.set $stride (i32.mul (local.get $k) (i32.const 16)))
    (local.set $o1 (local.get $stride))
    (local.set $o2 (i32.shl (local.get $stride) (i32.const 1)))
    (local.set $o3 (i32.mul (local.get $stride) (i32.const 3)))
    (local.set $a (i32.add (local.get $packed) (i32.mul (local.get $p) (local.get $stride))))
    (local.set $xp (local.get $x))
    (local.set $xend (i32.add (local.get $x) (i32.shl (local.get $k) (i32.const 2))))
    (block $kdone (loop $kloop
      (br_if $kdone (i32.ge_u (local.get $xp) (local.get $xend)))
      (local.set $s (v128.load32_splat (local.get $xp)))
      (local.set $w (v128.load (local.get $a)))
      (local.set $lo0 (f32x4.relaxed_madd (local.get $s) (i32x4.shl (local.get $w) (i32.const 16)) (local.get $lo0)))
      (local.set $hi0 (f32x4.relaxed_madd (local.get $s)
        (v128.and (local.get $w) (v128.const i32x4 0xffff0000 0xffff0000 0xffff0000 0xffff0000)) (local.get $hi0)))
      (local.set $w (v128.load (i32.add (local.get $a) (local.get $o1))))
      (local.set $lo1 (f32x4.relaxed_madd (local.get $s) (i32x4.shl (local.get $w) (i32.const 16)) (local.get $lo1)))
      (local.set $hi1 (f32x4.relaxed_madd (local.get $s)
        (v128.and (local.get $w) (v128.const i32x4 0xffff0000 0xffff0000 0xffff0000 0xffff0000)) (local.get $hi1)))
      (local.set $w (v128.load (i32.add (local.get $a) (local.get $o2))))
      (local.set $lo2 (f32x4.relaxed_madd (local.get $s) (i32x4.shl (local.get $w) (i32.const 16)) (local.get $lo2)))
      (local.set $hi2 (f32x4.relaxed_madd (local.get $s)
        (v128.and (local.get $w) (v128.const i32x4 0xffff0000 0xffff0000 0xffff0000 0xffff0000)) (local.get $hi2)))
      (local.set $w (v128.load (i32.add (local.get $a) (local.get $o3))))
      (local.set $lo3 (f32x4.relaxed_madd (local.get $s) (i32x4.shl (local.get $w) (i32.const 16)) (local.get $lo3)))
      (local.set $hi3 (f32x4.relaxed_madd (local.get $s)
        (v128.and (local.get $w) (v128.const i32x4 0xffff0000 0xffff0000 0xffff0000 0xffff0000)) (local.get $hi3)))
      (local.set $xp (i32.add (local.get $xp) (i32.const 4)))
      (local.set $a (i32.add (local.get $a) (i32.const 16)))
      (br $kloop)))
    (call $store_panel (local.get $out) (local.get $p) (local.get $n) (local.get $lo0) (local.get $hi0))
    (call $store_panel (local.get $out) (i32.add (local.get $p) (i32.const 1)) (local.get $n) (local.get $lo1) (local.get $hi1))
    (call $store_panel (local.get $out) (i32.add (local.get $p) (i32.const 2)) (local.get $n) (local.get $lo2) (local.get $hi2))
    (call $store_panel (local.get $out) (i32.add (local.get $p) (i32.const 3)) (local.get $n) (local.get $lo3) (local.get $hi3)))

  (func $gemv_bf16_1 (param $x i32) (param $packed i32) (param $k i32) (param $n i32) (param $out i32) (param $p i32)
    (local $xp i32) (local $xend i32) (local $a i32) (local $stride i32) (local $s v128) (local $w v128) (local $lo0 v128) (local $hi0 v128)
    (local.set $stride (i32.mul (local.get $k) (i32.const 16)))
    (local.set $a (i32.add (local.get $packed) (i32.mul (local.get $p) (local.get $stride))))
    (local.set $xp (local.get $x))
    (local.set $xend (i32.add (local.get $x) (i32.shl (local.get $k) (i32.const 2))))
    (block $kdone (loop $kloop
      (br_if $kdone (i32.ge_u (local.get $xp) (local.get $xend)))
      (local.set $s (v128.load32_splat (local.get $xp)))
      (local.set $w (v128.load (local.get $a)))
      (local.set $lo0 (f32x4.relaxed_madd (local.get $s) (i32x4.shl (local.get $w) (i32.const 16)) (local.get $lo0)))
      (local.set $hi0 (f32x4.relaxed_madd (local.get $s)
        (v128.and (local.get $w) (v128.const i32x4 0xffff0000 0xffff0000 0xffff0000 0xffff0000)) (local.get $hi0)))
      (local.set $xp (i32.add (local.get $xp) (i32.const 4)))
      (local.set $a (i32.add (local.get $a) (i32.const 16)))
      (br $kloop)))
    (call $store_panel (local.get $out) (local.get $p) (local.get $n) (local.get $lo0) (local.get $hi0)))

  ;; ---------------------------------------------------------------------------------------------
  ;; quantized weights (the q8 / q4 stores)
  ;;
  ;; Panels of 8 columns as for float32, each row of a panel 8 unsigned 8-bit codes (8 bytes) or 8
  ;; 4-bit codes (4 bytes: byte j holds column j in its low nibble and column j + 4 in its high one);
  ;; panel p at packed + p * K * (8 or 4) (K padded to kp, a multiple of 4, in the integer layouts:
  ;; pairs, quads, bytes). Per panel and group of K rows, 8 scales and 8 biases
  ;; (float32, 32 bytes each) at scales / biases + (p * groups + g) * 32; a weight is
  ;; code * scale + bias (bias = -scale * zero point). So a group's part of x . w[:, j] is
  ;; scale_j * (x . codes) + bias_j * sum(x over the group): the kernels take the group sums of x.
  ;; Symmetric codes (no zero points: the zero point is the middle code, 128 or 8) keep no bias
  ;; table: biases is 0 and each kernel makes a group's biases from its scales, so a decoding step
  ;; streams 10% (8 bits) or 17% (4 bits, groups of 32) fewer bytes.
  ;;
  ;; Nibbles on x64: a v128.const inside a loop is built again at each use, and i8x16.shr_u has no
  ;; x86 instruction (V8 spells it in five), so the kernels keep the low-nibble mask in a local and
  ;; take high nibbles as (i16x8.shr_u w 4) & mask: the same bits, a 4-bit loop 1.3-1.5x faster.

  ;; out[j] = x . W[:, j] for the columns of panels [p0, p1) from 8-bit codes (decoding).
  (func (export "gemv_q8") (param $x i32) (param $packed i32) (param $scales i32) (param $biases i32) (param $xsums i32)
        (param $k i32) (param $n i32) (param $group i32) (param $out i32) (param $p0 i32) (param $p1 i32)
    (local $groups i32) (local $p i32) (local $g i32) (local $k1 i32) (local $kk i32) (local $pp i32) (local $xp i32) (local $sp i32) (local $cols i32)
    (local $w v128) (local $h v128) (local $s v128) (local $alo v128) (local $ahi v128) (local $blo v128) (local $bhi v128) (local $olo v128) (local $ohi v128) (local $xs v128) (local $negMiddle v128)
    ;; symmetric codes keep no bias table (biases 0): a bias is -middle * scale, exact (a power of two)
    (local.set $negMiddle (f32x4.splat (f32.const -128)))
    (local.set $groups (i32.div_u (i32.sub (i32.add (local.get $k) (local.get $group)) (i32.const 1)) (local.get $group)))
    (local.set $p (local.get $p0))
    (block $pdone (loop $ploop
      (br_if $pdone (i32.ge_u (local.get $p) (local.get $p1)))
      (local.set $olo (v128.const i32x4 0 0 0 0)) (local.set $ohi (v128.const i32x4 0 0 0 0))
      (local.set $pp (i32.add (local.get $packed) (i32.shl (i32.mul (local.get $p) (local.get $k)) (i32.const 3))))
      (local.set $sp (i32.shl (i32.mul (local.get $p) (local.get $groups)) (i32.const 5)))
      (local.set $xp (local.get $x))
      (local.set $kk (i32.const 0))
      (local.set $g (i32.const 0))
      (block $gdone (loop $gloop
        (br_if $gdone (i32.ge_u (local.get $g) (local.get $groups)))
        (local.set $k1 (i32.add (local.get $kk) (local.get $group)))
        (if (i32.gt_u (local.get $k1) (local.get $k)) (then (local.set $k1 (local.get $k))))
        (local.set $alo (v128.const i32x4 0 0 0 0)) (local.set $ahi (v128.const i32x4 0 0 0 0))
        (local.set $blo (v128.const i32x4 0 0 0 0)) (local.set $bhi (v128.const i32x4 0 0 0 0))
        ;; two rows (16 bytes) a step, two accumulator pairs
        (block $pairs_done (loop $pairs
          (br_if $pairs_done (i32.gt_u (i32.add (local.get $kk) (i32.const 2)) (local.get $k1)))
          (local.set $w (v128.load (local.get $pp)))
          (local.set $h (i16x8.extend_low_i8x16_u (local.get $w)))
          (local.set $s (v128.load32_splat (local.get $xp)))
          (local.set $alo (f32x4.relaxed_madd (local.get $s) (f32x4.convert_i32x4_s (i32x4.extend_low_i16x8_u (local.get $h))) (local.get $alo)))
          (local.set $ahi (f32x4.relaxed_madd (local.get $s) (f32x4.convert_i32x4_s (i32x4.extend_high_i16x8_u (local.get $h))) (local.get $ahi)))
          (local.set $h (i16x8.extend_high_i8x16_u (local.get $w)))
          (local.set $s (v128.load32_splat offset=4 (local.get $xp)))
          (local.set $blo (f32x4.relaxed_madd (local.get $s) (f32x4.convert_i32x4_s (i32x4.extend_low_i16x8_u (local.get $h))) (local.get $blo)))
          (local.set $bhi (f32x4.relaxed_madd (local.get $s) (f32x4.convert_i32x4_s (i32x4.extend_high_i16x8_u (local.get $h))) (local.get $bhi)))
          (local.set $pp (i32.add (local.get $pp) (i32.const 16)))
          (local.set $xp (i32.add (local.get $xp) (i32.const 8)))
          (local.set $kk (i32.add (local.get $kk) (i32.const 2)))
          (br $pairs)))
        (if (i32.lt_u (local.get $kk) (local.get $k1)) (then
          (local.set $h (i16x8.extend_low_i8x16_u (v128.load64_zero (local.get $pp))))
          (local.set $s (v128.load32_splat (local.get $xp)))
          (local.set $alo (f32x4.relaxed_madd (local.get $s) (f32x4.convert_i32x4_s (i32x4.extend_low_i16x8_u (local.get $h))) (local.get $alo)))
          (local.set $ahi (f32x4.relaxed_madd (local.get $s) (f32x4.convert_i32x4_s (i32x4.extend_high_i16x8_u (local.get $h))) (local.get $ahi)))
          (local.set $pp (i32.add (local.get $pp) (i32.const 8)))
          (local.set $xp (i32.add (local.get $xp) (i32.const 4)))
          (local.set $kk (i32.add (local.get $kk) (i32.const 1)))))
        (local.set $xs (v128.load32_splat (i32.add (local.get $xsums) (i32.shl (local.get $g) (i32.const 2)))))
        (local.set $olo (f32x4.relaxed_madd (f32x4.add (local.get $alo) (local.get $blo)) (v128.load (i32.add (local.get $scales) (local.get $sp))) (local.get $olo)))
        (local.set $ohi (f32x4.relaxed_madd (f32x4.add (local.get $ahi) (local.get $bhi)) (v128.load offset=16 (i32.add (local.get $scales) (local.get $sp))) (local.get $ohi)))
        (local.set $olo (f32x4.relaxed_madd (local.get $xs) (if (result v128) (local.get $biases) (then (v128.load (i32.add (local.get $biases) (local.get $sp)))) (else (f32x4.mul (v128.load (i32.add (local.get $scales) (local.get $sp))) (local.get $negMiddle)))) (local.get $olo)))
        (local.set $ohi (f32x4.relaxed_madd (local.get $xs) (if (result v128) (local.get $biases) (then (v128.load offset=16 (i32.add (local.get $biases) (local.get $sp)))) (else (f32x4.mul (v128.load offset=16 (i32.add (local.get $scales) (local.get $sp))) (local.get $negMiddle)))) (local.get $ohi)))
        (local.set $sp (i32.add (local.get $sp) (i32.const 32)))
        (local.set $g (i32.add (local.get $g) (i32.const 1)))
        (br $gloop)))
      (call $store_panel (local.get $out) (local.get $p) (local.get $n) (local.get $olo) (local.get $ohi))
      (local.set $p (i32.add (local.get $p) (i32.const 1)))
      (br $ploop))))

  ;; gemv_q8 from 4-bit codes: four rows (16 bytes) a step; the low nibbles are columns 0-3 of the
  ;; four rows, the high nibbles columns 4-7.
  (func (export "gemv_q4") (param $x i32) (param $packed i32) (param $scales i32) (param $biases i32) (param $xsums i32)
        (param $k i32) (param $n i32) (param $group i32) (param $out i32) (param $p0 i32) (param $p1 i32)
    (local $groups i32) (local $p i32) (local $g i32) (local $k1 i32) (local $kk i32) (local $pp i32) (local $xp i32) (local $sp i32)
    (local $w v128) (local $lo v128) (local $hi v128) (local $l v128) (local $h v128) (local $s v128)
    (local $alo v128) (local $ahi v128) (local $blo v128) (local $bhi v128) (local $olo v128) (local $ohi v128) (local $xs v128) (local $negMiddle v128) (local $lowNibbles v128)
    ;; the low-nibble mask in a local (nibbles on x64, above)
    (local.set $lowNibbles (v128.const i8x16 15 15 15 15 15 15 15 15 15 15 15 15 15 15 15 15))
    ;; symmetric codes keep no bias table (biases 0): a bias is -middle * scale, exact (a power of two)
    (local.set $negMiddle (f32x4.splat (f32.const -8)))
    (local.set $groups (i32.div_u (i32.sub (i32.add (local.get $k) (local.get $group)) (i32.const 1)) (local.get $group)))
    (local.set $p (local.get $p0))
    (block $pdone (loop $ploop
      (br_if $pdone (i32.ge_u (local.get $p) (local.get $p1)))
      (local.set $olo (v128.const i32x4 0 0 0 0)) (local.set $ohi (v128.const i32x4 0 0 0 0))
      (local.set $pp (i32.add (local.get $packed) (i32.shl (i32.mul (local.get $p) (local.get $k)) (i32.const 2))))
      (local.set $sp (i32.shl (i32.mul (local.get $p) (local.get $groups)) (i32.const 5)))
      (local.set $xp (local.get $x))
      (local.set $kk (i32.const 0))
      (local.set $g (i32.const 0))
      (block $gdone (loop $gloop
        (br_if $gdone (i32.ge_u (local.get $g) (local.get $groups)))
        (local.set $k1 (i32.add (local.get $kk) (local.get $group)))
        (if (i32.gt_u (local.get $k1) (local.get $k)) (then (local.set $k1 (local.get $k))))
        (local.set $alo (v128.const i32x4 0 0 0 0)) (local.set $ahi (v128.const i32x4 0 0 0 0))
        (local.set $blo (v128.const i32x4 0 0 0 0)) (local.set $bhi (v128.const i32x4 0 0 0 0))
        (block $quads_done (loop $quads
          (br_if $quads_done (i32.gt_u (i32.add (local.get $kk) (i32.const 4)) (local.get $k1)))
          (local.set $w (v128.load (local.get $pp)))
          (local.set $lo (v128.and (local.get $w) (local.get $lowNibbles)))
          (local.set $hi (v128.and (i16x8.shr_u (local.get $w) (i32.const 4)) (local.get $lowNibbles)))
          ;; rows 0 and 1
          (local.set $l (i16x8.extend_low_i8x16_u (local.get $lo)))
          (local.set $h (i16x8.extend_low_i8x16_u (local.get $hi)))
          (local.set $s (v128.load32_splat (local.get $xp)))
          (local.set $alo (f32x4.relaxed_madd (local.get $s) (f32x4.convert_i32x4_s (i32x4.extend_low_i16x8_u (local.get $l))) (local.get $alo)))
          (local.set $ahi (f32x4.relaxed_madd (local.get $s) (f32x4.convert_i32x4_s (i32x4.extend_low_i16x8_u (local.get $h))) (local.get $ahi)))
          (local.set $s (v128.load32_splat offset=4 (local.get $xp)))
          (local.set $blo (f32x4.relaxed_madd (local.get $s) (f32x4.convert_i32x4_s (i32x4.extend_high_i16x8_u (local.get $l))) (local.get $blo)))
          (local.set $bhi (f32x4.relaxed_madd (local.get $s) (f32x4.convert_i32x4_s (i32x4.extend_high_i16x8_u (local.get $h))) (local.get $bhi)))
          ;; rows 2 and 3
          (local.set $l (i16x8.extend_high_i8x16_u (local.get $lo)))
          (local.set $h (i16x8.extend_high_i8x16_u (local.get $hi)))
          (local.set $s (v128.load32_splat offset=8 (local.get $xp)))
          (local.set $alo (f32x4.relaxed_madd (local.get $s) (f32x4.convert_i32x4_s (i32x4.extend_low_i16x8_u (local.get $l))) (local.get $alo)))
          (local.set $ahi (f32x4.relaxed_madd (local.get $s) (f32x4.convert_i32x4_s (i32x4.extend_low_i16x8_u (local.get $h))) (local.get $ahi)))
          (local.set $s (v128.load32_splat offset=12 (local.get $xp)))
          (local.set $blo (f32x4.relaxed_madd (local.get $s) (f32x4.convert_i32x4_s (i32x4.extend_high_i16x8_u (local.get $l))) (local.get $blo)))
          (local.set $bhi (f32x4.relaxed_madd (local.get $s) (f32x4.convert_i32x4_s (i32x4.extend_high_i16x8_u (local.get $h))) (local.get $bhi)))
          (local.set $pp (i32.add (local.get $pp) (i32.const 16)))
          (local.set $xp (i32.add (local.get $xp) (i32.const 16)))
          (local.set $kk (i32.add (local.get $kk) (i32.const 4)))
          (br $quads)))
        (block $rows_done (loop $rows
          (br_if $rows_done (i32.ge_u (local.get $kk) (local.get $k1)))
          (local.set $w (v128.load32_zero (local.get $pp)))
          (local.set $l (i16x8.extend_low_i8x16_u (v128.and (local.get $w) (local.get $lowNibbles))))
          (local.set $h (i16x8.extend_low_i8x16_u (v128.and (i16x8.shr_u (local.get $w) (i32.const 4)) (local.get $lowNibbles))))
          (local.set $s (v128.load32_splat (local.get $xp)))
          (local.set $alo (f32x4.relaxed_madd (local.get $s) (f32x4.convert_i32x4_s (i32x4.extend_low_i16x8_u (local.get $l))) (local.get $alo)))
          (local.set $ahi (f32x4.relaxed_madd (local.get $s) (f32x4.convert_i32x4_s (i32x4.extend_low_i16x8_u (local.get $h))) (local.get $ahi)))
          (local.set $pp (i32.add (local.get $pp) (i32.const 4)))
          (local.set $xp (i32.add (local.get $xp) (i32.const 4)))
          (local.set $kk (i32.add (local.get $kk) (i32.const 1)))
          (br $rows)))
        (local.set $xs (v128.load32_splat (i32.add (local.get $xsums) (i32.shl (local.get $g) (i32.const 2)))))
        (local.set $olo (f32x4.relaxed_madd (f32x4.add (local.get $alo) (local.get $blo)) (v128.load (i32.add (local.get $scales) (local.get $sp))) (local.get $olo)))
        (local.set $ohi (f32x4.relaxed_madd (f32x4.add (local.get $ahi) (local.get $bhi)) (v128.load offset=16 (i32.add (local.get $scales) (local.get $sp))) (local.get $ohi)))
        (local.set $olo (f32x4.relaxed_madd (local.get $xs) (if (result v128) (local.get $biases) (then (v128.load (i32.add (local.get $biases) (local.get $sp)))) (else (f32x4.mul (v128.load (i32.add (local.get $scales) (local.get $sp))) (local.get $negMiddle)))) (local.get $olo)))
        (local.set $ohi (f32x4.relaxed_madd (local.get $xs) (if (result v128) (local.get $biases) (then (v128.load offset=16 (i32.add (local.get $biases) (local.get $sp)))) (else (f32x4.mul (v128.load offset=16 (i32.add (local.get $scales) (local.get $sp))) (local.get $negMiddle)))) (local.get $ohi)))
        (local.set $sp (i32.add (local.get $sp) (i32.const 32)))
        (local.set $g (i32.add (local.get $g) (i32.const 1)))
        (br $gloop)))
      (call $store_panel (local.get $out) (local.get $p) (local.get $n) (local.get $olo) (local.get $ohi))
      (local.set $p (i32.add (local.get $p) (i32.const 1)))
      (br $ploop))))

  ;; The pairs layout (int8 activations): K padded to a multiple of 4; at 8 bits each 16 bytes hold
  ;; two rows, column by column ([c0 k, c0 k+1, c1 k, c1 k+1, ...]); at 4 bits each 16 bytes hold
  ;; four rows, rows k, k+1 in the low nibbles and k+2, k+3 in the high ones, in the same order. A
  ;; byte pair widened to i16 is what i32x4.dot_i16x8_s multiplies by a pair of int8 activations.

  ;; out[j] = x . W[:, j] for the columns of panels [p0, p1) from int8 activations (decoding): xq the
  ;; row's integers (i16, kp of them, zero past K), xs and xsum each group's scale and sum of
  ;; integers; a group's integer dot product is exact, then scaled once: xs (scale acc + bias xsum).
  ;; Four panels stream at once, as in gemv; the last one to three of the range run one at a time
  ;; through the same steps (the same bits however the threads cut the range).
  (func (export "gemv_i8") (param $xq i32) (param $xs i32) (param $xsum i32) (param $packed i32) (param $scales i32) (param $biases i32)
        (param $kp i32) (param $n i32) (param $group i32) (param $bits i32) (param $out i32) (param $p0 i32) (param $p1 i32)
    (local $p i32)
    ;; whole quads of rows per group and in all (productLayout): the loops below step by them
    (if (i32.and (i32.or (local.get $kp) (local.get $group)) (i32.const 3)) (then unreachable))
    (local.set $p (local.get $p0))
    (block $done (loop $fours
      (br_if $done (i32.gt_u (i32.add (local.get $p) (i32.const 4)) (local.get $p1)))
      (call $gemv_i8_4 (local.get $xq) (local.get $xs) (local.get $xsum) (local.get $packed) (local.get $scales) (local.get $biases)
        (local.get $kp) (local.get $n) (local.get $group) (local.get $bits) (local.get $out) (local.get $p))
      (local.set $p (i32.add (local.get $p) (i32.const 4)))
      (br $fours)))
    (block $rest_done (loop $rest
      (br_if $rest_done (i32.ge_u (local.get $p) (local.get $p1)))
      (call $gemv_i8_1 (local.get $xq) (local.get $xs) (local.get $xsum) (local.get $packed) (local.get $scales) (local.get $biases)
        (local.get $kp) (local.get $n) (local.get $group) (local.get $bits) (local.get $out) (local.get $p))
      (local.set $p (i32.add (local.get $p) (i32.const 1)))
      (br $rest))))

  ;; gemv_i8's panels p .. p + 3
  (func $gemv_i8_4 (param $xq i32) (param $xs i32) (param $xsum i32) (param $packed i32) (param $scales i32) (param $biases i32)
        (param $kp i32) (param $n i32) (param $group i32) (param $bits i32) (param $out i32) (param $p i32)
    (local $groups i32) (local $g i32) (local $k1 i32) (local $kk i32) (local $pp i32) (local $sp i32) (local $stride i32) (local $tstride i32) (local $o1 i32) (local $o2 i32) (local $o3 i32) (local $t1 i32) (local $t2 i32) (local $t3 i32)
    (local $w v128) (local $a v128) (local $b v128) (local $x v128) (local $y v128) (local $sc v128) (local $bi v128)
    (local $xsv v128) (local $sumv v128) (local $negMiddle v128) (local $lowNibbles v128) (local $ilo0 v128) (local $ihi0 v128) (local $olo0 v128) (local $ohi0 v128) (local $ilo1 v128) (local $ihi1 v128) (local $olo1 v128) (local $ohi1 v128) (local $ilo2 v128) (local $ihi2 v128) (local $olo2 v128) (local $ohi2 v128) (local $ilo3 v128) (local $ihi3 v128) (local $olo3 v128) (local $ohi3 v128)
    ;; the low-nibble mask in a local (nibbles on x64, above)
    (local.set $lowNibbles (v128.const i8x16 15 15 15 15 15 15 15 15 15 15 15 15 15 15 15 15))
    ;; symmetric codes keep no bias table (biases 0): a bias is -middle * scale, exact (a power of two)
    (local.set $negMiddle (f32x4.splat (select (f32.const -128) (f32.const -8) (i32.eq (local.get $bits) (i32.const 8)))))
    (local.set $groups (i32.div_u (i32.sub (i32.add (local.get $kp) (local.get $group)) (i32.const 1)) (local.get $group)))
    ;; panel p + j's codes at pp + j stride, its scales (and biases) at sp + j tstride
    (local.set $stride (i32.mul (local.get $kp) (select (i32.const 8) (i32.const 4) (i32.eq (local.get $bits) (i32.const 8)))))
    (local.set $tstride (i32.shl (local.get $groups) (i32.const 5)))
    (local.set $o1 (local.get $stride)) (local.set $o2 (i32.shl (local.get $stride) (i32.const 1))) (local.set $o3 (i32.mul (local.get $stride) (i32.const 3)))
    (local.set $t1 (local.get $tstride)) (local.set $t2 (i32.shl (local.get $tstride) (i32.const 1))) (local.set $t3 (i32.mul (local.get $tstride) (i32.const 3)))
    (local.set $pp (i32.add (local.get $packed) (i32.mul (local.get $p) (local.get $stride))))
    (local.set $sp (i32.mul (local.get $p) (local.get $tstride)))
    (block $gdone (loop $gloop
      (br_if $gdone (i32.ge_u (local.get $g) (local.get $groups)))
      (local.set $k1 (i32.add (local.get $kk) (local.get $group)))
      (if (i32.gt_u (local.get $k1) (local.get $kp)) (then (local.set $k1 (local.get $kp))))
      (local.set $ilo0 (v128.const i32x4 0 0 0 0)) (local.set $ihi0 (v128.const i32x4 0 0 0 0))
      (local.set $ilo1 (v128.const i32x4 0 0 0 0)) (local.set $ihi1 (v128.const i32x4 0 0 0 0))
      (local.set $ilo2 (v128.const i32x4 0 0 0 0)) (local.set $ihi2 (v128.const i32x4 0 0 0 0))
      (local.set $ilo3 (v128.const i32x4 0 0 0 0)) (local.set $ihi3 (v128.const i32x4 0 0 0 0))
      (if (i32.eq (local.get $bits) (i32.const 8))
        (then
          ;; two pairs of rows a turn (32 bytes a panel): groups and kp hold whole quads of rows here
          ;; (checked on entry); integer sums, so the order changes no bit. Each half of 16 bytes
          ;; loaded widened (v128.load8x8_u, one pmovzxbw from memory: 1.2x the loop's speed from cache)
          (block $done8 (loop $rows8
            (br_if $done8 (i32.gt_u (i32.add (local.get $kk) (i32.const 4)) (local.get $k1)))
            (local.set $x (v128.load32_splat (i32.add (local.get $xq) (i32.shl (local.get $kk) (i32.const 1)))))
            (local.set $y (v128.load32_splat offset=4 (i32.add (local.get $xq) (i32.shl (local.get $kk) (i32.const 1)))))
            (local.set $ilo0 (i32x4.add (local.get $ilo0) (i32x4.add
              (i32x4.dot_i16x8_s (v128.load8x8_u (local.get $pp)) (local.get $x))
              (i32x4.dot_i16x8_s (v128.load8x8_u offset=16 (local.get $pp)) (local.get $y)))))
            (local.set $ihi0 (i32x4.add (local.get $ihi0) (i32x4.add
              (i32x4.dot_i16x8_s (v128.load8x8_u offset=8 (local.get $pp)) (local.get $x))
              (i32x4.dot_i16x8_s (v128.load8x8_u offset=24 (local.get $pp)) (local.get $y)))))
            (local.set $ilo1 (i32x4.add (local.get $ilo1) (i32x4.add
              (i32x4.dot_i16x8_s (v128.load8x8_u (i32.add (local.get $pp) (local.get $o1))) (local.get $x))
              (i32x4.dot_i16x8_s (v128.load8x8_u offset=16 (i32.add (local.get $pp) (local.get $o1))) (local.get $y)))))
            (local.set $ihi1 (i32x4.add (local.get $ihi1) (i32x4.add
              (i32x4.dot_i16x8_s (v128.load8x8_u offset=8 (i32.add (local.get $pp) (local.get $o1))) (local.get $x))
              (i32x4.dot_i16x8_s (v128.load8x8_u offset=24 (i32.add (local.get $pp) (local.get $o1))) (local.get $y)))))
            (local.set $ilo2 (i32x4.add (local.get $ilo2) (i32x4.add
              (i32x4.dot_i16x8_s (v128.load8x8_u (i32.add (local.get $pp) (local.get $o2))) (local.get $x))
              (i32x4.dot_i16x8_s (v128.load8x8_u offset=16 (i32.add (local.get $pp) (local.get $o2))) (local.get $y)))))
            (local.set $ihi2 (i32x4.add (local.get $ihi2) (i32x4.add
              (i32x4.dot_i16x8_s (v128.load8x8_u offset=8 (i32.add (local.get $pp) (local.get $o2))) (local.get $x))
              (i32x4.dot_i16x8_s (v128.load8x8_u offset=24 (i32.add (local.get $pp) (local.get $o2))) (local.get $y)))))
            (local.set $ilo3 (i32x4.add (local.get $ilo3) (i32x4.add
              (i32x4.dot_i16x8_s (v128.load8x8_u (i32.add (local.get $pp) (local.get $o3))) (local.get $x))
              (i32x4.dot_i16x8_s (v128.load8x8_u offset=16 (i32.add (local.get $pp) (local.get $o3))) (local.get $y)))))
            (local.set $ihi3 (i32x4.add (local.get $ihi3) (i32x4.add
              (i32x4.dot_i16x8_s (v128.load8x8_u offset=8 (i32.add (local.get $pp) (local.get $o3))) (local.get $x))
              (i32x4.dot_i16x8_s (v128.load8x8_u offset=24 (i32.add (local.get $pp) (local.get $o3))) (local.get $y)))))
            (local.set $pp (i32.add (local.get $pp) (i32.const 32)))
            (local.set $kk (i32.add (local.get $kk) (i32.const 4)))
            (br $rows8))))
        (else
          (block $done4 (loop $rows4
            (br_if $done4 (i32.ge_u (local.get $kk) (local.get $k1)))
            (local.set $x (v128.load32_splat (i32.add (local.get $xq) (i32.shl (local.get $kk) (i32.const 1)))))
            (local.set $y (v128.load32_splat offset=4 (i32.add (local.get $xq) (i32.shl (local.get $kk) (i32.const 1)))))
            (local.set $w (v128.load (local.get $pp)))
            (local.set $a (v128.and (local.get $w) (local.get $lowNibbles)))
            (local.set $b (v128.and (i16x8.shr_u (local.get $w) (i32.const 4)) (local.get $lowNibbles)))
            (local.set $ilo0 (i32x4.add (local.get $ilo0) (i32x4.add
              (i32x4.dot_i16x8_s (i16x8.extend_low_i8x16_u (local.get $a)) (local.get $x))
              (i32x4.dot_i16x8_s (i16x8.extend_low_i8x16_u (local.get $b)) (local.get $y)))))
            (local.set $ihi0 (i32x4.add (local.get $ihi0) (i32x4.add
              (i32x4.dot_i16x8_s (i16x8.extend_high_i8x16_u (local.get $a)) (local.get $x))
              (i32x4.dot_i16x8_s (i16x8.extend_high_i8x16_u (local.get $b)) (local.get $y)))))
            (local.set $w (v128.load (i32.add (local.get $pp) (local.get $o1))))
            (local.set $a (v128.and (local.get $w) (local.get $lowNibbles)))
            (local.set $b (v128.and (i16x8.shr_u (local.get $w) (i32.const 4)) (local.get $lowNibbles)))
            (local.set $ilo1 (i32x4.add (local.get $ilo1) (i32x4.add
              (i32x4.dot_i16x8_s (i16x8.extend_low_i8x16_u (local.get $a)) (local.get $x))
              (i32x4.dot_i16x8_s (i16x8.extend_low_i8x16_u (local.get $b)) (local.get $y)))))
            (local.set $ihi1 (i32x4.add (local.get $ihi1) (i32x4.add
              (i32x4.dot_i16x8_s (i16x8.extend_high_i8x16_u (local.get $a)) (local.get $x))
              (i32x4.dot_i16x8_s (i16x8.extend_high_i8x16_u (local.get $b)) (local.get $y)))))
            (local.set $w (v128.load (i32.add (local.get $pp) (local.get $o2))))
            (local.set $a (v128.and (local.get $w) (local.get $lowNibbles)))
            (local.set $b (v128.and (i16x8.shr_u (local.get $w) (i32.const 4)) (local.get $lowNibbles)))
            (local.set $ilo2 (i32x4.add (local.get $ilo2) (i32x4.add
              (i32x4.dot_i16x8_s (i16x8.extend_low_i8x16_u (local.get $a)) (local.get $x))
              (i32x4.dot_i16x8_s (i16x8.extend_low_i8x16_u (local.get $b)) (local.get $y)))))
            (local.set $ihi2 (i32x4.add (local.get $ihi2) (i32x4.add
              (i32x4.dot_i16x8_s (i16x8.extend_high_i8x16_u (local.get $a)) (local.get $x))
              (i32x4.dot_i16x8_s (i16x8.extend_high_i8x16_u (local.get $b)) (local.get $y)))))
            (local.set $w (v128.load (i32.add (local.get $pp) (local.get $o3))))
            (local.set $a (v128.and (local.get $w) (local.get $lowNibbles)))
            (local.set $b (v128.and (i16x8.shr_u (local.get $w) (i32.const 4)) (local.get $lowNibbles)))
            (local.set $ilo3 (i32x4.add (local.get $ilo3) (i32x4.add
              (i32x4.dot_i16x8_s (i16x8.extend_low_i8x16_u (local.get $a)) (local.get $x))
              (i32x4.dot_i16x8_s (i16x8.extend_low_i8x16_u (local.get $b)) (local.get $y)))))
            (local.set $ihi3 (i32x4.add (local.get $ihi3) (i32x4.add
              (i32x4.dot_i16x8_s (i16x8.extend_high_i8x16_u (local.get $a)) (local.get $x))
              (i32x4.dot_i16x8_s (i16x8.extend_high_i8x16_u (local.get $b)) (local.get $y)))))
            (local.set $pp (i32.add (local.get $pp) (i32.const 16)))
            (local.set $kk (i32.add (local.get $kk) (i32.const 4)))
            (br $rows4)))))
      ;; out += xs (scale acc + bias xsum), per panel
      (local.set $xsv (v128.load32_splat (i32.add (local.get $xs) (i32.shl (local.get $g) (i32.const 2)))))
      (local.set $sumv (v128.load32_splat (i32.add (local.get $xsum) (i32.shl (local.get $g) (i32.const 2)))))
      (local.set $sc (v128.load (i32.add (local.get $scales) (local.get $sp))))
      (local.set $bi (if (result v128) (local.get $biases) (then (v128.load (i32.add (local.get $biases) (local.get $sp)))) (else (f32x4.mul (local.get $sc) (local.get $negMiddle)))))
      (local.set $olo0 (f32x4.relaxed_madd (local.get $xsv)
        (f32x4.relaxed_madd (f32x4.convert_i32x4_s (local.get $ilo0)) (local.get $sc) (f32x4.mul (local.get $sumv) (local.get $bi))) (local.get $olo0)))
      (local.set $sc (v128.load offset=16 (i32.add (local.get $scales) (local.get $sp))))
      (local.set $bi (if (result v128) (local.get $biases) (then (v128.load offset=16 (i32.add (local.get $biases) (local.get $sp)))) (else (f32x4.mul (local.get $sc) (local.get $negMiddle)))))
      (local.set $ohi0 (f32x4.relaxed_madd (local.get $xsv)
        (f32x4.relaxed_madd (f32x4.convert_i32x4_s (local.get $ihi0)) (local.get $sc) (f32x4.mul (local.get $sumv) (local.get $bi))) (local.get $ohi0)))
      (local.set $sc (v128.load (i32.add (local.get $scales) (i32.add (local.get $sp) (local.get $t1)))))
      (local.set $bi (if (result v128) (local.get $biases) (then (v128.load (i32.add (local.get $biases) (i32.add (local.get $sp) (local.get $t1))))) (else (f32x4.mul (local.get $sc) (local.get $negMiddle)))))
      (local.set $olo1 (f32x4.relaxed_madd (local.get $xsv)
        (f32x4.relaxed_madd (f32x4.convert_i32x4_s (local.get $ilo1)) (local.get $sc) (f32x4.mul (local.get $sumv) (local.get $bi))) (local.get $olo1)))
      (local.set $sc (v128.load offset=16 (i32.add (local.get $scales) (i32.add (local.get $sp) (local.get $t1)))))
      (local.set $bi (if (result v128) (local.get $biases) (then (v128.load offset=16 (i32.add (local.get $biases) (i32.add (local.get $sp) (local.get $t1))))) (else (f32x4.mul (local.get $sc) (local.get $negMiddle)))))
      (local.set $ohi1 (f32x4.relaxed_madd (local.get $xsv)
        (f32x4.relaxed_madd (f32x4.convert_i32x4_s (local.get $ihi1)) (local.get $sc) (f32x4.mul (local.get $sumv) (local.get $bi))) (local.get $ohi1)))
      (local.set $sc (v128.load (i32.add (local.get $scales) (i32.add (local.get $sp) (local.get $t2)))))
      (local.set $bi (if (result v128) (local.get $biases) (then (v128.load (i32.add (local.get $biases) (i32.add (local.get $sp) (local.get $t2))))) (else (f32x4.mul (local.get $sc) (local.get $negMiddle)))))
      (local.set $olo2 (f32x4.relaxed_madd (local.get $xsv)
        (f32x4.relaxed_madd (f32x4.convert_i32x4_s (local.get $ilo2)) (local.get $sc) (f32x4.mul (local.get $sumv) (local.get $bi))) (local.get $olo2)))
      (local.set $sc (v128.load offset=16 (i32.add (local.get $scales) (i32.add (local.get $sp) (local.get $t2)))))
      (local.set $bi (if (result v128) (local.get $biases) (then (v128.load offset=16 (i32.add (local.get $biases) (i32.add (local.get $sp) (local.get $t2))))) (else (f32x4.mul (local.get $sc) (local.get $negMiddle)))))
      (local.set $ohi2 (f32x4.relaxed_madd (local.get $xsv)
        (f32x4.relaxed_madd (f32x4.convert_i32x4_s (local.get $ihi2)) (local.get $sc) (f32x4.mul (local.get $sumv) (local.get $bi))) (local.get $ohi2)))
      (local.set $sc (v128.load (i32.add (local.get $scales) (i32.add (local.get $sp) (local.get $t3)))))
      (local.set $bi (if (result v128) (local.get $biases) (then (v128.load (i32.add (local.get $biases) (i32.add (local.get $sp) (local.get $t3))))) (else (f32x4.mul (local.get $sc) (local.get $negMiddle)))))
      (local.set $olo3 (f32x4.relaxed_madd (local.get $xsv)
        (f32x4.relaxed_madd (f32x4.convert_i32x4_s (local.get $ilo3)) (local.get $sc) (f32x4.mul (local.get $sumv) (local.get $bi))) (local.get $olo3)))
      (local.set $sc (v128.load offset=16 (i32.add (local.get $scales) (i32.add (local.get $sp) (local.get $t3)))))
      (local.set $bi (if (result v128) (local.get $biases) (then (v128.load offset=16 (i32.add (local.get $biases) (i32.add (local.get $sp) (local.get $t3))))) (else (f32x4.mul (local.get $sc) (local.get $negMiddle)))))
      (local.set $ohi3 (f32x4.relaxed_madd (local.get $xsv)
        (f32x4.relaxed_madd (f32x4.convert_i32x4_s (local.get $ihi3)) (local.get $sc) (f32x4.mul (local.get $sumv) (local.get $bi))) (local.get $ohi3)))
      (local.set $sp (i32.add (local.get $sp) (i32.const 32)))
      (local.set $g (i32.add (local.get $g) (i32.const 1)))
      (br $gloop)))
    (call $store_panel (local.get $out) (local.get $p) (local.get $n) (local.get $olo0) (local.get $ohi0))
    (call $store_panel (local.get $out) (i32.add (local.get $p) (i32.const 1)) (local.get $n) (local.get $olo1) (local.get $ohi1))
    (call $store_panel (local.get $out) (i32.add (local.get $p) (i32.const 2)) (local.get $n) (local.get $olo2) (local.get $ohi2))
    (call $store_panel (local.get $out) (i32.add (local.get $p) (i32.const 3)) (local.get $n) (local.get $olo3) (local.get $ohi3)))

  ;; gemv_i8's panel p alone
  (func $gemv_i8_1 (param $xq i32) (param $xs i32) (param $xsum i32) (param $packed i32) (param $scales i32) (param $biases i32)
        (param $kp i32) (param $n i32) (param $group i32) (param $bits i32) (param $out i32) (param $p i32)
    (local $groups i32) (local $g i32) (local $k1 i32) (local $kk i32) (local $pp i32) (local $sp i32) (local $stride i32) (local $tstride i32)
    (local $w v128) (local $a v128) (local $b v128) (local $x v128) (local $y v128) (local $sc v128) (local $bi v128)
    (local $xsv v128) (local $sumv v128) (local $negMiddle v128) (local $lowNibbles v128) (local $ilo0 v128) (local $ihi0 v128) (local $olo0 v128) (local $ohi0 v128)
    ;; the low-nibble mask in a local (nibbles on x64, above)
    (local.set $lowNibbles (v128.const i8x16 15 15 15 15 15 15 15 15 15 15 15 15 15 15 15 15))
    ;; symmetric codes keep no bias table (biases 0): a bias is -middle * scale, exact (a power of two)
    (local.set $negMiddle (f32x4.splat (select (f32.const -128) (f32.const -8) (i32.eq (local.get $bits) (i32.const 8)))))
    (local.set $groups (i32.div_u (i32.sub (i32.add (local.get $kp) (local.get $group)) (i32.const 1)) (local.get $group)))
    ;; panel p + j's codes at pp + j stride, its scales (and biases) at sp + j tstride
    (local.set $stride (i32.mul (local.get $kp) (select (i32.const 8) (i32.const 4) (i32.eq (local.get $bits) (i32.const 8)))))
    (local.set $tstride (i32.shl (local.get $groups) (i32.const 5)))
    (local.set $pp (i32.add (local.get $packed) (i32.mul (local.get $p) (local.get $stride))))
    (local.set $sp (i32.mul (local.get $p) (local.get $tstride)))
    (block $gdone (loop $gloop
      (br_if $gdone (i32.ge_u (local.get $g) (local.get $groups)))
      (local.set $k1 (i32.add (local.get $kk) (local.get $group)))
      (if (i32.gt_u (local.get $k1) (local.get $kp)) (then (local.set $k1 (local.get $kp))))
      (local.set $ilo0 (v128.const i32x4 0 0 0 0)) (local.set $ihi0 (v128.const i32x4 0 0 0 0))
      (if (i32.eq (local.get $bits) (i32.const 8))
        (then
          ;; two pairs of rows a turn (32 bytes a panel): groups and kp hold whole quads of rows here
          ;; (checked on entry); integer sums, so the order changes no bit. Each half of 16 bytes
          ;; loaded widened (v128.load8x8_u, one pmovzxbw from memory: 1.2x the loop's speed from cache)
          (block $done8 (loop $rows8
            (br_if $done8 (i32.gt_u (i32.add (local.get $kk) (i32.const 4)) (local.get $k1)))
            (local.set $x (v128.load32_splat (i32.add (local.get $xq) (i32.shl (local.get $kk) (i32.const 1)))))
            (local.set $y (v128.load32_splat offset=4 (i32.add (local.get $xq) (i32.shl (local.get $kk) (i32.const 1)))))
            (local.set $ilo0 (i32x4.add (local.get $ilo0) (i32x4.add
              (i32x4.dot_i16x8_s (v128.load8x8_u (local.get $pp)) (local.get $x))
              (i32x4.dot_i16x8_s (v128.load8x8_u offset=16 (local.get $pp)) (local.get $y)))))
            (local.set $ihi0 (i32x4.add (local.get $ihi0) (i32x4.add
              (i32x4.dot_i16x8_s (v128.load8x8_u offset=8 (local.get $pp)) (local.get $x))
              (i32x4.dot_i16x8_s (v128.load8x8_u offset=24 (local.get $pp)) (local.get $y)))))
            (local.set $pp (i32.add (local.get $pp) (i32.const 32)))
            (local.set $kk (i32.add (local.get $kk) (i32.const 4)))
            (br $rows8))))
        (else
          (block $done4 (loop $rows4
            (br_if $done4 (i32.ge_u (local.get $kk) (local.get $k1)))
            (local.set $x (v128.load32_splat (i32.add (local.get $xq) (i32.shl (local.get $kk) (i32.const 1)))))
            (local.set $y (v128.load32_splat offset=4 (i32.add (local.get $xq) (i32.shl (local.get $kk) (i32.const 1)))))
            (local.set $w (v128.load (local.get $pp)))
            (local.set $a (v128.and (local.get $w) (local.get $lowNibbles)))
            (local.set $b (v128.and (i16x8.shr_u (local.get $w) (i32.const 4)) (local.get $lowNibbles)))
            (local.set $ilo0 (i32x4.add (local.get $ilo0) (i32x4.add
              (i32x4.dot_i16x8_s (i16x8.extend_low_i8x16_u (local.get $a)) (local.get $x))
              (i32x4.dot_i16x8_s (i16x8.extend_low_i8x16_u (local.get $b)) (local.get $y)))))
            (local.set $ihi0 (i32x4.add (local.get $ihi0) (i32x4.add
              (i32x4.dot_i16x8_s (i16x8.extend_high_i8x16_u (local.get $a)) (local.get $x))
              (i32x4.dot_i16x8_s (i16x8.extend_high_i8x16_u (local.get $b)) (local.get $y)))))
            (local.set $pp (i32.add (local.get $pp) (i32.const 16)))
            (local.set $kk (i32.add (local.get $kk) (i32.const 4)))
            (br $rows4)))))
      ;; out += xs (scale acc + bias xsum), per panel
      (local.set $xsv (v128.load32_splat (i32.add (local.get $xs) (i32.shl (local.get $g) (i32.const 2)))))
      (local.set $sumv (v128.load32_splat (i32.add (local.get $xsum) (i32.shl (local.get $g) (i32.const 2)))))
      (local.set $sc (v128.load (i32.add (local.get $scales) (local.get $sp))))
      (local.set $bi (if (result v128) (local.get $biases) (then (v128.load (i32.add (local.get $biases) (local.get $sp)))) (else (f32x4.mul (local.get $sc) (local.get $negMiddle)))))
      (local.set $olo0 (f32x4.relaxed_madd (local.get $xsv)
        (f32x4.relaxed_madd (f32x4.convert_i32x4_s (local.get $ilo0)) (local.get $sc) (f32x4.mul (local.get $sumv) (local.get $bi))) (local.get $olo0)))
      (local.set $sc (v128.load offset=16 (i32.add (local.get $scales) (local.get $sp))))
      (local.set $bi (if (result v128) (local.get $biases) (then (v128.load offset=16 (i32.add (local.get $biases) (local.get $sp)))) (else (f32x4.mul (local.get $sc) (local.get $negMiddle)))))
      (local.set $ohi0 (f32x4.relaxed_madd (local.get $xsv)
        (f32x4.relaxed_madd (f32x4.convert_i32x4_s (local.get $ihi0)) (local.get $sc) (f32x4.mul (local.get $sumv) (local.get $bi))) (local.get $ohi0)))
      (local.set $sp (i32.add (local.get $sp) (i32.const 32)))
      (local.set $g (i32.add (local.get $g) (i32.const 1)))
      (br $gloop)))
    (call $store_panel (local.get $out) (local.get $p) (local.get $n) (local.get $olo0) (local.get $ohi0)))

  ;; The quads layout (4-bit codes, int8 activations, relaxed SIMD): K padded to a multiple of 4; each
  ;; 16 bytes hold four rows of the panel, byte 4 j + r holding row r of column j in its low nibble and
  ;; of column j + 4 in its high one, so the low nibbles are four columns' four rows in the order
  ;; i32x4.relaxed_dot_i8x16_i7x16_add_s sums them (4-bit codes fit its 7-bit operand: exact). 8-bit
  ;; codes take 32 bytes a quad of rows: their low nibbles so, then their high nibbles (gemm_i, and
  ;; gemv_i4r's mode 2).

  ;; lane 0 of relaxed_dot_i8x16_i7x16_add_s of the 16 bytes at a and b: a probe of whether the engine
  ;; computes it exactly (V8 11.3, Node 20's, returns twice the sums on x86, seen on an AMD EPYC with AVX-VNNI)
  (func (export "dot_probe") (param $a i32) (param $b i32) (result i32)
    (i32x4.extract_lane 0 (i32x4.relaxed_dot_i8x16_i7x16_add_s (v128.load (local.get $a)) (v128.load (local.get $b)) (v128.const i32x4 0 0 0 0))))

  ;; gemv_i8 for 4-bit codes in the quads layout (`codes` 0, or 3: summed in 16-bit lanes; 1: 8-bit
  ;; codes in the bytes layout; 2: 8-bit codes in the quads layout's two planes of nibbles, as gemm_i
  ;; reads them; `sums`: this
  ;; thread's 32 bytes a group for a panel's integer sums): xq the row's integers as i8 (kp of them),
  ;; four rows' activations splat against sixteen codes, 32 multiply-adds in two instructions. Modes
  ;; 0 and 1 take two quads a turn into two pairs of accumulators, so that two chains of dot products
  ;; run at once (one quad more when a group holds an odd number); mode 2 takes one quad a turn, the
  ;; second pair holding the high plane. Integer sums, so the order changes no bit.
  (func (export "gemv_i4r") (param $xq i32) (param $xs i32) (param $xsum i32) (param $packed i32) (param $scales i32) (param $biases i32)
        (param $kp i32) (param $n i32) (param $group i32) (param $codes i32) (param $out i32) (param $sums i32) (param $p0 i32) (param $p1 i32)
    (local $groups i32) (local $p i32) (local $g i32) (local $k1 i32) (local $kk i32) (local $pp i32) (local $sp i32)
    (local $w v128) (local $x v128) (local $ilo v128) (local $ihi v128) (local $olo v128) (local $ohi v128) (local $xsv v128) (local $sumv v128)
    (local $w2 v128) (local $x2 v128) (local $ilo2 v128) (local $ihi2 v128) (local $negMiddle v128) (local $lowNibbles v128)
    ;; the low-nibble mask in a local (nibbles on x64, above)
    (local.set $lowNibbles (v128.const i8x16 15 15 15 15 15 15 15 15 15 15 15 15 15 15 15 15))
    ;; symmetric codes keep no bias table (biases 0): a bias is -middle * scale, exact (a power of two)
    (local.set $negMiddle (f32x4.splat (select (f32.const -128) (f32.const -8) (i32.lt_u (i32.sub (local.get $codes) (i32.const 1)) (i32.const 2)))))
    (local.set $groups (i32.div_u (i32.sub (i32.add (local.get $kp) (local.get $group)) (i32.const 1)) (local.get $group)))
    (local.set $p (local.get $p0))
    (block $pdone (loop $ploop
      (br_if $pdone (i32.ge_u (local.get $p) (local.get $p1)))
      (local.set $olo (v128.const i32x4 0 0 0 0)) (local.set $ohi (v128.const i32x4 0 0 0 0))
      ;; a panel row is 8 bytes for 8-bit codes (modes 1 and 2), 4 for 4-bit ones (0 and 3)
      (local.set $pp (i32.add (local.get $packed) (i32.shl (i32.mul (local.get $p) (local.get $kp)) (select (i32.const 3) (i32.const 2) (i32.lt_u (i32.sub (local.get $codes) (i32.const 1)) (i32.const 2))))))
      (local.set $sp (i32.shl (i32.mul (local.get $p) (local.get $groups)) (i32.const 5)))
      (local.set $kk (i32.const 0))
      (local.set $g (i32.const 0))
      (block $gdone (loop $gloop
        (br_if $gdone (i32.ge_u (local.get $g) (local.get $groups)))
        (local.set $k1 (i32.add (local.get $kk) (local.get $group)))
        (if (i32.gt_u (local.get $k1) (local.get $kp)) (then (local.set $k1 (local.get $kp))))
        (local.set $ilo (v128.const i32x4 0 0 0 0)) (local.set $ihi (v128.const i32x4 0 0 0 0))
        (local.set $ilo2 (v128.const i32x4 0 0 0 0)) (local.set $ihi2 (v128.const i32x4 0 0 0 0))
        (if (i32.eq (local.get $codes) (i32.const 3))
          (then
            ;; 4-bit codes summed in 16-bit lanes (i16x8 dot: one pmaddubsw on x86 without AVX-VNNI,
            ;; where the i32x4 dot takes three): a lane gains at most 2 * 127 * 15 a quad, so a group
            ;; of at most 8 quads stays within 32767 (groups of 32 at most, quantized-matmul.ts)
            ;; two quads a turn (1.15x), then a last quad of its own
            (block $sdone (loop $shortSums
              (br_if $sdone (i32.gt_u (i32.add (local.get $kk) (i32.const 8)) (local.get $k1)))
              (local.set $w (v128.load (local.get $pp)))
              (local.set $w2 (v128.load offset=16 (local.get $pp)))
              (local.set $x (v128.load32_splat (i32.add (local.get $xq) (local.get $kk))))
              (local.set $x2 (v128.load32_splat offset=4 (i32.add (local.get $xq) (local.get $kk))))
              (local.set $ilo2 (i16x8.add (local.get $ilo2) (i16x8.add
                (i16x8.relaxed_dot_i8x16_i7x16_s (local.get $x) (v128.and (local.get $w) (local.get $lowNibbles)))
                (i16x8.relaxed_dot_i8x16_i7x16_s (local.get $x2) (v128.and (local.get $w2) (local.get $lowNibbles))))))
              (local.set $ihi2 (i16x8.add (local.get $ihi2) (i16x8.add
                (i16x8.relaxed_dot_i8x16_i7x16_s (local.get $x) (v128.and (i16x8.shr_u (local.get $w) (i32.const 4)) (local.get $lowNibbles)))
                (i16x8.relaxed_dot_i8x16_i7x16_s (local.get $x2) (v128.and (i16x8.shr_u (local.get $w2) (i32.const 4)) (local.get $lowNibbles))))))
              (local.set $pp (i32.add (local.get $pp) (i32.const 32)))
              (local.set $kk (i32.add (local.get $kk) (i32.const 8)))
              (br $shortSums)))
            (if (i32.lt_u (local.get $kk) (local.get $k1)) (then
              (local.set $w (v128.load (local.get $pp)))
              (local.set $x (v128.load32_splat (i32.add (local.get $xq) (local.get $kk))))
              (local.set $ilo2 (i16x8.add (local.get $ilo2) (i16x8.relaxed_dot_i8x16_i7x16_s (local.get $x) (v128.and (local.get $w) (local.get $lowNibbles)))))
              (local.set $ihi2 (i16x8.add (local.get $ihi2) (i16x8.relaxed_dot_i8x16_i7x16_s (local.get $x) (v128.and (i16x8.shr_u (local.get $w) (i32.const 4)) (local.get $lowNibbles)))))
              (local.set $pp (i32.add (local.get $pp) (i32.const 16)))
              (local.set $kk (i32.add (local.get $kk) (i32.const 4)))))
            ;; the pairs of rows of each column added into its 32-bit lane
            (local.set $ilo2 (i32x4.extadd_pairwise_i16x8_s (local.get $ilo2)))
            (local.set $ihi2 (i32x4.extadd_pairwise_i16x8_s (local.get $ihi2))))
          (else
        (if (i32.eq (local.get $codes) (i32.const 2))
          (then
            ;; 8-bit codes as two planes of nibbles (32 bytes a quad): the high plane's sums times 16
            (block $ndone (loop $nibblePlanes
              (br_if $ndone (i32.ge_u (local.get $kk) (local.get $k1)))
              (local.set $w (v128.load (local.get $pp)))
              (local.set $w2 (v128.load offset=16 (local.get $pp)))
              (local.set $x (v128.load32_splat (i32.add (local.get $xq) (local.get $kk))))
              (local.set $ilo (i32x4.relaxed_dot_i8x16_i7x16_add_s (local.get $x)
                (v128.and (local.get $w) (local.get $lowNibbles)) (local.get $ilo)))
              (local.set $ihi (i32x4.relaxed_dot_i8x16_i7x16_add_s (local.get $x) (v128.and (i16x8.shr_u (local.get $w) (i32.const 4)) (local.get $lowNibbles)) (local.get $ihi)))
              (local.set $ilo2 (i32x4.relaxed_dot_i8x16_i7x16_add_s (local.get $x)
                (v128.and (local.get $w2) (local.get $lowNibbles)) (local.get $ilo2)))
              (local.set $ihi2 (i32x4.relaxed_dot_i8x16_i7x16_add_s (local.get $x) (v128.and (i16x8.shr_u (local.get $w2) (i32.const 4)) (local.get $lowNibbles)) (local.get $ihi2)))
              (local.set $pp (i32.add (local.get $pp) (i32.const 32)))
              (local.set $kk (i32.add (local.get $kk) (i32.const 4)))
              (br $nibblePlanes)))
            (local.set $ilo2 (i32x4.shl (local.get $ilo2) (i32.const 4)))
            (local.set $ihi2 (i32x4.shl (local.get $ihi2) (i32.const 4))))
          (else
            (if (local.get $codes)
              (then
                ;; whole 8-bit codes (32 bytes a quad: columns 0-3, then 4-7), the dot reading them unsigned
                (block $bdone (loop $byteQuads
                  (br_if $bdone (i32.gt_u (i32.add (local.get $kk) (i32.const 8)) (local.get $k1)))
                  (local.set $x (v128.load32_splat (i32.add (local.get $xq) (local.get $kk))))
                  (local.set $x2 (v128.load32_splat offset=4 (i32.add (local.get $xq) (local.get $kk))))
                  (local.set $ilo (i32x4.relaxed_dot_i8x16_i7x16_add_s (local.get $x) (v128.load (local.get $pp)) (local.get $ilo)))
                  (local.set $ihi (i32x4.relaxed_dot_i8x16_i7x16_add_s (local.get $x) (v128.load offset=16 (local.get $pp)) (local.get $ihi)))
                  (local.set $ilo2 (i32x4.relaxed_dot_i8x16_i7x16_add_s (local.get $x2) (v128.load offset=32 (local.get $pp)) (local.get $ilo2)))
                  (local.set $ihi2 (i32x4.relaxed_dot_i8x16_i7x16_add_s (local.get $x2) (v128.load offset=48 (local.get $pp)) (local.get $ihi2)))
                  (local.set $pp (i32.add (local.get $pp) (i32.const 64)))
                  (local.set $kk (i32.add (local.get $kk) (i32.const 8)))
                  (br $byteQuads)))
                (if (i32.lt_u (local.get $kk) (local.get $k1)) (then
                  (local.set $x (v128.load32_splat (i32.add (local.get $xq) (local.get $kk))))
                  (local.set $ilo (i32x4.relaxed_dot_i8x16_i7x16_add_s (local.get $x) (v128.load (local.get $pp)) (local.get $ilo)))
                  (local.set $ihi (i32x4.relaxed_dot_i8x16_i7x16_add_s (local.get $x) (v128.load offset=16 (local.get $pp)) (local.get $ihi)))
                  (local.set $pp (i32.add (local.get $pp) (i32.const 32)))
                  (local.set $kk (i32.add (local.get $kk) (i32.const 4))))))
              (else
                (block $done (loop $quads
                  (br_if $done (i32.gt_u (i32.add (local.get $kk) (i32.const 8)) (local.get $k1)))
                  (local.set $w (v128.load (local.get $pp)))
                  (local.set $w2 (v128.load offset=16 (local.get $pp)))
                  (local.set $x (v128.load32_splat (i32.add (local.get $xq) (local.get $kk))))
                  (local.set $x2 (v128.load32_splat offset=4 (i32.add (local.get $xq) (local.get $kk))))
                  (local.set $ilo (i32x4.relaxed_dot_i8x16_i7x16_add_s (local.get $x)
                    (v128.and (local.get $w) (local.get $lowNibbles)) (local.get $ilo)))
                  (local.set $ihi (i32x4.relaxed_dot_i8x16_i7x16_add_s (local.get $x) (v128.and (i16x8.shr_u (local.get $w) (i32.const 4)) (local.get $lowNibbles)) (local.get $ihi)))
                  (local.set $ilo2 (i32x4.relaxed_dot_i8x16_i7x16_add_s (local.get $x2)
                    (v128.and (local.get $w2) (local.get $lowNibbles)) (local.get $ilo2)))
                  (local.set $ihi2 (i32x4.relaxed_dot_i8x16_i7x16_add_s (local.get $x2) (v128.and (i16x8.shr_u (local.get $w2) (i32.const 4)) (local.get $lowNibbles)) (local.get $ihi2)))
                  (local.set $pp (i32.add (local.get $pp) (i32.const 32)))
                  (local.set $kk (i32.add (local.get $kk) (i32.const 8)))
                  (br $quads)))
                ;; a last quad of its own
                (if (i32.lt_u (local.get $kk) (local.get $k1)) (then
                  (local.set $w (v128.load (local.get $pp)))
                  (local.set $x (v128.load32_splat (i32.add (local.get $xq) (local.get $kk))))
                  (local.set $ilo (i32x4.relaxed_dot_i8x16_i7x16_add_s (local.get $x)
                    (v128.and (local.get $w) (local.get $lowNibbles)) (local.get $ilo)))
                  (local.set $ihi (i32x4.relaxed_dot_i8x16_i7x16_add_s (local.get $x) (v128.and (i16x8.shr_u (local.get $w) (i32.const 4)) (local.get $lowNibbles)) (local.get $ihi)))
                  (local.set $pp (i32.add (local.get $pp) (i32.const 16)))
                  (local.set $kk (i32.add (local.get $kk) (i32.const 4)))))))))))
        (local.set $ilo (i32x4.add (local.get $ilo) (local.get $ilo2)))
        (local.set $ihi (i32x4.add (local.get $ihi) (local.get $ihi2)))
        (v128.store (i32.add (local.get $sums) (i32.shl (local.get $g) (i32.const 5))) (local.get $ilo))
        (v128.store offset=16 (i32.add (local.get $sums) (i32.shl (local.get $g) (i32.const 5))) (local.get $ihi))
        (local.set $g (i32.add (local.get $g) (i32.const 1)))
        (br $gloop)))
      ;; then each group's sums scaled: out += xs (scale sums + bias xsum), in a loop of its own (the
      ;; float chain apart from the integer one: 1.5x faster for whole 8-bit codes, measured)
      (local.set $g (i32.const 0))
      (block $fdone (loop $floop
        (br_if $fdone (i32.ge_u (local.get $g) (local.get $groups)))
        (local.set $ilo (v128.load (i32.add (local.get $sums) (i32.shl (local.get $g) (i32.const 5)))))
        (local.set $ihi (v128.load offset=16 (i32.add (local.get $sums) (i32.shl (local.get $g) (i32.const 5)))))
        (local.set $xsv (v128.load32_splat (i32.add (local.get $xs) (i32.shl (local.get $g) (i32.const 2)))))
        (local.set $sumv (v128.load32_splat (i32.add (local.get $xsum) (i32.shl (local.get $g) (i32.const 2)))))
        (local.set $olo (f32x4.relaxed_madd (local.get $xsv)
          (f32x4.relaxed_madd (f32x4.convert_i32x4_s (local.get $ilo)) (v128.load (i32.add (local.get $scales) (local.get $sp)))
            (f32x4.mul (local.get $sumv) (if (result v128) (local.get $biases) (then (v128.load (i32.add (local.get $biases) (local.get $sp)))) (else (f32x4.mul (v128.load (i32.add (local.get $scales) (local.get $sp))) (local.get $negMiddle)))))) (local.get $olo)))
        (local.set $ohi (f32x4.relaxed_madd (local.get $xsv)
          (f32x4.relaxed_madd (f32x4.convert_i32x4_s (local.get $ihi)) (v128.load offset=16 (i32.add (local.get $scales) (local.get $sp)))
            (f32x4.mul (local.get $sumv) (if (result v128) (local.get $biases) (then (v128.load offset=16 (i32.add (local.get $biases) (local.get $sp)))) (else (f32x4.mul (v128.load offset=16 (i32.add (local.get $scales) (local.get $sp))) (local.get $negMiddle)))))) (local.get $ohi)))
        (local.set $sp (i32.add (local.get $sp) (i32.const 32)))
        (local.set $g (i32.add (local.get $g) (i32.const 1)))
        (br $floop)))
      (call $store_panel (local.get $out) (local.get $p) (local.get $n) (local.get $olo) (local.get $ohi))
      (local.set $p (i32.add (local.get $p) (i32.const 1)))
      (br $ploop))))

  ;; C = A @ W for rows of int8 activations (quantize_rows) and W in the quads layout (or, below, the
  ;; bytes or pairs layouts), panels [p0, p1). At 4 bits a quad of rows is the 16 bytes gemv_i4r reads; at 8 bits it is 32: the codes' low
  ;; nibbles in that layout, then their high nibbles (each nibble fits the dot's 7-bit operand: exact).
  ;; Per block of 4 rows and per group: each plane's integer sums over the group (a row's four
  ;; activations splat against a quad's sixteen codes, two relaxed dots for 8 columns), the high
  ;; plane's times 16 added to the low one's, then scaled as gemv_i8 scales them into the row's 8
  ;; floats, kept in `tile` (this thread's 256 bytes: 4 rows of 8 floats, then the low plane's sums).
  ;; xq: m rows padded to a multiple of 4 (zero rows), kp integers each (i8; i16 for pairs); xs,
  ;; xsum: `groups` floats a row.
  ;; `codes` 0: the quads layout as above. 1 (8 bits, where the dot reads its second operand as
  ;; unsigned bytes: x86 with AVX-VNNI): the codes whole instead, the same 32 bytes a quad holding
  ;; columns 0-3 then 4-7 (the bytes layout). 2: W in the pairs layout (gemv_i8's, where no exact relaxed dot serves) and xq's
  ;; integers i16 (quantize_rows, not narrow: 2 kp bytes a row): a pair of codes widened to i16
  ;; against a pair of activations (i32x4.dot_i16x8_s), the quad's four code vectors shared by the
  ;; block's four rows; exact, so the sums are gemv_i8's.
  (func (export "gemm_i") (param $xq i32) (param $xs i32) (param $xsum i32) (param $packed i32) (param $scales i32) (param $biases i32)
        (param $kp i32) (param $n i32) (param $group i32) (param $bits i32) (param $codes i32) (param $short i32) (param $m i32) (param $c i32) (param $ldc i32)
        (param $tile i32) (param $p0 i32) (param $p1 i32)
    (local $groups i32) (local $planes i32) (local $stride i32) (local $p i32) (local $r0 i32) (local $g i32) (local $plane i32)
    (local $kk i32) (local $k0 i32) (local $k1 i32) (local $q i32) (local $x0 i32) (local $x1 i32) (local $x2 i32) (local $x3 i32)
    (local $sp i32) (local $at i32) (local $r i32) (local $xstride i32)
    (local $w v128) (local $lo v128) (local $hi v128) (local $x v128) (local $y v128) (local $c0 v128) (local $c1 v128) (local $c2 v128) (local $c3 v128)
    (local $a0 v128) (local $b0 v128) (local $a1 v128) (local $b1 v128) (local $a2 v128) (local $b2 v128) (local $a3 v128) (local $b3 v128)
    (local $xsv v128) (local $sumv v128) (local $slo v128) (local $shi v128) (local $blo v128) (local $bhi v128) (local $negMiddle v128) (local $lowNibbles v128)
    ;; the low-nibble mask in a local (nibbles on x64, above)
    (local.set $lowNibbles (v128.const i8x16 15 15 15 15 15 15 15 15 15 15 15 15 15 15 15 15))
    ;; whole quads of rows per group and in all (productLayout), rows in blocks of 4
    (if (i32.and (i32.or (local.get $kp) (local.get $group)) (i32.const 3)) (then unreachable))
    ;; symmetric codes keep no bias table (biases 0): a bias is -middle * scale, exact (a power of two)
    (local.set $negMiddle (f32x4.splat (select (f32.const -128) (f32.const -8) (i32.eq (local.get $bits) (i32.const 8)))))
    (local.set $groups (i32.div_u (i32.sub (i32.add (local.get $kp) (local.get $group)) (i32.const 1)) (local.get $group)))
    (local.set $planes (select (i32.const 2) (i32.const 1) (i32.and (i32.eq (local.get $bits) (i32.const 8)) (i32.eqz (local.get $codes)))))
    (local.set $stride (select (i32.const 32) (i32.const 16) (i32.eq (local.get $bits) (i32.const 8))))
    ;; a row of integers: kp i8, or kp i16 for pairs
    (local.set $xstride (i32.shl (local.get $kp) (i32.eq (local.get $codes) (i32.const 2))))
    (local.set $p (local.get $p0))
    (block $pdone (loop $ploop
      (br_if $pdone (i32.ge_u (local.get $p) (local.get $p1)))
      (local.set $r0 (i32.const 0))
      (block $rdone (loop $rloop
        (br_if $rdone (i32.ge_u (local.get $r0) (local.get $m)))
        (memory.fill (local.get $tile) (i32.const 0) (i32.const 128))
        (local.set $x0 (i32.add (local.get $xq) (i32.mul (local.get $r0) (local.get $xstride))))
        (local.set $x1 (i32.add (local.get $x0) (local.get $xstride)))
        (local.set $x2 (i32.add (local.get $x1) (local.get $xstride)))
        (local.set $x3 (i32.add (local.get $x2) (local.get $xstride)))
        (local.set $sp (i32.shl (i32.mul (local.get $p) (local.get $groups)) (i32.const 5)))
        (local.set $g (i32.const 0))
        (block $gdone (loop $gloop
          (br_if $gdone (i32.ge_u (local.get $g) (local.get $groups)))
          (local.set $k0 (i32.mul (local.get $g) (local.get $group)))
          (local.set $k1 (i32.add (local.get $k0) (local.get $group)))
          (if (i32.gt_u (local.get $k1) (local.get $kp)) (then (local.set $k1 (local.get $kp))))
          (local.set $plane (i32.const 0))
          (block $planesDone (loop $planeLoop
            (br_if $planesDone (i32.ge_u (local.get $plane) (local.get $planes)))
            (local.set $a0 (v128.const i32x4 0 0 0 0)) (local.set $b0 (v128.const i32x4 0 0 0 0))
            (local.set $a1 (v128.const i32x4 0 0 0 0)) (local.set $b1 (v128.const i32x4 0 0 0 0))
            (local.set $a2 (v128.const i32x4 0 0 0 0)) (local.set $b2 (v128.const i32x4 0 0 0 0))
            (local.set $a3 (v128.const i32x4 0 0 0 0)) (local.set $b3 (v128.const i32x4 0 0 0 0))
            (local.set $q (i32.add (i32.add (local.get $packed) (i32.mul (local.get $p) (i32.mul (i32.shr_u (local.get $kp) (i32.const 2)) (local.get $stride))))
              (i32.add (i32.mul (i32.shr_u (local.get $k0) (i32.const 2)) (local.get $stride)) (i32.shl (local.get $plane) (i32.const 4)))))
            (local.set $kk (local.get $k0))
            (if (i32.eq (local.get $codes) (i32.const 2))
              (then
                ;; pairs: a quad's codes as four i16x8 vectors of column pairs, (k, k + 1) then (k + 2, k + 3),
                ;; columns 0-3 and 4-7 each; then each row's two pairs of activations against them
                (block $pdone8 (loop $pairQuads
                  (br_if $pdone8 (i32.ge_u (local.get $kk) (local.get $k1)))
                  (if (i32.eq (local.get $bits) (i32.const 8))
                    (then
                      (local.set $c0 (v128.load8x8_u (local.get $q)))
                      (local.set $c1 (v128.load8x8_u offset=8 (local.get $q)))
                      (local.set $c2 (v128.load8x8_u offset=16 (local.get $q)))
                      (local.set $c3 (v128.load8x8_u offset=24 (local.get $q))))
                    (else
                      ;; 4 bits: rows k, k + 1 in the low nibbles, k + 2, k + 3 in the high ones
                      (local.set $w (v128.load (local.get $q)))
                      (local.set $lo (v128.and (local.get $w) (local.get $lowNibbles)))
                      (local.set $hi (v128.and (i16x8.shr_u (local.get $w) (i32.const 4)) (local.get $lowNibbles)))
                      (local.set $c0 (i16x8.extend_low_i8x16_u (local.get $lo)))
                      (local.set $c1 (i16x8.extend_high_i8x16_u (local.get $lo)))
                      (local.set $c2 (i16x8.extend_low_i8x16_u (local.get $hi)))
                      (local.set $c3 (i16x8.extend_high_i8x16_u (local.get $hi)))))
                  (local.set $x (v128.load32_splat (i32.add (local.get $x0) (i32.shl (local.get $kk) (i32.const 1)))))
                  (local.set $y (v128.load32_splat offset=4 (i32.add (local.get $x0) (i32.shl (local.get $kk) (i32.const 1)))))
                  (local.set $a0 (i32x4.add (local.get $a0) (i32x4.add (i32x4.dot_i16x8_s (local.get $c0) (local.get $x)) (i32x4.dot_i16x8_s (local.get $c2) (local.get $y)))))
                  (local.set $b0 (i32x4.add (local.get $b0) (i32x4.add (i32x4.dot_i16x8_s (local.get $c1) (local.get $x)) (i32x4.dot_i16x8_s (local.get $c3) (local.get $y)))))
                  (local.set $x (v128.load32_splat (i32.add (local.get $x1) (i32.shl (local.get $kk) (i32.const 1)))))
                  (local.set $y (v128.load32_splat offset=4 (i32.add (local.get $x1) (i32.shl (local.get $kk) (i32.const 1)))))
                  (local.set $a1 (i32x4.add (local.get $a1) (i32x4.add (i32x4.dot_i16x8_s (local.get $c0) (local.get $x)) (i32x4.dot_i16x8_s (local.get $c2) (local.get $y)))))
                  (local.set $b1 (i32x4.add (local.get $b1) (i32x4.add (i32x4.dot_i16x8_s (local.get $c1) (local.get $x)) (i32x4.dot_i16x8_s (local.get $c3) (local.get $y)))))
                  (local.set $x (v128.load32_splat (i32.add (local.get $x2) (i32.shl (local.get $kk) (i32.const 1)))))
                  (local.set $y (v128.load32_splat offset=4 (i32.add (local.get $x2) (i32.shl (local.get $kk) (i32.const 1)))))
                  (local.set $a2 (i32x4.add (local.get $a2) (i32x4.add (i32x4.dot_i16x8_s (local.get $c0) (local.get $x)) (i32x4.dot_i16x8_s (local.get $c2) (local.get $y)))))
                  (local.set $b2 (i32x4.add (local.get $b2) (i32x4.add (i32x4.dot_i16x8_s (local.get $c1) (local.get $x)) (i32x4.dot_i16x8_s (local.get $c3) (local.get $y)))))
                  (local.set $x (v128.load32_splat (i32.add (local.get $x3) (i32.shl (local.get $kk) (i32.const 1)))))
                  (local.set $y (v128.load32_splat offset=4 (i32.add (local.get $x3) (i32.shl (local.get $kk) (i32.const 1)))))
                  (local.set $a3 (i32x4.add (local.get $a3) (i32x4.add (i32x4.dot_i16x8_s (local.get $c0) (local.get $x)) (i32x4.dot_i16x8_s (local.get $c2) (local.get $y)))))
                  (local.set $b3 (i32x4.add (local.get $b3) (i32x4.add (i32x4.dot_i16x8_s (local.get $c1) (local.get $x)) (i32x4.dot_i16x8_s (local.get $c3) (local.get $y)))))
                  (local.set $q (i32.add (local.get $q) (local.get $stride)))
                  (local.set $kk (i32.add (local.get $kk) (i32.const 4)))
                  (br $pairQuads))))
            (else (if (local.get $codes)
              (then
                ;; whole 8-bit codes, columns 0-3 then 4-7 (the dot reads them as unsigned bytes here)
                (block $bdone (loop $byteQuads
                  (br_if $bdone (i32.ge_u (local.get $kk) (local.get $k1)))
                  (local.set $lo (v128.load (local.get $q)))
                  (local.set $hi (v128.load offset=16 (local.get $q)))
                  (local.set $x (v128.load32_splat (i32.add (local.get $x0) (local.get $kk))))
                  (local.set $a0 (i32x4.relaxed_dot_i8x16_i7x16_add_s (local.get $x) (local.get $lo) (local.get $a0)))
                  (local.set $b0 (i32x4.relaxed_dot_i8x16_i7x16_add_s (local.get $x) (local.get $hi) (local.get $b0)))
                  (local.set $x (v128.load32_splat (i32.add (local.get $x1) (local.get $kk))))
                  (local.set $a1 (i32x4.relaxed_dot_i8x16_i7x16_add_s (local.get $x) (local.get $lo) (local.get $a1)))
                  (local.set $b1 (i32x4.relaxed_dot_i8x16_i7x16_add_s (local.get $x) (local.get $hi) (local.get $b1)))
                  (local.set $x (v128.load32_splat (i32.add (local.get $x2) (local.get $kk))))
                  (local.set $a2 (i32x4.relaxed_dot_i8x16_i7x16_add_s (local.get $x) (local.get $lo) (local.get $a2)))
                  (local.set $b2 (i32x4.relaxed_dot_i8x16_i7x16_add_s (local.get $x) (local.get $hi) (local.get $b2)))
                  (local.set $x (v128.load32_splat (i32.add (local.get $x3) (local.get $kk))))
                  (local.set $a3 (i32x4.relaxed_dot_i8x16_i7x16_add_s (local.get $x) (local.get $lo) (local.get $a3)))
                  (local.set $b3 (i32x4.relaxed_dot_i8x16_i7x16_add_s (local.get $x) (local.get $hi) (local.get $b3)))
                  (local.set $q (i32.add (local.get $q) (local.get $stride)))
                  (local.set $kk (i32.add (local.get $kk) (i32.const 4)))
                  (br $byteQuads))))
              (else (if (local.get $short)
              (then
                ;; 4-bit codes summed in 16-bit lanes, as gemv_i4r's mode 3 (groups of at most 8 quads)
                (block $sdone (loop $shortQuads
                  (br_if $sdone (i32.ge_u (local.get $kk) (local.get $k1)))
                  (local.set $w (v128.load (local.get $q)))
                  (local.set $lo (v128.and (local.get $w) (local.get $lowNibbles)))
                  (local.set $hi (v128.and (i16x8.shr_u (local.get $w) (i32.const 4)) (local.get $lowNibbles)))
                  (local.set $x (v128.load32_splat (i32.add (local.get $x0) (local.get $kk))))
                  (local.set $a0 (i16x8.add (local.get $a0) (i16x8.relaxed_dot_i8x16_i7x16_s (local.get $x) (local.get $lo))))
                  (local.set $b0 (i16x8.add (local.get $b0) (i16x8.relaxed_dot_i8x16_i7x16_s (local.get $x) (local.get $hi))))
                  (local.set $x (v128.load32_splat (i32.add (local.get $x1) (local.get $kk))))
                  (local.set $a1 (i16x8.add (local.get $a1) (i16x8.relaxed_dot_i8x16_i7x16_s (local.get $x) (local.get $lo))))
                  (local.set $b1 (i16x8.add (local.get $b1) (i16x8.relaxed_dot_i8x16_i7x16_s (local.get $x) (local.get $hi))))
                  (local.set $x (v128.load32_splat (i32.add (local.get $x2) (local.get $kk))))
                  (local.set $a2 (i16x8.add (local.get $a2) (i16x8.relaxed_dot_i8x16_i7x16_s (local.get $x) (local.get $lo))))
                  (local.set $b2 (i16x8.add (local.get $b2) (i16x8.relaxed_dot_i8x16_i7x16_s (local.get $x) (local.get $hi))))
                  (local.set $x (v128.load32_splat (i32.add (local.get $x3) (local.get $kk))))
                  (local.set $a3 (i16x8.add (local.get $a3) (i16x8.relaxed_dot_i8x16_i7x16_s (local.get $x) (local.get $lo))))
                  (local.set $b3 (i16x8.add (local.get $b3) (i16x8.relaxed_dot_i8x16_i7x16_s (local.get $x) (local.get $hi))))
                  (local.set $q (i32.add (local.get $q) (local.get $stride)))
                  (local.set $kk (i32.add (local.get $kk) (i32.const 4)))
                  (br $shortQuads)))
                (local.set $a0 (i32x4.extadd_pairwise_i16x8_s (local.get $a0))) (local.set $b0 (i32x4.extadd_pairwise_i16x8_s (local.get $b0)))
                (local.set $a1 (i32x4.extadd_pairwise_i16x8_s (local.get $a1))) (local.set $b1 (i32x4.extadd_pairwise_i16x8_s (local.get $b1)))
                (local.set $a2 (i32x4.extadd_pairwise_i16x8_s (local.get $a2))) (local.set $b2 (i32x4.extadd_pairwise_i16x8_s (local.get $b2)))
                (local.set $a3 (i32x4.extadd_pairwise_i16x8_s (local.get $a3))) (local.set $b3 (i32x4.extadd_pairwise_i16x8_s (local.get $b3))))
              (else
                (block $qdone (loop $quads
                  (br_if $qdone (i32.ge_u (local.get $kk) (local.get $k1)))
                  (local.set $w (v128.load (local.get $q)))
                  (local.set $lo (v128.and (local.get $w) (local.get $lowNibbles)))
                  (local.set $hi (v128.and (i16x8.shr_u (local.get $w) (i32.const 4)) (local.get $lowNibbles)))
                  (local.set $x (v128.load32_splat (i32.add (local.get $x0) (local.get $kk))))
                  (local.set $a0 (i32x4.relaxed_dot_i8x16_i7x16_add_s (local.get $x) (local.get $lo) (local.get $a0)))
                  (local.set $b0 (i32x4.relaxed_dot_i8x16_i7x16_add_s (local.get $x) (local.get $hi) (local.get $b0)))
                  (local.set $x (v128.load32_splat (i32.add (local.get $x1) (local.get $kk))))
                  (local.set $a1 (i32x4.relaxed_dot_i8x16_i7x16_add_s (local.get $x) (local.get $lo) (local.get $a1)))
                  (local.set $b1 (i32x4.relaxed_dot_i8x16_i7x16_add_s (local.get $x) (local.get $hi) (local.get $b1)))
                  (local.set $x (v128.load32_splat (i32.add (local.get $x2) (local.get $kk))))
                  (local.set $a2 (i32x4.relaxed_dot_i8x16_i7x16_add_s (local.get $x) (local.get $lo) (local.get $a2)))
                  (local.set $b2 (i32x4.relaxed_dot_i8x16_i7x16_add_s (local.get $x) (local.get $hi) (local.get $b2)))
                  (local.set $x (v128.load32_splat (i32.add (local.get $x3) (local.get $kk))))
                  (local.set $a3 (i32x4.relaxed_dot_i8x16_i7x16_add_s (local.get $x) (local.get $lo) (local.get $a3)))
                  (local.set $b3 (i32x4.relaxed_dot_i8x16_i7x16_add_s (local.get $x) (local.get $hi) (local.get $b3)))
                  (local.set $q (i32.add (local.get $q) (local.get $stride)))
                  (local.set $kk (i32.add (local.get $kk) (i32.const 4)))
                  (br $quads)))))))))
            ;; 8 bits: the low plane's sums wait in the tile; the high plane's are 16 times theirs
            (if (i32.lt_u (local.get $plane) (i32.sub (local.get $planes) (i32.const 1)))
              (then
                (v128.store offset=128 (local.get $tile) (local.get $a0)) (v128.store offset=144 (local.get $tile) (local.get $b0))
                (v128.store offset=160 (local.get $tile) (local.get $a1)) (v128.store offset=176 (local.get $tile) (local.get $b1))
                (v128.store offset=192 (local.get $tile) (local.get $a2)) (v128.store offset=208 (local.get $tile) (local.get $b2))
                (v128.store offset=224 (local.get $tile) (local.get $a3)) (v128.store offset=240 (local.get $tile) (local.get $b3))))
            (if (local.get $plane)
              (then
                (local.set $a0 (i32x4.add (v128.load offset=128 (local.get $tile)) (i32x4.shl (local.get $a0) (i32.const 4))))
                (local.set $b0 (i32x4.add (v128.load offset=144 (local.get $tile)) (i32x4.shl (local.get $b0) (i32.const 4))))
                (local.set $a1 (i32x4.add (v128.load offset=160 (local.get $tile)) (i32x4.shl (local.get $a1) (i32.const 4))))
                (local.set $b1 (i32x4.add (v128.load offset=176 (local.get $tile)) (i32x4.shl (local.get $b1) (i32.const 4))))
                (local.set $a2 (i32x4.add (v128.load offset=192 (local.get $tile)) (i32x4.shl (local.get $a2) (i32.const 4))))
                (local.set $b2 (i32x4.add (v128.load offset=208 (local.get $tile)) (i32x4.shl (local.get $b2) (i32.const 4))))
                (local.set $a3 (i32x4.add (v128.load offset=224 (local.get $tile)) (i32x4.shl (local.get $a3) (i32.const 4))))
                (local.set $b3 (i32x4.add (v128.load offset=240 (local.get $tile)) (i32x4.shl (local.get $b3) (i32.const 4))))))
            (local.set $plane (i32.add (local.get $plane) (i32.const 1)))
            (br $planeLoop)))
          ;; each row's floats += xs (scale sums + bias xsum), as gemv_i8 (written out four times: a call
          ;; would spill every live vector, and cost a third of the kernel's time)
          (local.set $slo (v128.load (i32.add (local.get $scales) (local.get $sp))))
          (local.set $shi (v128.load offset=16 (i32.add (local.get $scales) (local.get $sp))))
          (local.set $blo (if (result v128) (local.get $biases) (then (v128.load (i32.add (local.get $biases) (local.get $sp)))) (else (f32x4.mul (local.get $slo) (local.get $negMiddle)))))
          (local.set $bhi (if (result v128) (local.get $biases) (then (v128.load offset=16 (i32.add (local.get $biases) (local.get $sp)))) (else (f32x4.mul (local.get $shi) (local.get $negMiddle)))))
          (local.set $at (i32.shl (i32.add (i32.mul (local.get $r0) (local.get $groups)) (local.get $g)) (i32.const 2)))
          (local.set $xsv (v128.load32_splat (i32.add (local.get $xs) (local.get $at))))
          (local.set $sumv (v128.load32_splat (i32.add (local.get $xsum) (local.get $at))))
          (v128.store (local.get $tile) (f32x4.relaxed_madd (local.get $xsv)
            (f32x4.relaxed_madd (f32x4.convert_i32x4_s (local.get $a0)) (local.get $slo) (f32x4.mul (local.get $sumv) (local.get $blo)))
            (v128.load (local.get $tile))))
          (v128.store offset=16 (local.get $tile) (f32x4.relaxed_madd (local.get $xsv)
            (f32x4.relaxed_madd (f32x4.convert_i32x4_s (local.get $b0)) (local.get $shi) (f32x4.mul (local.get $sumv) (local.get $bhi)))
            (v128.load offset=16 (local.get $tile))))
          (local.set $at (i32.add (local.get $at) (i32.shl (local.get $groups) (i32.const 2))))
          (local.set $xsv (v128.load32_splat (i32.add (local.get $xs) (local.get $at))))
          (local.set $sumv (v128.load32_splat (i32.add (local.get $xsum) (local.get $at))))
          (v128.store offset=32 (local.get $tile) (f32x4.relaxed_madd (local.get $xsv)
            (f32x4.relaxed_madd (f32x4.convert_i32x4_s (local.get $a1)) (local.get $slo) (f32x4.mul (local.get $sumv) (local.get $blo)))
            (v128.load offset=32 (local.get $tile))))
          (v128.store offset=48 (local.get $tile) (f32x4.relaxed_madd (local.get $xsv)
            (f32x4.relaxed_madd (f32x4.convert_i32x4_s (local.get $b1)) (local.get $shi) (f32x4.mul (local.get $sumv) (local.get $bhi)))
            (v128.load offset=48 (local.get $tile))))
          (local.set $at (i32.add (local.get $at) (i32.shl (local.get $groups) (i32.const 2))))
          (local.set $xsv (v128.load32_splat (i32.add (local.get $xs) (local.get $at))))
          (local.set $sumv (v128.load32_splat (i32.add (local.get $xsum) (local.get $at))))
          (v128.store offset=64 (local.get $tile) (f32x4.relaxed_madd (local.get $xsv)
            (f32x4.relaxed_madd (f32x4.convert_i32x4_s (local.get $a2)) (local.get $slo) (f32x4.mul (local.get $sumv) (local.get $blo)))
            (v128.load offset=64 (local.get $tile))))
          (v128.store offset=80 (local.get $tile) (f32x4.relaxed_madd (local.get $xsv)
            (f32x4.relaxed_madd (f32x4.convert_i32x4_s (local.get $b2)) (local.get $shi) (f32x4.mul (local.get $sumv) (local.get $bhi)))
            (v128.load offset=80 (local.get $tile))))
          (local.set $at (i32.add (local.get $at) (i32.shl (local.get $groups) (i32.const 2))))
          (local.set $xsv (v128.load32_splat (i32.add (local.get $xs) (local.get $at))))
          (local.set $sumv (v128.load32_splat (i32.add (local.get $xsum) (local.get $at))))
          (v128.store offset=96 (local.get $tile) (f32x4.relaxed_madd (local.get $xsv)
            (f32x4.relaxed_madd (f32x4.convert_i32x4_s (local.get $a3)) (local.get $slo) (f32x4.mul (local.get $sumv) (local.get $blo)))
            (v128.load offset=96 (local.get $tile))))
          (v128.store offset=112 (local.get $tile) (f32x4.relaxed_madd (local.get $xsv)
            (f32x4.relaxed_madd (f32x4.convert_i32x4_s (local.get $b3)) (local.get $shi) (f32x4.mul (local.get $sumv) (local.get $bhi)))
            (v128.load offset=112 (local.get $tile))))
          (local.set $sp (i32.add (local.get $sp) (i32.const 32)))
          (local.set $g (i32.add (local.get $g) (i32.const 1)))
          (br $gloop)))
        ;; the block's rows that exist into C
        (local.set $r (i32.const 0))
        (block $sdone (loop $stores
          (br_if $sdone (i32.or (i32.ge_u (local.get $r) (i32.const 4)) (i32.ge_u (i32.add (local.get $r0) (local.get $r)) (local.get $m))))
          (call $store_panel (i32.add (local.get $c) (i32.mul (i32.add (local.get $r0) (local.get $r)) (local.get $ldc))) (local.get $p) (local.get $n)
            (v128.load (i32.add (local.get $tile) (i32.shl (local.get $r) (i32.const 5))))
            (v128.load offset=16 (i32.add (local.get $tile) (i32.shl (local.get $r) (i32.const 5)))))
          (local.set $r (i32.add (local.get $r) (i32.const 1)))
          (br $stores)))
        (local.set $r0 (i32.add (local.get $r0) (i32.const 4)))
        (br $rloop)))
      (local.set $p (i32.add (local.get $p) (i32.const 1)))
      (br $ploop))))

  ;; int8 activations, as packages/graph/src/quant/activation-quantization.ts defines them: per group
  ;; of a row, s = (max |x|) / 127 in float32, q = nearest-even(x / s) within [-127, 127], and a group
  ;; of zeros all zero.

  ;; an activation's integer from x / s: nearest, ties to even, within [-127, 127] (past it only when
  ;; the group's largest value is subnormal and its scale loses bits)
  (func $code (param $q f32) (result f32)
    (f32.max (f32.min (f32.nearest (local.get $q)) (f32.const 127)) (f32.const -127)))

  ;; the group [at, at + len) of a row: its scale (max |x| four lanes at a time: order changes no bit)
  (func $group_scale (param $at i32) (param $len i32) (result f32)
    (local $i i32) (local $m f32) (local $mv v128)
    (block $vdone (loop $vscan
      (br_if $vdone (i32.gt_u (i32.add (local.get $i) (i32.const 4)) (local.get $len)))
      (local.set $mv (f32x4.max (local.get $mv) (f32x4.abs (v128.load (i32.add (local.get $at) (i32.shl (local.get $i) (i32.const 2)))))))
      (local.set $i (i32.add (local.get $i) (i32.const 4)))
      (br $vscan)))
    (local.set $m (f32.max (f32.max (f32x4.extract_lane 0 (local.get $mv)) (f32x4.extract_lane 1 (local.get $mv)))
      (f32.max (f32x4.extract_lane 2 (local.get $mv)) (f32x4.extract_lane 3 (local.get $mv)))))
    (block $done (loop $scan
      (br_if $done (i32.ge_u (local.get $i) (local.get $len)))
      (local.set $m (f32.max (local.get $m) (f32.abs (f32.load (i32.add (local.get $at) (i32.shl (local.get $i) (i32.const 2)))))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $scan)))
    (f32.div (local.get $m) (f32.const 127)))

  ;; rows [r0, r1) of x (k floats each) rounded to int8 per group, as floats (s q) into out
  (func (export "round_rows") (param $x i32) (param $out i32) (param $k i32) (param $group i32) (param $r0 i32) (param $r1 i32)
    (local $row i32) (local $g i32) (local $len i32) (local $i i32) (local $s f32) (local $at i32)
    (local.set $row (local.get $r0))
    (block $rdone (loop $rows
      (br_if $rdone (i32.ge_u (local.get $row) (local.get $r1)))
      (local.set $g (i32.const 0))
      (block $gdone (loop $groups
        (br_if $gdone (i32.ge_u (local.get $g) (local.get $k)))
        (local.set $len (i32.sub (local.get $k) (local.get $g)))
        (if (i32.gt_u (local.get $len) (local.get $group)) (then (local.set $len (local.get $group))))
        (local.set $at (i32.shl (i32.add (i32.mul (local.get $row) (local.get $k)) (local.get $g)) (i32.const 2)))
        (local.set $s (call $group_scale (i32.add (local.get $x) (local.get $at)) (local.get $len)))
        (local.set $i (i32.const 0))
        (block $idone (loop $values
          (br_if $idone (i32.ge_u (local.get $i) (local.get $len)))
          (f32.store (i32.add (i32.add (local.get $out) (local.get $at)) (i32.shl (local.get $i) (i32.const 2)))
            (if (result f32) (f32.eq (local.get $s) (f32.const 0))
              (then (f32.const 0))
              (else (f32.mul (local.get $s) (call $code (f32.div
                (f32.load (i32.add (i32.add (local.get $x) (local.get $at)) (i32.shl (local.get $i) (i32.const 2)))) (local.get $s)))))))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br $values)))
        (local.set $g (i32.add (local.get $g) (local.get $group)))
        (br $groups)))
      (local.set $row (i32.add (local.get $row) (i32.const 1)))
      (br $rows))))

  ;; one row of x (k floats) as int8 activations for gemv_i8: its integers as i16 at xq (kp of them,
  ;; zero past k), each group's scale at xs and sum of integers at xsum
  ;; (`narrow`: the integers as i8 instead, for gemv_i4r and, row by row through quantize_rows,
  ;; gemm_i's quads and bytes; its pairs read them wide)
  (func $quantize_row (export "quantize_row") (param $x i32) (param $k i32) (param $kp i32) (param $group i32) (param $xq i32) (param $xs i32) (param $xsum i32) (param $narrow i32)
    (local $g i32) (local $len i32) (local $i i32) (local $s f32) (local $q f32) (local $sum f32) (local $n i32)
    (local $sv v128) (local $qv v128) (local $iv v128)
    (memory.fill (local.get $xq) (i32.const 0) (select (local.get $kp) (i32.shl (local.get $kp) (i32.const 1)) (local.get $narrow)))
    (block $gdone (loop $groups
      (br_if $gdone (i32.ge_u (local.get $g) (local.get $k)))
      (local.set $len (i32.sub (local.get $k) (local.get $g)))
      (if (i32.gt_u (local.get $len) (local.get $group)) (then (local.set $len (local.get $group))))
      (local.set $s (call $group_scale (i32.add (local.get $x) (i32.shl (local.get $g) (i32.const 2))) (local.get $len)))
      (local.set $sum (f32.const 0))
      (if (f32.ne (local.get $s) (f32.const 0)) (then
        ;; four at a time (the same division and rounding as one at a time; the sums are of integers
        ;; below 2^24, exact in any order), then the group's last values one by one
        (local.set $sv (v128.const i32x4 0 0 0 0))
        (local.set $i (i32.const 0))
        (block $vdone (loop $vectors
          (br_if $vdone (i32.gt_u (i32.add (local.get $i) (i32.const 4)) (local.get $len)))
          (local.set $qv (f32x4.max (f32x4.min (f32x4.nearest (f32x4.div (v128.load (i32.add (local.get $x) (i32.shl (i32.add (local.get $g) (local.get $i)) (i32.const 2))))
            (f32x4.splat (local.get $s)))) (v128.const f32x4 127 127 127 127)) (v128.const f32x4 -127 -127 -127 -127)))
          (local.set $iv (i32x4.trunc_sat_f32x4_s (local.get $qv)))
          (local.set $iv (i16x8.narrow_i32x4_s (local.get $iv) (local.get $iv)))
          (if (local.get $narrow)
            (then (v128.store32_lane 0 (i32.add (local.get $xq) (i32.add (local.get $g) (local.get $i))) (i8x16.narrow_i16x8_s (local.get $iv) (local.get $iv))))
            (else (v128.store64_lane 0 (i32.add (local.get $xq) (i32.shl (i32.add (local.get $g) (local.get $i)) (i32.const 1))) (local.get $iv))))
          (local.set $sv (f32x4.add (local.get $sv) (local.get $qv)))
          (local.set $i (i32.add (local.get $i) (i32.const 4)))
          (br $vectors)))
        (local.set $sum (f32.add (f32.add (f32x4.extract_lane 0 (local.get $sv)) (f32x4.extract_lane 1 (local.get $sv)))
          (f32.add (f32x4.extract_lane 2 (local.get $sv)) (f32x4.extract_lane 3 (local.get $sv)))))
        (block $idone (loop $values
          (br_if $idone (i32.ge_u (local.get $i) (local.get $len)))
          (local.set $q (call $code (f32.div (f32.load (i32.add (local.get $x) (i32.shl (i32.add (local.get $g) (local.get $i)) (i32.const 2)))) (local.get $s))))
          (if (local.get $narrow)
            (then (i32.store8 (i32.add (local.get $xq) (i32.add (local.get $g) (local.get $i))) (i32.trunc_sat_f32_s (local.get $q))))
            (else (i32.store16 (i32.add (local.get $xq) (i32.shl (i32.add (local.get $g) (local.get $i)) (i32.const 1))) (i32.trunc_sat_f32_s (local.get $q)))))
          (local.set $sum (f32.add (local.get $sum) (local.get $q)))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br $values)))))
      (f32.store (i32.add (local.get $xs) (i32.shl (local.get $n) (i32.const 2))) (local.get $s))
      (f32.store (i32.add (local.get $xsum) (i32.shl (local.get $n) (i32.const 2))) (local.get $sum))
      (local.set $n (i32.add (local.get $n) (i32.const 1)))
      (local.set $g (i32.add (local.get $g) (local.get $group)))
      (br $groups))))

  ;; rows [r0, r1) of x (k floats each) as quantize_row makes them (narrow: i8, else i16), for gemm_i:
  ;; row r's integers at xq + r kp bytes (2 r kp when not narrow), its groups' scales and sums at xs
  ;; and xsum + r groups floats
  (func (export "quantize_rows") (param $x i32) (param $k i32) (param $kp i32) (param $group i32) (param $xq i32) (param $xs i32) (param $xsum i32) (param $narrow i32) (param $r0 i32) (param $r1 i32)
    (local $r i32) (local $groups4 i32)
    (local.set $groups4 (i32.shl (i32.div_u (i32.sub (i32.add (local.get $k) (local.get $group)) (i32.const 1)) (local.get $group)) (i32.const 2)))
    (local.set $r (local.get $r0))
    (block $done (loop $rows
      (br_if $done (i32.ge_u (local.get $r) (local.get $r1)))
      (call $quantize_row (i32.add (local.get $x) (i32.shl (i32.mul (local.get $r) (local.get $k)) (i32.const 2))) (local.get $k) (local.get $kp) (local.get $group)
        (i32.add (local.get $xq) (i32.shl (i32.mul (local.get $r) (local.get $kp)) (i32.eqz (local.get $narrow))))
        (i32.add (local.get $xs) (i32.mul (local.get $r) (local.get $groups4)))
        (i32.add (local.get $xsum) (i32.mul (local.get $r) (local.get $groups4))) (local.get $narrow))
      (local.set $r (i32.add (local.get $r) (i32.const 1)))
      (br $rows))))

  ;; the 8 results of panel p into out (columns past n dropped)
  (func $store_panel (param $out i32) (param $p i32) (param $n i32) (param $lo v128) (param $hi v128)
    (local $cols i32)
    (local.set $cols (i32.sub (local.get $n) (i32.shl (local.get $p) (i32.const 3))))
    (if (i32.ge_s (local.get $cols) (i32.const 8))
      (then (call $store8 (i32.add (local.get $out) (i32.shl (local.get $p) (i32.const 5))) (local.get $lo) (local.get $hi) (i32.const 0)))
      (else (call $store_row (i32.add (local.get $out) (i32.shl (local.get $p) (i32.const 5))) (local.get $cols) (local.get $lo) (local.get $hi) (i32.const 0)))))

  ;; Rows [k0, k0 + depth) of quantized panel p as float32 panel rows (32 bytes each) at dst: the
  ;; block the GEMM multiplies next, widened once and read by every row block of A.
  (func $dequant_block (param $bits i32) (param $packed i32) (param $scales i32) (param $biases i32) (param $k i32) (param $group i32)
        (param $k0 i32) (param $depth i32) (param $p i32) (param $dst i32)
    (local $kk i32) (local $k1 i32) (local $next i32) (local $sp i32) (local $pp i32) (local $w v128) (local $h v128)
    (local $slo v128) (local $shi v128) (local $blo v128) (local $bhi v128) (local $negMiddle v128) (local $lowNibbles v128)
    ;; the low-nibble mask in a local (nibbles on x64, above)
    (local.set $lowNibbles (v128.const i8x16 15 15 15 15 15 15 15 15 15 15 15 15 15 15 15 15))
    ;; symmetric codes keep no bias table (biases 0): a bias is -middle * scale, exact (a power of two)
    (local.set $negMiddle (f32x4.splat (select (f32.const -128) (f32.const -8) (i32.eq (local.get $bits) (i32.const 8)))))
    (local.set $kk (local.get $k0))
    (local.set $k1 (i32.add (local.get $k0) (local.get $depth)))
    (local.set $next (local.get $k0))
    (local.set $pp (i32.add (local.get $packed)
      (i32.shl (i32.add (i32.mul (local.get $p) (local.get $k)) (local.get $k0)) (select (i32.const 3) (i32.const 2) (i32.eq (local.get $bits) (i32.const 8))))))
    (block $done (loop $rows
      (br_if $done (i32.ge_u (local.get $kk) (local.get $k1)))
      ;; a new group: its scales and biases
      (if (i32.ge_u (local.get $kk) (local.get $next)) (then
        (local.set $sp (i32.shl (i32.add
          (i32.mul (local.get $p) (i32.div_u (i32.sub (i32.add (local.get $k) (local.get $group)) (i32.const 1)) (local.get $group)))
          (i32.div_u (local.get $kk) (local.get $group))) (i32.const 5)))
        (local.set $slo (v128.load (i32.add (local.get $scales) (local.get $sp))))
        (local.set $shi (v128.load offset=16 (i32.add (local.get $scales) (local.get $sp))))
        (local.set $blo (if (result v128) (local.get $biases) (then (v128.load (i32.add (local.get $biases) (local.get $sp)))) (else (f32x4.mul (local.get $slo) (local.get $negMiddle)))))
        (local.set $bhi (if (result v128) (local.get $biases) (then (v128.load offset=16 (i32.add (local.get $biases) (local.get $sp)))) (else (f32x4.mul (local.get $shi) (local.get $negMiddle)))))
        (local.set $next (i32.mul (i32.add (i32.div_u (local.get $kk) (local.get $group)) (i32.const 1)) (local.get $group)))))
      (if (i32.eq (local.get $bits) (i32.const 8))
        (then
          (local.set $h (i16x8.extend_low_i8x16_u (v128.load64_zero (local.get $pp))))
          (local.set $w (i32x4.extend_high_i16x8_u (local.get $h)))
          (local.set $h (i32x4.extend_low_i16x8_u (local.get $h)))
          (local.set $pp (i32.add (local.get $pp) (i32.const 8))))
        (else
          (local.set $w (v128.load32_zero (local.get $pp)))
          (local.set $h (i32x4.extend_low_i16x8_u (i16x8.extend_low_i8x16_u (v128.and (local.get $w) (local.get $lowNibbles)))))
          (local.set $w (i32x4.extend_low_i16x8_u (i16x8.extend_low_i8x16_u (v128.and (i16x8.shr_u (local.get $w) (i32.const 4)) (local.get $lowNibbles)))))
          (local.set $pp (i32.add (local.get $pp) (i32.const 4)))))
      (v128.store (local.get $dst) (f32x4.relaxed_madd (f32x4.convert_i32x4_s (local.get $h)) (local.get $slo) (local.get $blo)))
      (v128.store offset=16 (local.get $dst) (f32x4.relaxed_madd (f32x4.convert_i32x4_s (local.get $w)) (local.get $shi) (local.get $bhi)))
      (local.set $dst (i32.add (local.get $dst) (i32.const 32)))
      (local.set $kk (i32.add (local.get $kk) (i32.const 1)))
      (br $rows))))

  ;; C = A @ W for panels [p0, p1) with W quantized (bits 8 or 4): per block of 256 rows of K and per
  ;; panel, the block is widened into this thread's `buf` (8 KiB) and multiplied as gemm does. W in the
  ;; rows layout (int8 activations' rows arrive rounded to floats here: gemm_i multiplies integers).
  (func (export "gemm_q") (param $ap i32) (param $m i32) (param $packed i32) (param $scales i32) (param $biases i32)
        (param $k i32) (param $n i32) (param $group i32) (param $bits i32) (param $c i32) (param $ldc i32) (param $buf i32) (param $p0 i32) (param $p1 i32)
    (local $k0 i32) (local $depth i32) (local $acc i32) (local $i0 i32) (local $iEnd i32) (local $p i32) (local $r0 i32) (local $cols i32)
    (block $kdone (loop $kloop
      (br_if $kdone (i32.ge_u (local.get $k0) (local.get $k)))
      (local.set $depth (select (i32.const 256) (i32.sub (local.get $k) (local.get $k0))
        (i32.lt_u (i32.const 256) (i32.sub (local.get $k) (local.get $k0)))))
      (local.set $acc (i32.ne (local.get $k0) (i32.const 0)))
      (local.set $i0 (i32.const 0))
      (block $idone (loop $iloop
        (br_if $idone (i32.ge_u (local.get $i0) (local.get $m)))
        (local.set $iEnd (select (i32.add (local.get $i0) (i32.const 128)) (local.get $m)
          (i32.lt_u (i32.add (local.get $i0) (i32.const 128)) (local.get $m))))
        (local.set $p (local.get $p0))
        (block $pdone (loop $ploop
          (br_if $pdone (i32.ge_u (local.get $p) (local.get $p1)))
          (call $dequant_block (local.get $bits) (local.get $packed) (local.get $scales) (local.get $biases) (local.get $k) (local.get $group)
            (local.get $k0) (local.get $depth) (local.get $p) (local.get $buf))
          (local.set $cols (i32.sub (local.get $n) (i32.shl (local.get $p) (i32.const 3))))
          (if (i32.gt_s (local.get $cols) (i32.const 8)) (then (local.set $cols (i32.const 8))))
          (local.set $r0 (local.get $i0))
          (block $rdone (loop $rloop
            (br_if $rdone (i32.ge_u (local.get $r0) (local.get $iEnd)))
            (call $block4x8
              (i32.add (local.get $ap) (i32.shl (i32.add (i32.mul (i32.shr_u (local.get $r0) (i32.const 2)) (local.get $k)) (local.get $k0)) (i32.const 4)))
              (local.get $buf) (local.get $depth)
              (i32.add (i32.add (local.get $c) (i32.mul (local.get $r0) (local.get $ldc))) (i32.shl (local.get $p) (i32.const 5)))
              (local.get $ldc) (i32.sub (local.get $m) (local.get $r0)) (local.get $cols) (local.get $acc))
            (local.set $r0 (i32.add (local.get $r0) (i32.const 4)))
            (br $rloop)))
          (local.set $p (i32.add (local.get $p) (i32.const 1)))
          (br $ploop)))
        (local.set $i0 (local.get $iEnd))
        (br $iloop)))
      (local.set $k0 (i32.add (local.get $k0) (i32.const 256)))
      (br $kloop))))

  ;; ---------------------------------------------------------------------------------------------
  ;; matmul epilogue

  ;; act 0: none, 1: GELU with tanh (GPT-2's gelu_new), 2: ReLU, 3: GELU with erf
  (func $activate (param $x v128) (param $act i32) (result v128)
    (local $t v128)
    (if (i32.eq (local.get $act) (i32.const 1)) (then
      ;; 0.5 x (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3), tanh(u) = 1 - 2 / (e^(2u) + 1)
      (local.set $t (f32x4.mul (v128.const f32x4 1.5957691216 1.5957691216 1.5957691216 1.5957691216)
        (f32x4.relaxed_madd (f32x4.mul (v128.const f32x4 0.044715 0.044715 0.044715 0.044715) (f32x4.mul (local.get $x) (local.get $x))) (local.get $x) (local.get $x))))
      (local.set $t (f32x4.sub (v128.const f32x4 1 1 1 1)
        (f32x4.div (v128.const f32x4 2 2 2 2) (f32x4.add (call $exp4 (local.get $t)) (v128.const f32x4 1 1 1 1)))))
      (return (f32x4.mul (f32x4.mul (v128.const f32x4 0.5 0.5 0.5 0.5) (local.get $x)) (f32x4.add (v128.const f32x4 1 1 1 1) (local.get $t))))))
    (if (i32.eq (local.get $act) (i32.const 2)) (then
      (return (f32x4.max (local.get $x) (v128.const f32x4 0 0 0 0)))))
    (if (i32.eq (local.get $act) (i32.const 3)) (then
      ;; 0.5 x (1 + erf(x / sqrt 2)), erf by Abramowitz and Stegun 7.1.26 (|error| <= 1.5e-7)
      (return (f32x4.mul (f32x4.mul (v128.const f32x4 0.5 0.5 0.5 0.5) (local.get $x))
        (f32x4.add (v128.const f32x4 1 1 1 1) (call $erf4 (f32x4.mul (local.get $x) (v128.const f32x4 0.70710678 0.70710678 0.70710678 0.70710678))))))))
    (local.get $x))

  ;; erf per lane: sign(x) (1 - poly(t) e^(-x^2)), t = 1 / (1 + 0.3275911 |x|)
  (func $erf4 (param $x v128) (result v128)
    (local $a v128) (local $t v128) (local $p v128)
    (local.set $a (f32x4.abs (local.get $x)))
    (local.set $t (f32x4.div (v128.const f32x4 1 1 1 1) (f32x4.relaxed_madd (local.get $a) (v128.const f32x4 0.3275911 0.3275911 0.3275911 0.3275911) (v128.const f32x4 1 1 1 1))))
    (local.set $p (f32x4.relaxed_madd (local.get $t) (v128.const f32x4 1.061405429 1.061405429 1.061405429 1.061405429) (v128.const f32x4 -1.453152027 -1.453152027 -1.453152027 -1.453152027)))
    (local.set $p (f32x4.relaxed_madd (local.get $p) (local.get $t) (v128.const f32x4 1.421413741 1.421413741 1.421413741 1.421413741)))
    (local.set $p (f32x4.relaxed_madd (local.get $p) (local.get $t) (v128.const f32x4 -0.284496736 -0.284496736 -0.284496736 -0.284496736)))
    (local.set $p (f32x4.relaxed_madd (local.get $p) (local.get $t) (v128.const f32x4 0.254829592 0.254829592 0.254829592 0.254829592)))
    (local.set $p (f32x4.mul (local.get $p) (local.get $t)))
    (local.set $p (f32x4.sub (v128.const f32x4 1 1 1 1) (f32x4.mul (local.get $p) (call $exp4 (f32x4.neg (f32x4.mul (local.get $a) (local.get $a)))))))
    ;; the sign of x onto the result
    (v128.or (local.get $p) (v128.and (local.get $x) (v128.const i32x4 0x80000000 0x80000000 0x80000000 0x80000000))))

  ;; Rows [r0, r1) of C [., n] (row stride ldc bytes), in place: c = act(c + bias) + residual, where
  ;; bias [n] (0: none) broadcasts over rows and residual (0: none) has row stride ldr bytes.
  (func (export "epilogue") (param $c i32) (param $ldc i32) (param $n i32) (param $bias i32) (param $res i32) (param $ldr i32)
        (param $act i32) (param $r0 i32) (param $r1 i32)
    (call $epilogue_columns (local.get $c) (local.get $ldc) (i32.const 0) (local.get $n) (local.get $bias) (local.get $res) (local.get $ldr)
      (local.get $act) (local.get $r0) (local.get $r1)))

  ;; The epilogue on columns [j0, j1) of rows [r0, r1) (bias and residual indexed by column as in C).
  (func $epilogue_columns (param $c i32) (param $ldc i32) (param $j0 i32) (param $j1 i32) (param $bias i32) (param $res i32) (param $ldr i32)
        (param $act i32) (param $r0 i32) (param $r1 i32)
    (local $r i32) (local $j i32) (local $cp i32) (local $rp i32) (local $x v128) (local $four i32)
    (local.set $r (local.get $r0))
    (block $rdone (loop $rloop
      (br_if $rdone (i32.ge_u (local.get $r) (local.get $r1)))
      (local.set $cp (i32.add (i32.add (local.get $c) (i32.mul (local.get $r) (local.get $ldc))) (i32.shl (local.get $j0) (i32.const 2))))
      (local.set $rp (i32.add (i32.add (local.get $res) (i32.mul (local.get $r) (local.get $ldr))) (i32.shl (local.get $j0) (i32.const 2))))
      (local.set $j (local.get $j0))
      (block $jdone (loop $jloop
        (br_if $jdone (i32.ge_u (local.get $j) (local.get $j1)))
        (local.set $four (i32.le_u (i32.add (local.get $j) (i32.const 4)) (local.get $j1)))
        ;; four lanes at a time; the tail goes one lane at a time through the same vector code
        (local.set $x (if (result v128) (local.get $four)
          (then (v128.load (local.get $cp)))
          (else (f32x4.splat (f32.load (local.get $cp))))))
        (if (local.get $bias) (then
          (local.set $x (f32x4.add (local.get $x) (if (result v128) (local.get $four)
            (then (v128.load (i32.add (local.get $bias) (i32.shl (local.get $j) (i32.const 2)))))
            (else (f32x4.splat (f32.load (i32.add (local.get $bias) (i32.shl (local.get $j) (i32.const 2)))))))))))
        (local.set $x (call $activate (local.get $x) (local.get $act)))
        (if (local.get $res) (then
          (local.set $x (f32x4.add (local.get $x) (if (result v128) (local.get $four)
            (then (v128.load (local.get $rp)))
            (else (f32x4.splat (f32.load (local.get $rp)))))))))
        (if (local.get $four)
          (then
            (v128.store (local.get $cp) (local.get $x))
            (local.set $cp (i32.add (local.get $cp) (i32.const 16)))
            (local.set $rp (i32.add (local.get $rp) (i32.const 16)))
            (local.set $j (i32.add (local.get $j) (i32.const 4))))
          (else
            (f32.store (local.get $cp) (f32x4.extract_lane 0 (local.get $x)))
            (local.set $cp (i32.add (local.get $cp) (i32.const 4)))
            (local.set $rp (i32.add (local.get $rp) (i32.const 4)))
            (local.set $j (i32.add (local.get $j) (i32.const 1)))))
        (br $jloop)))
      (local.set $r (i32.add (local.get $r) (i32.const 1)))
      (br $rloop))))

  ;; ---------------------------------------------------------------------------------------------
  ;; the arithmetic bound, for the benchmark: 12 independent multiply-add chains on registers, no
  ;; memory; iterations x 12 x 8 flops. Tells what 128-bit SIMD can reach on this CPU.
  (func (export "simd_peak") (param $iterations i32) (result f32)
    (local $i i32) (local $m v128) (local $a v128) (local $s0 v128) (local $s1 v128) (local $s2 v128) (local $s3 v128) (local $s4 v128) (local $s5 v128) (local $s6 v128) (local $s7 v128) (local $s8 v128) (local $s9 v128) (local $s10 v128) (local $s11 v128)
    (local.set $m (v128.const f32x4 0.999 0.999 0.999 0.999))
    (local.set $a (v128.const f32x4 0.001 0.001 0.001 0.001))
    (block $done (loop $loop
      (br_if $done (i32.ge_u (local.get $i) (local.get $iterations)))
      (local.set $s0 (f32x4.relaxed_madd (local.get $s0) (local.get $m) (local.get $a)))
      (local.set $s1 (f32x4.relaxed_madd (local.get $s1) (local.get $m) (local.get $a)))
      (local.set $s2 (f32x4.relaxed_madd (local.get $s2) (local.get $m) (local.get $a)))
      (local.set $s3 (f32x4.relaxed_madd (local.get $s3) (local.get $m) (local.get $a)))
      (local.set $s4 (f32x4.relaxed_madd (local.get $s4) (local.get $m) (local.get $a)))
      (local.set $s5 (f32x4.relaxed_madd (local.get $s5) (local.get $m) (local.get $a)))
      (local.set $s6 (f32x4.relaxed_madd (local.get $s6) (local.get $m) (local.get $a)))
      (local.set $s7 (f32x4.relaxed_madd (local.get $s7) (local.get $m) (local.get $a)))
      (local.set $s8 (f32x4.relaxed_madd (local.get $s8) (local.get $m) (local.get $a)))
      (local.set $s9 (f32x4.relaxed_madd (local.get $s9) (local.get $m) (local.get $a)))
      (local.set $s10 (f32x4.relaxed_madd (local.get $s10) (local.get $m) (local.get $a)))
      (local.set $s11 (f32x4.relaxed_madd (local.get $s11) (local.get $m) (local.get $a)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $loop)))
    (f32x4.extract_lane 0 (f32x4.add (f32x4.add (f32x4.add (f32x4.add (f32x4.add (f32x4.add (f32x4.add (f32x4.add (f32x4.add (f32x4.add (f32x4.add (local.get $s0) (local.get $s1)) (local.get $s2)) (local.get $s3)) (local.get $s4)) (local.get $s5)) (local.get $s6)) (local.get $s7)) (local.get $s8)) (local.get $s9)) (local.get $s10)) (local.get $s11))))

  ;; ---------------------------------------------------------------------------------------------
  ;; layer norm

  ;; sum of x[0:d] (+ r[0:d] when r) minus `shift` squared (pow2) or not, four lanes at a time
  (func $row_sum (param $x i32) (param $r i32) (param $d i32) (param $shift f32) (param $square i32) (result f32)
    (local $i i32) (local $v v128) (local $s0 v128) (local $s1 v128) (local $sh v128) (local $t f32) (local $total f32)
    (local.set $sh (f32x4.splat (local.get $shift)))
    (block $done8 (loop $l8
      (br_if $done8 (i32.gt_u (i32.add (local.get $i) (i32.const 8)) (local.get $d)))
      (local.set $v (v128.load (local.get $x)))
      (if (local.get $r) (then (local.set $v (f32x4.add (local.get $v) (v128.load (local.get $r))))))
      (local.set $v (f32x4.sub (local.get $v) (local.get $sh)))
      (if (local.get $square) (then (local.set $v (f32x4.mul (local.get $v) (local.get $v)))))
      (local.set $s0 (f32x4.add (local.get $s0) (local.get $v)))
      (local.set $v (v128.load offset=16 (local.get $x)))
      (if (local.get $r) (then (local.set $v (f32x4.add (local.get $v) (v128.load offset=16 (local.get $r))))))
      (local.set $v (f32x4.sub (local.get $v) (local.get $sh)))
      (if (local.get $square) (then (local.set $v (f32x4.mul (local.get $v) (local.get $v)))))
      (local.set $s1 (f32x4.add (local.get $s1) (local.get $v)))
      (local.set $x (i32.add (local.get $x) (i32.const 32)))
      (if (local.get $r) (then (local.set $r (i32.add (local.get $r) (i32.const 32)))))
      (local.set $i (i32.add (local.get $i) (i32.const 8)))
      (br $l8)))
    (local.set $s0 (f32x4.add (local.get $s0) (local.get $s1)))
    (local.set $total (f32.add (f32.add (f32x4.extract_lane 0 (local.get $s0)) (f32x4.extract_lane 1 (local.get $s0)))
                               (f32.add (f32x4.extract_lane 2 (local.get $s0)) (f32x4.extract_lane 3 (local.get $s0)))))
    (block $done (loop $l1
      (br_if $done (i32.ge_u (local.get $i) (local.get $d)))
      (local.set $t (f32.load (local.get $x)))
      (if (local.get $r) (then (local.set $t (f32.add (local.get $t) (f32.load (local.get $r))))))
      (local.set $t (f32.sub (local.get $t) (local.get $shift)))
      (if (local.get $square) (then (local.set $t (f32.mul (local.get $t) (local.get $t)))))
      (local.set $total (f32.add (local.get $total) (local.get $t)))
      (local.set $x (i32.add (local.get $x) (i32.const 4)))
      (if (local.get $r) (then (local.set $r (i32.add (local.get $r) (i32.const 4)))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $l1)))
    (local.get $total))

  ;; Rows [r0, r1) of layer_norm(x (+ r when r != 0)) over the last axis of d: out = (v - mean) /
  ;; sqrt(var + eps) * gamma + beta, mean and variance in two passes (no cancellation).
  (func (export "layer_norm") (param $x i32) (param $r i32) (param $gamma i32) (param $beta i32) (param $out i32) (param $d i32)
        (param $epsBits i32) (param $r0 i32) (param $r1 i32)
    (local $row i32) (local $xp i32) (local $rp i32) (local $op i32) (local $i i32) (local $mean f32) (local $inv f32)
    (local $v v128) (local $m v128) (local $s v128) (local $t f32)
    (local.set $row (local.get $r0))
    (block $rows_done (loop $rows
      (br_if $rows_done (i32.ge_u (local.get $row) (local.get $r1)))
      (local.set $xp (i32.add (local.get $x) (i32.shl (i32.mul (local.get $row) (local.get $d)) (i32.const 2))))
      (local.set $rp (select (i32.add (local.get $r) (i32.shl (i32.mul (local.get $row) (local.get $d)) (i32.const 2))) (i32.const 0) (local.get $r)))
      (local.set $op (i32.add (local.get $out) (i32.shl (i32.mul (local.get $row) (local.get $d)) (i32.const 2))))
      (local.set $mean (f32.div (call $row_sum (local.get $xp) (local.get $rp) (local.get $d) (f32.const 0) (i32.const 0)) (f32.convert_i32_u (local.get $d))))
      (local.set $inv (f32.div (f32.const 1) (f32.sqrt (f32.add
        (f32.div (call $row_sum (local.get $xp) (local.get $rp) (local.get $d) (local.get $mean) (i32.const 1)) (f32.convert_i32_u (local.get $d)))
        (f32.reinterpret_i32 (local.get $epsBits))))))
      (local.set $m (f32x4.splat (local.get $mean)))
      (local.set $s (f32x4.splat (local.get $inv)))
      (local.set $i (i32.const 0))
      (block $done4 (loop $l4
        (br_if $done4 (i32.gt_u (i32.add (local.get $i) (i32.const 4)) (local.get $d)))
        (local.set $v (v128.load (i32.add (local.get $xp) (i32.shl (local.get $i) (i32.const 2)))))
        (if (local.get $rp) (then (local.set $v (f32x4.add (local.get $v) (v128.load (i32.add (local.get $rp) (i32.shl (local.get $i) (i32.const 2))))))))
        (v128.store (i32.add (local.get $op) (i32.shl (local.get $i) (i32.const 2)))
          (f32x4.relaxed_madd (f32x4.mul (f32x4.sub (local.get $v) (local.get $m)) (local.get $s))
            (v128.load (i32.add (local.get $gamma) (i32.shl (local.get $i) (i32.const 2))))
            (v128.load (i32.add (local.get $beta) (i32.shl (local.get $i) (i32.const 2))))))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $l4)))
      (block $done (loop $l1
        (br_if $done (i32.ge_u (local.get $i) (local.get $d)))
        (local.set $t (f32.load (i32.add (local.get $xp) (i32.shl (local.get $i) (i32.const 2)))))
        (if (local.get $rp) (then (local.set $t (f32.add (local.get $t) (f32.load (i32.add (local.get $rp) (i32.shl (local.get $i) (i32.const 2))))))))
        (f32.store (i32.add (local.get $op) (i32.shl (local.get $i) (i32.const 2)))
          (f32.add (f32.mul (f32.mul (f32.sub (local.get $t) (local.get $mean)) (local.get $inv))
            (f32.load (i32.add (local.get $gamma) (i32.shl (local.get $i) (i32.const 2)))))
            (f32.load (i32.add (local.get $beta) (i32.shl (local.get $i) (i32.const 2))))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $l1)))
      (local.set $row (i32.add (local.get $row) (i32.const 1)))
      (br $rows))))

  ;; ---------------------------------------------------------------------------------------------
  ;; attention

  ;; e^x per lane, float32: x = n ln2 + r with |r| <= ln2/2, e^r by a degree-6 polynomial (Cephes'
  ;; expf coefficients, about 1 ulp), times 2^n built in the exponent bits. Exactly 0 below -87.3
  ;; (where float32 underflows), so a masked key's weight is 0 as in the reference.
  (func $exp4 (param $x v128) (result v128)
    (local $n v128) (local $r v128) (local $p v128) (local $small v128)
    (local.set $small (f32x4.lt (local.get $x) (v128.const f32x4 -87.3 -87.3 -87.3 -87.3)))
    (local.set $x (f32x4.min (local.get $x) (v128.const f32x4 88.3 88.3 88.3 88.3)))
    (local.set $x (f32x4.max (local.get $x) (v128.const f32x4 -87.3 -87.3 -87.3 -87.3)))
    (local.set $n (f32x4.nearest (f32x4.mul (local.get $x) (v128.const f32x4 1.44269504 1.44269504 1.44269504 1.44269504))))
    (local.set $r (f32x4.relaxed_madd (local.get $n) (v128.const f32x4 -0.693359375 -0.693359375 -0.693359375 -0.693359375) (local.get $x)))
    (local.set $r (f32x4.relaxed_madd (local.get $n) (v128.const f32x4 2.12194440e-4 2.12194440e-4 2.12194440e-4 2.12194440e-4) (local.get $r)))
    (local.set $p (v128.const f32x4 1.9875691500e-4 1.9875691500e-4 1.9875691500e-4 1.9875691500e-4))
    (local.set $p (f32x4.relaxed_madd (local.get $p) (local.get $r) (v128.const f32x4 1.3981999507e-3 1.3981999507e-3 1.3981999507e-3 1.3981999507e-3)))
    (local.set $p (f32x4.relaxed_madd (local.get $p) (local.get $r) (v128.const f32x4 8.3334519073e-3 8.3334519073e-3 8.3334519073e-3 8.3334519073e-3)))
    (local.set $p (f32x4.relaxed_madd (local.get $p) (local.get $r) (v128.const f32x4 4.1665795894e-2 4.1665795894e-2 4.1665795894e-2 4.1665795894e-2)))
    (local.set $p (f32x4.relaxed_madd (local.get $p) (local.get $r) (v128.const f32x4 1.6666665459e-1 1.6666665459e-1 1.6666665459e-1 1.6666665459e-1)))
    (local.set $p (f32x4.relaxed_madd (local.get $p) (local.get $r) (v128.const f32x4 5.0000001201e-1 5.0000001201e-1 5.0000001201e-1 5.0000001201e-1)))
    (local.set $p (f32x4.relaxed_madd (local.get $p) (f32x4.mul (local.get $r) (local.get $r)) (f32x4.add (local.get $r) (v128.const f32x4 1 1 1 1))))
    (local.set $p (f32x4.mul (local.get $p)
      (i32x4.shl (i32x4.add (i32x4.trunc_sat_f32x4_s (local.get $n)) (v128.const i32x4 127 127 127 127)) (i32.const 23))))
    (v128.andnot (local.get $p) (local.get $small)))

;; ---------------------------------------------------------------------------------------------
  ;; softmax over rows of d floats, and the statistics cross-entropy needs

  ;; max of x[0:d] (d > 0), four lanes at a time, then the tail
  (func $row_max (param $x i32) (param $d i32) (result f32)
    (local $i i32) (local $m v128) (local $s f32)
    (local.set $m (v128.const f32x4 -inf -inf -inf -inf))
    (block $done4 (loop $l4
      (br_if $done4 (i32.gt_u (i32.add (local.get $i) (i32.const 4)) (local.get $d)))
      (local.set $m (f32x4.max (local.get $m) (v128.load (local.get $x))))
      (local.set $x (i32.add (local.get $x) (i32.const 16)))
      (local.set $i (i32.add (local.get $i) (i32.const 4)))
      (br $l4)))
    (local.set $s (f32.max (f32.max (f32x4.extract_lane 0 (local.get $m)) (f32x4.extract_lane 1 (local.get $m)))
                           (f32.max (f32x4.extract_lane 2 (local.get $m)) (f32x4.extract_lane 3 (local.get $m)))))
    (block $done (loop $l1
      (br_if $done (i32.ge_u (local.get $i) (local.get $d)))
      (local.set $s (f32.max (local.get $s) (f32.load (local.get $x))))
      (local.set $x (i32.add (local.get $x) (i32.const 4)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $l1)))
    (local.get $s))

  ;; e^x per lane of f64x2, for x <= 0: x = n ln2 + r (ln2 in two parts), |r| <= ln2/2, e^r by its
  ;; Taylor polynomial to r^10 (relative error about 1e-13, so that a float32 result rounds as from
  ;; JavaScript's Math.exp but for one in a million), times 2^n built in the exponent bits (n taken from the mantissa of
  ;; x log2(e) + 1.5 * 2^52). Clamped at -700, where e^x is 0 to float32 anyway; NaN stays NaN.
  (func $exp2d (param $x v128) (result v128)
    (local $n v128) (local $r v128) (local $p v128)
    (local.set $x (f64x2.max (local.get $x) (v128.const f64x2 -700 -700)))
    (local.set $n (f64x2.nearest (f64x2.mul (local.get $x) (v128.const f64x2 1.4426950408889634 1.4426950408889634))))
    (local.set $r (f64x2.sub (local.get $x) (f64x2.mul (local.get $n) (v128.const f64x2 0.6931471803691238 0.6931471803691238))))
    (local.set $r (f64x2.sub (local.get $r) (f64x2.mul (local.get $n) (v128.const f64x2 1.9082149292705877e-10 1.9082149292705877e-10))))
    (local.set $p (v128.const f64x2 2.755731922398589e-7 2.755731922398589e-7))
    (local.set $p (f64x2.add (f64x2.mul (local.get $p) (local.get $r)) (v128.const f64x2 2.7557319223985893e-6 2.7557319223985893e-6)))
    (local.set $p (f64x2.add (f64x2.mul (local.get $p) (local.get $r)) (v128.const f64x2 2.48015873015873e-5 2.48015873015873e-5)))
    (local.set $p (f64x2.add (f64x2.mul (local.get $p) (local.get $r)) (v128.const f64x2 1.984126984126984e-4 1.984126984126984e-4)))
    (local.set $p (f64x2.add (f64x2.mul (local.get $p) (local.get $r)) (v128.const f64x2 1.388888888888889e-3 1.388888888888889e-3)))
    (local.set $p (f64x2.add (f64x2.mul (local.get $p) (local.get $r)) (v128.const f64x2 8.333333333333333e-3 8.333333333333333e-3)))
    (local.set $p (f64x2.add (f64x2.mul (local.get $p) (local.get $r)) (v128.const f64x2 4.1666666666666664e-2 4.1666666666666664e-2)))
    (local.set $p (f64x2.add (f64x2.mul (local.get $p) (local.get $r)) (v128.const f64x2 0.16666666666666666 0.16666666666666666)))
    (local.set $p (f64x2.add (f64x2.mul (local.get $p) (local.get $r)) (v128.const f64x2 0.5 0.5)))
    (local.set $p (f64x2.add (f64x2.mul (local.get $p) (local.get $r)) (v128.const f64x2 1 1)))
    (local.set $p (f64x2.add (f64x2.mul (local.get $p) (local.get $r)) (v128.const f64x2 1 1)))
    ;; n + 1.5 * 2^52 holds n in its low mantissa bits; minus the constant's bits, plus the bias, shifted into the exponent
    (f64x2.mul (local.get $p)
      (i64x2.shl (i64x2.add (i64x2.sub (f64x2.add (local.get $n) (v128.const f64x2 6755399441055744 6755399441055744))
                                      (v128.const i64x2 0x4338000000000000 0x4338000000000000))
                           (v128.const i64x2 1023 1023))
                 (i32.const 52))))

  ;; the four float32 lanes of v, as two f64x2 (lanes 0-1, lanes 2-3)
  (func $high_pair (param $v v128) (result v128)
    (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $v) (local.get $v))))

  ;; two f64x2 rounded into one f32x4 (lo's lanes first)
  (func $demote_pair (param $lo v128) (param $hi v128) (result v128)
    (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (f32x4.demote_f64x2_zero (local.get $lo)) (f32x4.demote_f64x2_zero (local.get $hi))))

  ;; sum of e^(x[i] - max) over x[0:d] in float64, each term also stored (rounded to float32) at out[i] when out != 0
  (func $exp_row (param $x i32) (param $out i32) (param $d i32) (param $max f32) (result f64)
    (local $i i32) (local $v v128) (local $lo v128) (local $hi v128) (local $s0 v128) (local $s1 v128) (local $mx v128) (local $t f64) (local $total f64)
    (local.set $mx (f64x2.splat (f64.promote_f32 (local.get $max))))
    (block $done4 (loop $l4
      (br_if $done4 (i32.gt_u (i32.add (local.get $i) (i32.const 4)) (local.get $d)))
      (local.set $v (v128.load (local.get $x)))
      (local.set $lo (call $exp2d (f64x2.sub (f64x2.promote_low_f32x4 (local.get $v)) (local.get $mx))))
      (local.set $hi (call $exp2d (f64x2.sub (call $high_pair (local.get $v)) (local.get $mx))))
      (local.set $s0 (f64x2.add (local.get $s0) (local.get $lo)))
      (local.set $s1 (f64x2.add (local.get $s1) (local.get $hi)))
      (if (local.get $out) (then
        (v128.store (local.get $out) (call $demote_pair (local.get $lo) (local.get $hi)))
        (local.set $out (i32.add (local.get $out) (i32.const 16)))))
      (local.set $x (i32.add (local.get $x) (i32.const 16)))
      (local.set $i (i32.add (local.get $i) (i32.const 4)))
      (br $l4)))
    (local.set $s0 (f64x2.add (local.get $s0) (local.get $s1)))
    (local.set $total (f64.add (f64x2.extract_lane 0 (local.get $s0)) (f64x2.extract_lane 1 (local.get $s0))))
    (block $done (loop $l1
      (br_if $done (i32.ge_u (local.get $i) (local.get $d)))
      (local.set $t (f64x2.extract_lane 0 (call $exp2d (f64x2.sub (f64x2.splat (f64.promote_f32 (f32.load (local.get $x)))) (local.get $mx)))))
      (local.set $total (f64.add (local.get $total) (local.get $t)))
      (if (local.get $out) (then
        (f32.store (local.get $out) (f32.demote_f64 (local.get $t)))
        (local.set $out (i32.add (local.get $out) (i32.const 4)))))
      (local.set $x (i32.add (local.get $x) (i32.const 4)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $l1)))
    (local.get $total))

;; x[0:d] = x * s, in float64, rounded once
  (func $scale_row64 (param $x i32) (param $d i32) (param $s f64)
    (local $i i32) (local $ss v128) (local $v v128)
    (local.set $ss (f64x2.splat (local.get $s)))
    (block $done4 (loop $l4
      (br_if $done4 (i32.gt_u (i32.add (local.get $i) (i32.const 4)) (local.get $d)))
      (local.set $v (v128.load (local.get $x)))
      (v128.store (local.get $x) (call $demote_pair (f64x2.mul (f64x2.promote_low_f32x4 (local.get $v)) (local.get $ss))
                                                    (f64x2.mul (call $high_pair (local.get $v)) (local.get $ss))))
      (local.set $x (i32.add (local.get $x) (i32.const 16)))
      (local.set $i (i32.add (local.get $i) (i32.const 4)))
      (br $l4)))
    (block $done (loop $l1
      (br_if $done (i32.ge_u (local.get $i) (local.get $d)))
      (f32.store (local.get $x) (f32.demote_f64 (f64.mul (f64.promote_f32 (f32.load (local.get $x))) (local.get $s))))
      (local.set $x (i32.add (local.get $x) (i32.const 4)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $l1))))

    ;; sum of x[0:d] in float64
  (func $row_sum64 (param $x i32) (param $d i32) (result f64)
    (local $i i32) (local $v v128) (local $s0 v128) (local $s1 v128) (local $total f64)
    (block $done4 (loop $l4
      (br_if $done4 (i32.gt_u (i32.add (local.get $i) (i32.const 4)) (local.get $d)))
      (local.set $v (v128.load (local.get $x)))
      (local.set $s0 (f64x2.add (local.get $s0) (f64x2.promote_low_f32x4 (local.get $v))))
      (local.set $s1 (f64x2.add (local.get $s1) (call $high_pair (local.get $v))))
      (local.set $x (i32.add (local.get $x) (i32.const 16)))
      (local.set $i (i32.add (local.get $i) (i32.const 4)))
      (br $l4)))
    (local.set $s0 (f64x2.add (local.get $s0) (local.get $s1)))
    (local.set $total (f64.add (f64x2.extract_lane 0 (local.get $s0)) (f64x2.extract_lane 1 (local.get $s0))))
    (block $done (loop $l1
      (br_if $done (i32.ge_u (local.get $i) (local.get $d)))
      (local.set $total (f64.add (local.get $total) (f64.promote_f32 (f32.load (local.get $x)))))
      (local.set $x (i32.add (local.get $x) (i32.const 4)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $l1)))
    (local.get $total))

  ;; Rows [r0, r1) of out = softmax(x) over rows of d floats (d > 0): the row's max, e^(x - max) in
  ;; float64 stored as float32 and summed in float64, then each times 1 / sum in float64, rounded: the
  ;; JavaScript kernel's arithmetic step for step (float32's e^x cost the training goldens accuracy:
  ;; the backward's P (dP - sum(P dP)) cancels enough to show 3 ulp). Safe with out = x.
  (func (export "softmax_rows") (param $x i32) (param $out i32) (param $d i32) (param $r0 i32) (param $r1 i32)
    (local $r i32) (local $xr i32) (local $or i32)
    (local.set $r (local.get $r0))
    (block $done (loop $rows
      (br_if $done (i32.ge_u (local.get $r) (local.get $r1)))
      (local.set $xr (i32.add (local.get $x) (i32.shl (i32.mul (local.get $r) (local.get $d)) (i32.const 2))))
      (local.set $or (i32.add (local.get $out) (i32.shl (i32.mul (local.get $r) (local.get $d)) (i32.const 2))))
      (call $scale_row64 (local.get $or) (local.get $d)
        (f64.div (f64.const 1) (call $exp_row (local.get $xr) (local.get $or) (local.get $d) (call $row_max (local.get $xr) (local.get $d)))))
      (local.set $r (i32.add (local.get $r) (i32.const 1)))
      (br $rows))))

  ;; Rows [r0, r1) of x (rows of d floats, d > 0): stats[3r..3r+2] (float64) = the row's max, the sum
  ;; of e^(x - max), and the sum of x (softmax cross-entropy's logsumexp and label smoothing).
  (func (export "softmax_stats") (param $x i32) (param $stats i32) (param $d i32) (param $r0 i32) (param $r1 i32)
    (local $r i32) (local $xr i32) (local $sp i32) (local $max f32)
    (local.set $r (local.get $r0))
    (block $done (loop $rows
      (br_if $done (i32.ge_u (local.get $r) (local.get $r1)))
      (local.set $xr (i32.add (local.get $x) (i32.shl (i32.mul (local.get $r) (local.get $d)) (i32.const 2))))
      (local.set $sp (i32.add (local.get $stats) (i32.mul (local.get $r) (i32.const 24))))
      (local.set $max (call $row_max (local.get $xr) (local.get $d)))
      (f64.store (local.get $sp) (f64.promote_f32 (local.get $max)))
      (f64.store offset=8 (local.get $sp) (call $exp_row (local.get $xr) (i32.const 0) (local.get $d) (local.get $max)))
      (f64.store offset=16 (local.get $sp) (call $row_sum64 (local.get $xr) (local.get $d)))
      (local.set $r (i32.add (local.get $r) (i32.const 1)))
      (br $rows))))

  ;; ---------------------------------------------------------------------------------------------
  ;; sums over the last axes (rows) or the leading axes (columns), in float64: the gradients of biases and norms

;; Rows [r0, r1) of x (rows of d floats): out[r] = the row's sum, in float64, rounded once
  (func (export "sum_rows") (param $x i32) (param $out i32) (param $d i32) (param $r0 i32) (param $r1 i32)
    (local $r i32)
    (local.set $r (local.get $r0))
    (block $done (loop $rows
      (br_if $done (i32.ge_u (local.get $r) (local.get $r1)))
      (f32.store (i32.add (local.get $out) (i32.shl (local.get $r) (i32.const 2)))
        (f32.demote_f64 (call $row_sum64 (i32.add (local.get $x) (i32.shl (i32.mul (local.get $r) (local.get $d)) (i32.const 2))) (local.get $d))))
      (local.set $r (i32.add (local.get $r) (i32.const 1)))
      (br $rows))))

  ;; Column blocks [b0, b1) of x [rows, n] (8 columns a block, the last one narrower): out[j] = the sum
  ;; of column j, rows in order, in float64, rounded once
  (func (export "sum_columns") (param $x i32) (param $out i32) (param $rows i32) (param $n i32) (param $b0 i32) (param $b1 i32)
    (local $b i32) (local $j0 i32) (local $r i32) (local $p i32) (local $j i32) (local $s f64) (local $v v128)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128)
    (local.set $b (local.get $b0))
    (block $done (loop $blocks
      (br_if $done (i32.ge_u (local.get $b) (local.get $b1)))
      (local.set $j0 (i32.shl (local.get $b) (i32.const 3)))
      (if (i32.le_u (i32.add (local.get $j0) (i32.const 8)) (local.get $n))
        (then
          (local.set $a0 (v128.const i32x4 0 0 0 0)) (local.set $a1 (v128.const i32x4 0 0 0 0))
          (local.set $a2 (v128.const i32x4 0 0 0 0)) (local.set $a3 (v128.const i32x4 0 0 0 0))
          (local.set $p (i32.add (local.get $x) (i32.shl (local.get $j0) (i32.const 2))))
          (local.set $r (i32.const 0))
          (block $rdone (loop $rloop
            (br_if $rdone (i32.ge_u (local.get $r) (local.get $rows)))
            (local.set $v (v128.load (local.get $p)))
            (local.set $a0 (f64x2.add (local.get $a0) (f64x2.promote_low_f32x4 (local.get $v))))
            (local.set $a1 (f64x2.add (local.get $a1) (call $high_pair (local.get $v))))
            (local.set $v (v128.load offset=16 (local.get $p)))
            (local.set $a2 (f64x2.add (local.get $a2) (f64x2.promote_low_f32x4 (local.get $v))))
            (local.set $a3 (f64x2.add (local.get $a3) (call $high_pair (local.get $v))))
            (local.set $p (i32.add (local.get $p) (i32.shl (local.get $n) (i32.const 2))))
            (local.set $r (i32.add (local.get $r) (i32.const 1)))
            (br $rloop)))
          (local.set $p (i32.add (local.get $out) (i32.shl (local.get $j0) (i32.const 2))))
          (v128.store (local.get $p) (call $demote_pair (local.get $a0) (local.get $a1)))
          (v128.store offset=16 (local.get $p) (call $demote_pair (local.get $a2) (local.get $a3))))
        (else
          ;; the narrow last block, a column at a time
          (local.set $j (local.get $j0))
          (block $jdone (loop $jloop
            (br_if $jdone (i32.ge_u (local.get $j) (local.get $n)))
            (local.set $s (f64.const 0))
            (local.set $p (i32.add (local.get $x) (i32.shl (local.get $j) (i32.const 2))))
            (local.set $r (i32.const 0))
            (block $rdone1 (loop $rloop1
              (br_if $rdone1 (i32.ge_u (local.get $r) (local.get $rows)))
              (local.set $s (f64.add (local.get $s) (f64.promote_f32 (f32.load (local.get $p)))))
              (local.set $p (i32.add (local.get $p) (i32.shl (local.get $n) (i32.const 2))))
              (local.set $r (i32.add (local.get $r) (i32.const 1)))
              (br $rloop1)))
            (f32.store (i32.add (local.get $out) (i32.shl (local.get $j) (i32.const 2))) (f32.demote_f64 (local.get $s)))
            (local.set $j (i32.add (local.get $j) (i32.const 1)))
            (br $jloop)))))
      (local.set $b (i32.add (local.get $b) (i32.const 1)))
      (br $blocks))))

  ;; x . y over d floats (d of any size; 4 lanes at a time, then the tail)
  (func $dot (param $x i32) (param $y i32) (param $d i32) (result f32)
    (local $i i32) (local $s0 v128) (local $s1 v128) (local $s f32)
    (block $done16 (loop $l16
      (br_if $done16 (i32.gt_u (i32.add (local.get $i) (i32.const 8)) (local.get $d)))
      (local.set $s0 (f32x4.relaxed_madd (v128.load (local.get $x)) (v128.load (local.get $y)) (local.get $s0)))
      (local.set $s1 (f32x4.relaxed_madd (v128.load offset=16 (local.get $x)) (v128.load offset=16 (local.get $y)) (local.get $s1)))
      (local.set $x (i32.add (local.get $x) (i32.const 32)))
      (local.set $y (i32.add (local.get $y) (i32.const 32)))
      (local.set $i (i32.add (local.get $i) (i32.const 8)))
      (br $l16)))
    (local.set $s0 (f32x4.add (local.get $s0) (local.get $s1)))
    (local.set $s (f32.add (f32.add (f32x4.extract_lane 0 (local.get $s0)) (f32x4.extract_lane 1 (local.get $s0)))
                           (f32.add (f32x4.extract_lane 2 (local.get $s0)) (f32x4.extract_lane 3 (local.get $s0)))))
    (block $done (loop $l1
      (br_if $done (i32.ge_u (local.get $i) (local.get $d)))
      (local.set $s (f32.add (local.get $s) (f32.mul (f32.load (local.get $x)) (f32.load (local.get $y)))))
      (local.set $x (i32.add (local.get $x) (i32.const 4)))
      (local.set $y (i32.add (local.get $y) (i32.const 4)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $l1)))
    (local.get $s))

  ;; out[0:d] += w * v[0:d]
  (func $axpy (param $out i32) (param $v i32) (param $d i32) (param $w f32)
    (local $i i32) (local $ws v128)
    (local.set $ws (f32x4.splat (local.get $w)))
    (block $done4 (loop $l4
      (br_if $done4 (i32.gt_u (i32.add (local.get $i) (i32.const 4)) (local.get $d)))
      (v128.store (local.get $out) (f32x4.relaxed_madd (local.get $ws) (v128.load (local.get $v)) (v128.load (local.get $out))))
      (local.set $out (i32.add (local.get $out) (i32.const 16)))
      (local.set $v (i32.add (local.get $v) (i32.const 16)))
      (local.set $i (i32.add (local.get $i) (i32.const 4)))
      (br $l4)))
    (block $done (loop $l1
      (br_if $done (i32.ge_u (local.get $i) (local.get $d)))
      (f32.store (local.get $out) (f32.add (f32.load (local.get $out)) (f32.mul (local.get $w) (f32.load (local.get $v)))))
      (local.set $out (i32.add (local.get $out) (i32.const 4)))
      (local.set $v (i32.add (local.get $v) (i32.const 4)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $l1))))

  ;; four dot products at once: [q . k0, q . k1, q . k2, q . k3], k_i at k + i * ks, over d floats
  (func $dot4 (param $q i32) (param $k i32) (param $ks i32) (param $d i32) (result v128)
    (local $i i32) (local $x v128) (local $k1 i32) (local $k2 i32) (local $k3 i32)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128) (local $t0 v128) (local $t1 v128)
    (local $s0 f32) (local $s1 f32) (local $s2 f32) (local $s3 f32) (local $xs f32)
    (local.set $k1 (i32.add (local.get $k) (local.get $ks)))
    (local.set $k2 (i32.add (local.get $k1) (local.get $ks)))
    (local.set $k3 (i32.add (local.get $k2) (local.get $ks)))
    ;; sixteen floats a step (constant load offsets: one pointer update per 16), the same additions in
    ;; the same order as four floats a step
    (block $done16 (loop $l16
      (br_if $done16 (i32.gt_u (i32.add (local.get $i) (i32.const 16)) (local.get $d)))
      (local.set $x (v128.load (local.get $q)))
      (local.set $a0 (f32x4.relaxed_madd (local.get $x) (v128.load (local.get $k)) (local.get $a0)))
      (local.set $a1 (f32x4.relaxed_madd (local.get $x) (v128.load (local.get $k1)) (local.get $a1)))
      (local.set $a2 (f32x4.relaxed_madd (local.get $x) (v128.load (local.get $k2)) (local.get $a2)))
      (local.set $a3 (f32x4.relaxed_madd (local.get $x) (v128.load (local.get $k3)) (local.get $a3)))
      (local.set $x (v128.load offset=16 (local.get $q)))
      (local.set $a0 (f32x4.relaxed_madd (local.get $x) (v128.load offset=16 (local.get $k)) (local.get $a0)))
      (local.set $a1 (f32x4.relaxed_madd (local.get $x) (v128.load offset=16 (local.get $k1)) (local.get $a1)))
      (local.set $a2 (f32x4.relaxed_madd (local.get $x) (v128.load offset=16 (local.get $k2)) (local.get $a2)))
      (local.set $a3 (f32x4.relaxed_madd (local.get $x) (v128.load offset=16 (local.get $k3)) (local.get $a3)))
      (local.set $x (v128.load offset=32 (local.get $q)))
      (local.set $a0 (f32x4.relaxed_madd (local.get $x) (v128.load offset=32 (local.get $k)) (local.get $a0)))
      (local.set $a1 (f32x4.relaxed_madd (local.get $x) (v128.load offset=32 (local.get $k1)) (local.get $a1)))
      (local.set $a2 (f32x4.relaxed_madd (local.get $x) (v128.load offset=32 (local.get $k2)) (local.get $a2)))
      (local.set $a3 (f32x4.relaxed_madd (local.get $x) (v128.load offset=32 (local.get $k3)) (local.get $a3)))
      (local.set $x (v128.load offset=48 (local.get $q)))
      (local.set $a0 (f32x4.relaxed_madd (local.get $x) (v128.load offset=48 (local.get $k)) (local.get $a0)))
      (local.set $a1 (f32x4.relaxed_madd (local.get $x) (v128.load offset=48 (local.get $k1)) (local.get $a1)))
      (local.set $a2 (f32x4.relaxed_madd (local.get $x) (v128.load offset=48 (local.get $k2)) (local.get $a2)))
      (local.set $a3 (f32x4.relaxed_madd (local.get $x) (v128.load offset=48 (local.get $k3)) (local.get $a3)))
      (local.set $q (i32.add (local.get $q) (i32.const 64)))
      (local.set $k (i32.add (local.get $k) (i32.const 64)))
      (local.set $k1 (i32.add (local.get $k1) (i32.const 64)))
      (local.set $k2 (i32.add (local.get $k2) (i32.const 64)))
      (local.set $k3 (i32.add (local.get $k3) (i32.const 64)))
      (local.set $i (i32.add (local.get $i) (i32.const 16)))
      (br $l16)))
    (block $done (loop $l
      (br_if $done (i32.gt_u (i32.add (local.get $i) (i32.const 4)) (local.get $d)))
      (local.set $x (v128.load (local.get $q)))
      (local.set $a0 (f32x4.relaxed_madd (local.get $x) (v128.load (local.get $k)) (local.get $a0)))
      (local.set $a1 (f32x4.relaxed_madd (local.get $x) (v128.load (local.get $k1)) (local.get $a1)))
      (local.set $a2 (f32x4.relaxed_madd (local.get $x) (v128.load (local.get $k2)) (local.get $a2)))
      (local.set $a3 (f32x4.relaxed_madd (local.get $x) (v128.load (local.get $k3)) (local.get $a3)))
      (local.set $q (i32.add (local.get $q) (i32.const 16)))
      (local.set $k (i32.add (local.get $k) (i32.const 16)))
      (local.set $k1 (i32.add (local.get $k1) (i32.const 16)))
      (local.set $k2 (i32.add (local.get $k2) (i32.const 16)))
      (local.set $k3 (i32.add (local.get $k3) (i32.const 16)))
      (local.set $i (i32.add (local.get $i) (i32.const 4)))
      (br $l)))
    ;; the tail of d, one float at a time
    (block $tdone (loop $t
      (br_if $tdone (i32.ge_u (local.get $i) (local.get $d)))
      (local.set $xs (f32.load (local.get $q)))
      (local.set $s0 (f32.add (local.get $s0) (f32.mul (local.get $xs) (f32.load (local.get $k)))))
      (local.set $s1 (f32.add (local.get $s1) (f32.mul (local.get $xs) (f32.load (local.get $k1)))))
      (local.set $s2 (f32.add (local.get $s2) (f32.mul (local.get $xs) (f32.load (local.get $k2)))))
      (local.set $s3 (f32.add (local.get $s3) (f32.mul (local.get $xs) (f32.load (local.get $k3)))))
      (local.set $q (i32.add (local.get $q) (i32.const 4)))
      (local.set $k (i32.add (local.get $k) (i32.const 4)))
      (local.set $k1 (i32.add (local.get $k1) (i32.const 4)))
      (local.set $k2 (i32.add (local.get $k2) (i32.const 4)))
      (local.set $k3 (i32.add (local.get $k3) (i32.const 4)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $t)))
    ;; horizontal sums of a0..a3 into one vector: pairs of lanes, then pairs of pairs
    (local.set $t0 (f32x4.add
      (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $a0) (local.get $a1))
      (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $a0) (local.get $a1))))
    (local.set $t1 (f32x4.add
      (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $a2) (local.get $a3))
      (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $a2) (local.get $a3))))
    (f32x4.add
      (f32x4.add
        (i8x16.shuffle 0 1 2 3 8 9 10 11 16 17 18 19 24 25 26 27 (local.get $t0) (local.get $t1))
        (i8x16.shuffle 4 5 6 7 12 13 14 15 20 21 22 23 28 29 30 31 (local.get $t0) (local.get $t1)))
      (f32x4.replace_lane 3 (f32x4.replace_lane 2 (f32x4.replace_lane 1 (f32x4.splat (local.get $s0)) (local.get $s1)) (local.get $s2)) (local.get $s3))))

  ;; out[0:d] += w0 v0 + w1 v1 + w2 v2 + w3 v3 (w's lanes), v_i at v + i * vs: out is loaded and stored once
  (func $axpy4 (param $out i32) (param $v i32) (param $vs i32) (param $d i32) (param $w v128)
    (local $i i32) (local $v1 i32) (local $v2 i32) (local $v3 i32) (local $acc v128)
    (local $w0 v128) (local $w1 v128) (local $w2 v128) (local $w3 v128)
    (local.set $v1 (i32.add (local.get $v) (local.get $vs)))
    (local.set $v2 (i32.add (local.get $v1) (local.get $vs)))
    (local.set $v3 (i32.add (local.get $v2) (local.get $vs)))
    (local.set $w0 (f32x4.splat (f32x4.extract_lane 0 (local.get $w))))
    (local.set $w1 (f32x4.splat (f32x4.extract_lane 1 (local.get $w))))
    (local.set $w2 (f32x4.splat (f32x4.extract_lane 2 (local.get $w))))
    (local.set $w3 (f32x4.splat (f32x4.extract_lane 3 (local.get $w))))
    ;; sixteen floats a step, as in $dot4
    (block $done16 (loop $l16
      (br_if $done16 (i32.gt_u (i32.add (local.get $i) (i32.const 16)) (local.get $d)))
      (local.set $acc (f32x4.relaxed_madd (local.get $w0) (v128.load (local.get $v)) (v128.load (local.get $out))))
      (local.set $acc (f32x4.relaxed_madd (local.get $w1) (v128.load (local.get $v1)) (local.get $acc)))
      (local.set $acc (f32x4.relaxed_madd (local.get $w2) (v128.load (local.get $v2)) (local.get $acc)))
      (v128.store (local.get $out) (f32x4.relaxed_madd (local.get $w3) (v128.load (local.get $v3)) (local.get $acc)))
      (local.set $acc (f32x4.relaxed_madd (local.get $w0) (v128.load offset=16 (local.get $v)) (v128.load offset=16 (local.get $out))))
      (local.set $acc (f32x4.relaxed_madd (local.get $w1) (v128.load offset=16 (local.get $v1)) (local.get $acc)))
      (local.set $acc (f32x4.relaxed_madd (local.get $w2) (v128.load offset=16 (local.get $v2)) (local.get $acc)))
      (v128.store offset=16 (local.get $out) (f32x4.relaxed_madd (local.get $w3) (v128.load offset=16 (local.get $v3)) (local.get $acc)))
      (local.set $acc (f32x4.relaxed_madd (local.get $w0) (v128.load offset=32 (local.get $v)) (v128.load offset=32 (local.get $out))))
      (local.set $acc (f32x4.relaxed_madd (local.get $w1) (v128.load offset=32 (local.get $v1)) (local.get $acc)))
      (local.set $acc (f32x4.relaxed_madd (local.get $w2) (v128.load offset=32 (local.get $v2)) (local.get $acc)))
      (v128.store offset=32 (local.get $out) (f32x4.relaxed_madd (local.get $w3) (v128.load offset=32 (local.get $v3)) (local.get $acc)))
      (local.set $acc (f32x4.relaxed_madd (local.get $w0) (v128.load offset=48 (local.get $v)) (v128.load offset=48 (local.get $out))))
      (local.set $acc (f32x4.relaxed_madd (local.get $w1) (v128.load offset=48 (local.get $v1)) (local.get $acc)))
      (local.set $acc (f32x4.relaxed_madd (local.get $w2) (v128.load offset=48 (local.get $v2)) (local.get $acc)))
      (v128.store offset=48 (local.get $out) (f32x4.relaxed_madd (local.get $w3) (v128.load offset=48 (local.get $v3)) (local.get $acc)))
      (local.set $out (i32.add (local.get $out) (i32.const 64)))
      (local.set $v (i32.add (local.get $v) (i32.const 64)))
      (local.set $v1 (i32.add (local.get $v1) (i32.const 64)))
      (local.set $v2 (i32.add (local.get $v2) (i32.const 64)))
      (local.set $v3 (i32.add (local.get $v3) (i32.const 64)))
      (local.set $i (i32.add (local.get $i) (i32.const 16)))
      (br $l16)))
    (block $done (loop $l
      (br_if $done (i32.gt_u (i32.add (local.get $i) (i32.const 4)) (local.get $d)))
      (local.set $acc (f32x4.relaxed_madd (local.get $w0) (v128.load (local.get $v)) (v128.load (local.get $out))))
      (local.set $acc (f32x4.relaxed_madd (local.get $w1) (v128.load (local.get $v1)) (local.get $acc)))
      (local.set $acc (f32x4.relaxed_madd (local.get $w2) (v128.load (local.get $v2)) (local.get $acc)))
      (v128.store (local.get $out) (f32x4.relaxed_madd (local.get $w3) (v128.load (local.get $v3)) (local.get $acc)))
      (local.set $out (i32.add (local.get $out) (i32.const 16)))
      (local.set $v (i32.add (local.get $v) (i32.const 16)))
      (local.set $v1 (i32.add (local.get $v1) (i32.const 16)))
      (local.set $v2 (i32.add (local.get $v2) (i32.const 16)))
      (local.set $v3 (i32.add (local.get $v3) (i32.const 16)))
      (local.set $i (i32.add (local.get $i) (i32.const 4)))
      (br $l)))
    (block $tdone (loop $t
      (br_if $tdone (i32.ge_u (local.get $i) (local.get $d)))
      (f32.store (local.get $out) (f32.add (f32.load (local.get $out)) (f32.add
        (f32.add (f32.mul (f32x4.extract_lane 0 (local.get $w)) (f32.load (local.get $v))) (f32.mul (f32x4.extract_lane 1 (local.get $w)) (f32.load (local.get $v1))))
        (f32.add (f32.mul (f32x4.extract_lane 2 (local.get $w)) (f32.load (local.get $v2))) (f32.mul (f32x4.extract_lane 3 (local.get $w)) (f32.load (local.get $v3)))))))
      (local.set $out (i32.add (local.get $out) (i32.const 4)))
      (local.set $v (i32.add (local.get $v) (i32.const 4)))
      (local.set $v1 (i32.add (local.get $v1) (i32.const 4)))
      (local.set $v2 (i32.add (local.get $v2) (i32.const 4)))
      (local.set $v3 (i32.add (local.get $v3) (i32.const 4)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $t))))

  ;; Attention for heads [h0, h1): out = softmax(q k^T * scale + mask) v, one query row at a time.
  ;; Each tensor is addressed by a base and byte strides per head (sH) and per row (sT), the last axis
  ;; contiguous, so q, k and v may be column slices of one packed projection and out may be written
  ;; straight into [T, H, Dv] order. A row's scores live in `scratch` (tk floats, one per thread).
  ;; Keys the mask hides (<= -1e29) are skipped when the row has an open key: their weight is exactly
  ;; 0 (mask = 0 means no mask), and no key past the last open one is read. Scores and the weighted
  ;; sum take four keys at a time.
  ;; Extras (fused_attention's attributes): with $biasOff > 0 each row's mask is made at scratch +
  ;; $biasOff by $bias_row from the query's and keys' positions ($qpos[i], $kpos[j], i32): ALiBi's
  ;; slope[h] (kpos - qpos) ($flags bit 1), MASKED for keys that are negative, after the query
  ;; ($flags bit 0) or $window or more before it. $capBits (a float, 0 for none) soft-caps the scaled
  ;; scores: cap tanh(s / cap).
  (func (export "attention")
        (param $q i32) (param $qsH i32) (param $qsT i32) (param $k i32) (param $ksH i32) (param $ksT i32)
        (param $v i32) (param $vsH i32) (param $vsT i32) (param $mask i32) (param $msH i32) (param $msT i32) (param $msK i32)
        (param $o i32) (param $osH i32) (param $osT i32) (param $tq i32) (param $tk i32) (param $dh i32) (param $dv i32)
        (param $scaleBits i32) (param $scratch i32) (param $h0 i32) (param $h1 i32)
        (param $biasOff i32) (param $capBits i32) (param $slopes i32) (param $qpos i32) (param $kpos i32) (param $flags i32) (param $window i32)
    (local $scale f32) (local $h i32) (local $i i32) (local $j i32) (local $qRow i32) (local $mRow i32) (local $oRow i32)
    (local $kHead i32) (local $vHead i32)
    (local $open i32) (local $total f32) (local $w f32)
    (local $end i32) (local $ws v128)
    (local $userMask i32) (local $userMsK i32) (local $cap f32) (local $slope f32)
    (local $scannedRow i32) (local $scannedOpen i32) (local $scannedEnd i32) (local $span i32)
    (local.set $scannedRow (i32.const -1))
    (local.set $scale (f32.reinterpret_i32 (local.get $scaleBits)))
    (local.set $cap (f32.reinterpret_i32 (local.get $capBits)))
    (local.set $userMask (local.get $mask))
    (local.set $userMsK (local.get $msK))
    (local.set $h (local.get $h0))
    (block $hdone (loop $hloop
      (br_if $hdone (i32.ge_u (local.get $h) (local.get $h1)))
      (local.set $kHead (i32.add (local.get $k) (i32.mul (local.get $h) (local.get $ksH))))
      (local.set $vHead (i32.add (local.get $v) (i32.mul (local.get $h) (local.get $vsH))))
      (local.set $i (i32.const 0))
      (block $idone (loop $iloop
        (br_if $idone (i32.ge_u (local.get $i) (local.get $tq)))
        (local.set $qRow (i32.add (i32.add (local.get $q) (i32.mul (local.get $h) (local.get $qsH))) (i32.mul (local.get $i) (local.get $qsT))))
        (local.set $mRow (i32.add (i32.add (local.get $userMask) (i32.mul (local.get $h) (local.get $msH))) (i32.mul (local.get $i) (local.get $msT))))
        (local.set $oRow (i32.add (i32.add (local.get $o) (i32.mul (local.get $h) (local.get $osH))) (i32.mul (local.get $i) (local.get $osT))))
        ;; the positional terms join the mask: this row's mask is then the made one, contiguous
        (if (local.get $biasOff) (then
          (if (local.get $slopes) (then (local.set $slope (f32.load (i32.add (local.get $slopes) (i32.shl (local.get $h) (i32.const 2)))))))
          (call $bias_row (i32.add (local.get $scratch) (local.get $biasOff)) (select (local.get $mRow) (i32.const 0) (local.get $userMask)) (local.get $userMsK)
            (local.get $tk) (i32.load (i32.add (local.get $qpos) (i32.shl (local.get $i) (i32.const 2)))) (local.get $kpos)
            (local.get $slope) (local.get $flags) (local.get $window))
          (local.set $mRow (i32.add (local.get $scratch) (local.get $biasOff)))
          (local.set $mask (i32.const 1))
          (local.set $msK (i32.const 4))))
        ;; the last open key, scanning back (without one, every key takes part, as in the reference); a
        ;; mask row the heads share (msH 0: a decoding step's cache mask, 1024 keys of which a few are
        ;; open) is scanned once, not once a head
        (if (i32.and (i32.eqz (local.get $biasOff)) (i32.eq (local.get $mRow) (local.get $scannedRow)))
          (then
            (local.set $open (local.get $scannedOpen))
            (local.set $end (local.get $scannedEnd)))
          (else
            (local.set $end (select (call $open_end (local.get $mRow) (local.get $msK) (local.get $tk)) (i32.const 0) (local.get $mask)))
            (local.set $open (i32.ne (local.get $end) (i32.const 0)))
            (if (i32.eqz (local.get $open)) (then (local.set $end (local.get $tk))))
            (local.set $scannedRow (local.get $mRow))
            (local.set $scannedOpen (local.get $open))
            (local.set $scannedEnd (local.get $end))))
        ;; before this thread's first head: touch every cache line of the keys and values its heads read
        ;; (rows j < end, heads [h0, h1)) where a row holds the heads side by side ([B, P, H * D] caches),
        ;; so that their misses overlap instead of coming a head at a time (a decoding step's cache rows
        ;; are cold, the weights' streaming evicted them: 53 -> 33 us a GPT-2 small step's call)
        (if (i32.and (i32.eq (local.get $h) (local.get $h0)) (i32.eqz (local.get $i))) (then
          (local.set $span (i32.add (i32.mul (i32.sub (i32.sub (local.get $h1) (local.get $h0)) (i32.const 1)) (local.get $ksH)) (i32.shl (local.get $dh) (i32.const 2))))
          (if (i32.le_u (local.get $span) (local.get $ksT)) (then (call $touch_rows (local.get $kHead) (local.get $ksT) (local.get $end) (local.get $span))))
          (local.set $span (i32.add (i32.mul (i32.sub (i32.sub (local.get $h1) (local.get $h0)) (i32.const 1)) (local.get $vsH)) (i32.shl (local.get $dv) (i32.const 2))))
          (if (i32.le_u (local.get $span) (local.get $vsT)) (then (call $touch_rows (local.get $vHead) (local.get $vsT) (local.get $end) (local.get $span))))))
        ;; raw scores q . k_j for j < end, four keys at a time
        (local.set $j (i32.const 0))
        (block $d4done (loop $d4loop
          (br_if $d4done (i32.gt_u (i32.add (local.get $j) (i32.const 4)) (local.get $end)))
          (v128.store (i32.add (local.get $scratch) (i32.shl (local.get $j) (i32.const 2)))
            (call $dot4 (local.get $qRow) (i32.add (local.get $kHead) (i32.mul (local.get $j) (local.get $ksT))) (local.get $ksT) (local.get $dh)))
          (local.set $j (i32.add (local.get $j) (i32.const 4)))
          (br $d4loop)))
        (block $d1done (loop $d1loop
          (br_if $d1done (i32.ge_u (local.get $j) (local.get $end)))
          (f32.store (i32.add (local.get $scratch) (i32.shl (local.get $j) (i32.const 2)))
            (call $dot (local.get $qRow) (i32.add (local.get $kHead) (i32.mul (local.get $j) (local.get $ksT))) (local.get $dh)))
          (local.set $j (i32.add (local.get $j) (i32.const 1)))
          (br $d1loop)))
        ;; scale, mask, skipped keys (weight 0), the max, the weights e^(s - max) and their sum
        (local.set $total (call $row_weights (local.get $scratch) (local.get $mRow) (local.get $mask) (local.get $msK) (local.get $end) (local.get $open) (local.get $scale) (local.get $capBits) (local.get $cap)))
        ;; out row = sum_j w_j v_j / total, four keys at a time (groups whose weights are all 0 skipped)
        (memory.fill (local.get $oRow) (i32.const 0) (i32.shl (local.get $dv) (i32.const 2)))
        (local.set $j (i32.const 0))
        (block $v4done (loop $v4loop
          (br_if $v4done (i32.gt_u (i32.add (local.get $j) (i32.const 4)) (local.get $end)))
          (local.set $ws (v128.load (i32.add (local.get $scratch) (i32.shl (local.get $j) (i32.const 2)))))
          (if (v128.any_true (local.get $ws)) (then
            (call $axpy4 (local.get $oRow) (i32.add (local.get $vHead) (i32.mul (local.get $j) (local.get $vsT))) (local.get $vsT) (local.get $dv) (local.get $ws))))
          (local.set $j (i32.add (local.get $j) (i32.const 4)))
          (br $v4loop)))
        (block $vdone (loop $vloop
          (br_if $vdone (i32.ge_u (local.get $j) (local.get $end)))
          (local.set $w (f32.load (i32.add (local.get $scratch) (i32.shl (local.get $j) (i32.const 2)))))
          (if (f32.ne (local.get $w) (f32.const 0)) (then
            (call $axpy (local.get $oRow) (i32.add (local.get $vHead) (i32.mul (local.get $j) (local.get $vsT))) (local.get $dv) (local.get $w))))
          (local.set $j (i32.add (local.get $j) (i32.const 1)))
          (br $vloop)))
        (call $scale_row (local.get $oRow) (local.get $dv) (f32.div (f32.const 1) (local.get $total)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $iloop)))
      (local.set $h (i32.add (local.get $h) (i32.const 1)))
      (br $hloop))))

;; Attention for heads [h0, h1) as two products per head, for many query rows (a prefill): S = Q
  ;; K^T on the GEMM's kernel (Q packed as pack_a packs A, K as panels of its transpose), each row of S
  ;; turned into weights as `attention` turns its scores ($row_weights) and divided by their sum, then
  ;; O = P V, written at out's strides. Arguments as `attention`'s without the extras. Only the keys
  ;; up to the head's last open one take part (a prefill into a long cache reads its filled rows);
  ;; keys a row hides below that weigh exactly 0. Queries go 128 rows at a time, so the scores take
  ;; 128 rows of tk floats. A head runs on one thread: any thread count gives the same bits. Each
  ;; thread's scratch: each row's end of open keys (tq i32), K's panels (ceil(tk/8) dh 32 bytes), V's
  ;; panels (ceil(dv/8) tk 32), packed Q (32 dh 16), the scores (128 tk 4), packed P (32 tk 16).
  (func (export "attention_gemm")
        (param $q i32) (param $qsH i32) (param $qsT i32) (param $k i32) (param $ksH i32) (param $ksT i32)
        (param $v i32) (param $vsH i32) (param $vsT i32) (param $mask i32) (param $msH i32) (param $msT i32) (param $msK i32)
        (param $o i32) (param $osH i32) (param $osT i32) (param $tq i32) (param $tk i32) (param $dh i32) (param $dv i32)
        (param $scaleBits i32) (param $scratch i32) (param $h0 i32) (param $h1 i32)
    (local $scale f32) (local $h i32) (local $i i32) (local $i0 i32) (local $rows i32) (local $blocks i32) (local $row i32) (local $mRow i32)
    (local $end i32) (local $open i32) (local $keys i32) (local $total f32) (local $panels i32)
    (local $ends i32) (local $kp i32) (local $vp i32) (local $qp i32) (local $sAt i32) (local $pp i32)
    (local.set $scale (f32.reinterpret_i32 (local.get $scaleBits)))
    (local.set $ends (local.get $scratch))
    (local.set $kp (i32.and (i32.add (i32.add (local.get $ends) (i32.shl (local.get $tq) (i32.const 2))) (i32.const 63)) (i32.const -64)))
    (local.set $vp (i32.add (local.get $kp) (i32.shl (i32.mul (i32.shr_u (i32.add (local.get $tk) (i32.const 7)) (i32.const 3)) (local.get $dh)) (i32.const 5))))
    (local.set $qp (i32.add (local.get $vp) (i32.shl (i32.mul (i32.shr_u (i32.add (local.get $dv) (i32.const 7)) (i32.const 3)) (local.get $tk)) (i32.const 5))))
    (local.set $sAt (i32.add (local.get $qp) (i32.shl (i32.mul (i32.const 32) (local.get $dh)) (i32.const 4))))
    (local.set $pp (i32.add (local.get $sAt) (i32.shl (i32.mul (i32.const 128) (local.get $tk)) (i32.const 2))))
    (local.set $h (local.get $h0))
    (block $hdone (loop $hloop
      (br_if $hdone (i32.ge_u (local.get $h) (local.get $h1)))
      ;; each row's end of open keys (tk where none is open: every key takes part, as in the reference),
      ;; once for the heads when they share the mask; the keys the head reads: up to the largest
      (if (i32.or (i32.eq (local.get $h) (local.get $h0)) (i32.ne (local.get $msH) (i32.const 0))) (then
        (local.set $keys (i32.const 0))
        (local.set $i (i32.const 0))
        (block $edone (loop $eloop
          (br_if $edone (i32.ge_u (local.get $i) (local.get $tq)))
          (local.set $end (i32.const 0))
          (if (local.get $mask) (then
            (local.set $end (call $open_end (i32.add (i32.add (local.get $mask) (i32.mul (local.get $h) (local.get $msH))) (i32.mul (local.get $i) (local.get $msT)))
              (local.get $msK) (local.get $tk)))))
          (i32.store (i32.add (local.get $ends) (i32.shl (local.get $i) (i32.const 2))) (local.get $end))
          (if (i32.eqz (local.get $end)) (then (local.set $end (local.get $tk))))
          (if (i32.gt_u (local.get $end) (local.get $keys)) (then (local.set $keys (local.get $end))))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br $eloop)))))
      (local.set $panels (i32.shr_u (i32.add (local.get $keys) (i32.const 7)) (i32.const 3)))
      (call $pack_panels_ld (i32.add (local.get $k) (i32.mul (local.get $h) (local.get $ksH))) (local.get $dh) (local.get $keys) (i32.const 1)
        (local.get $ksT) (local.get $kp) (i32.const 0) (local.get $panels))
      (call $pack_panels_ld (i32.add (local.get $v) (i32.mul (local.get $h) (local.get $vsH))) (local.get $keys) (local.get $dv) (i32.const 0)
        (local.get $vsT) (local.get $vp) (i32.const 0) (i32.shr_u (i32.add (local.get $dv) (i32.const 7)) (i32.const 3)))
      (local.set $i0 (i32.const 0))
      (block $bdone (loop $bloop
        (br_if $bdone (i32.ge_u (local.get $i0) (local.get $tq)))
        (local.set $rows (i32.sub (local.get $tq) (local.get $i0)))
        (if (i32.gt_u (local.get $rows) (i32.const 128)) (then (local.set $rows (i32.const 128))))
        (local.set $blocks (i32.shr_u (i32.add (local.get $rows) (i32.const 3)) (i32.const 2)))
        ;; S = Q K^T for these rows (rows of tk floats; the head's keys filled)
        (call $pack_a (i32.add (i32.add (local.get $q) (i32.mul (local.get $h) (local.get $qsH))) (i32.mul (local.get $i0) (local.get $qsT)))
          (local.get $qsT) (local.get $rows) (local.get $dh) (local.get $qp) (i32.const 0) (local.get $blocks))
        (call $gemm (local.get $qp) (local.get $rows) (local.get $kp) (local.get $dh) (local.get $keys)
          (local.get $sAt) (i32.shl (local.get $tk) (i32.const 2)) (i32.const 0) (local.get $panels))
        ;; each row's weights over their sum, zero past its last open key
        (local.set $i (i32.const 0))
        (block $idone (loop $iloop
          (br_if $idone (i32.ge_u (local.get $i) (local.get $rows)))
          (local.set $row (i32.add (local.get $sAt) (i32.shl (i32.mul (local.get $i) (local.get $tk)) (i32.const 2))))
          (local.set $mRow (i32.add (i32.add (local.get $mask) (i32.mul (local.get $h) (local.get $msH))) (i32.mul (i32.add (local.get $i0) (local.get $i)) (local.get $msT))))
          ;; an end of 0: no key open, every key takes part (as in `attention`)
          (local.set $end (i32.load (i32.add (local.get $ends) (i32.shl (i32.add (local.get $i0) (local.get $i)) (i32.const 2)))))
          (local.set $open (i32.ne (local.get $end) (i32.const 0)))
          (if (i32.eqz (local.get $open)) (then (local.set $end (local.get $tk))))
          (local.set $total (call $row_weights (local.get $row) (local.get $mRow) (local.get $mask) (local.get $msK) (local.get $end)
            (local.get $open) (local.get $scale) (i32.const 0) (f32.const 0)))
          (call $scale_row (local.get $row) (local.get $end) (f32.div (f32.const 1) (local.get $total)))
          (memory.fill (i32.add (local.get $row) (i32.shl (local.get $end) (i32.const 2))) (i32.const 0) (i32.shl (i32.sub (local.get $keys) (local.get $end)) (i32.const 2)))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br $iloop)))
        ;; O = P V
        (call $pack_a (local.get $sAt) (i32.shl (local.get $tk) (i32.const 2)) (local.get $rows) (local.get $keys) (local.get $pp) (i32.const 0) (local.get $blocks))
        (call $gemm (local.get $pp) (local.get $rows) (local.get $vp) (local.get $keys) (local.get $dv)
          (i32.add (i32.add (local.get $o) (i32.mul (local.get $h) (local.get $osH))) (i32.mul (local.get $i0) (local.get $osT))) (local.get $osT)
          (i32.const 0) (i32.shr_u (i32.add (local.get $dv) (i32.const 7)) (i32.const 3)))
        (local.set $i0 (i32.add (local.get $i0) (local.get $rows)))
        (br $bloop)))
      (local.set $h (i32.add (local.get $h) (i32.const 1)))
      (br $hloop))))

  ;; One row of attention's weights in place: its `end` raw scores at $row scaled (and soft-capped
  ;; with $capBits), the mask row added (0: none; keys msK bytes apart), keys the mask hides given -inf
  ;; (weight exactly 0) when the row has an open key, then e^(s - max); returns their sum.
  (func $row_weights (param $row i32) (param $mRow i32) (param $mask i32) (param $msK i32) (param $end i32) (param $open i32)
        (param $scale f32) (param $capBits i32) (param $cap f32) (result f32)
    (local $j i32) (local $sp i32) (local $mv f32) (local $s f32) (local $max f32) (local $sum v128) (local $total f32) (local $e v128) (local $w f32)
    (local $mx v128) (local $mv4 v128) (local $s4 v128)
    ;; scale, mask, skipped keys (-inf: weight 0), and the max; four keys at a time where the mask
    ;; row is contiguous (or absent), lane for lane the arithmetic of the one-key loop below
    (local.set $max (f32.const -inf))
    (local.set $j (i32.const 0))
    (if (i32.or (i32.eqz (local.get $mask)) (i32.eq (local.get $msK) (i32.const 4))) (then
      (local.set $mx (f32x4.splat (f32.const -inf)))
      (block $s4done (loop $s4loop
        (br_if $s4done (i32.gt_u (i32.add (local.get $j) (i32.const 4)) (local.get $end)))
        (local.set $sp (i32.add (local.get $row) (i32.shl (local.get $j) (i32.const 2))))
        (local.set $mv4 (v128.const i32x4 0 0 0 0))
        (if (local.get $mask) (then (local.set $mv4 (v128.load (i32.add (local.get $mRow) (i32.shl (local.get $j) (i32.const 2)))))))
        (local.set $s4 (f32x4.mul (v128.load (local.get $sp)) (f32x4.splat (local.get $scale))))
        (if (local.get $capBits) (then (local.set $s4 (call $softcap4 (local.get $s4) (local.get $cap)))))
        (local.set $s4 (f32x4.add (local.get $s4) (local.get $mv4)))
        (if (local.get $open) (then
          (local.set $s4 (v128.bitselect (v128.const f32x4 -inf -inf -inf -inf) (local.get $s4) (f32x4.le (local.get $mv4) (v128.const f32x4 -1e29 -1e29 -1e29 -1e29))))))
        (local.set $mx (f32x4.max (local.get $mx) (local.get $s4)))
        (v128.store (local.get $sp) (local.get $s4))
        (local.set $j (i32.add (local.get $j) (i32.const 4)))
        (br $s4loop)))
      (local.set $max (f32.max (f32.max (f32x4.extract_lane 0 (local.get $mx)) (f32x4.extract_lane 1 (local.get $mx)))
                               (f32.max (f32x4.extract_lane 2 (local.get $mx)) (f32x4.extract_lane 3 (local.get $mx)))))))
    (block $sdone (loop $sloop
      (br_if $sdone (i32.ge_u (local.get $j) (local.get $end)))
      (local.set $sp (i32.add (local.get $row) (i32.shl (local.get $j) (i32.const 2))))
      (local.set $mv (f32.const 0))
      (if (local.get $mask) (then (local.set $mv (f32.load (i32.add (local.get $mRow) (i32.mul (local.get $j) (local.get $msK)))))))
      (if (i32.and (local.get $open) (f32.le (local.get $mv) (f32.const -1e29)))
        (then (local.set $s (f32.const -inf)))
        (else
          (local.set $s (f32.mul (f32.load (local.get $sp)) (local.get $scale)))
          (if (local.get $capBits) (then (local.set $s (f32x4.extract_lane 0 (call $softcap4 (f32x4.splat (local.get $s)) (local.get $cap))))))
          (local.set $s (f32.add (local.get $s) (local.get $mv)))
          (local.set $max (f32.max (local.get $max) (local.get $s)))))
      (f32.store (local.get $sp) (local.get $s))
      (local.set $j (i32.add (local.get $j) (i32.const 1)))
      (br $sloop)))
    ;; weights e^(s - max), 4 at a time, and their sum
    (local.set $sum (v128.const i32x4 0 0 0 0))
    (local.set $sp (local.get $row))
    (local.set $j (i32.const 0))
    (block $edone (loop $eloop
      (br_if $edone (i32.gt_u (i32.add (local.get $j) (i32.const 4)) (local.get $end)))
      (local.set $e (call $exp4 (f32x4.sub (v128.load (local.get $sp)) (f32x4.splat (local.get $max)))))
      (v128.store (local.get $sp) (local.get $e))
      (local.set $sum (f32x4.add (local.get $sum) (local.get $e)))
      (local.set $sp (i32.add (local.get $sp) (i32.const 16)))
      (local.set $j (i32.add (local.get $j) (i32.const 4)))
      (br $eloop)))
    (local.set $total (f32.add (f32.add (f32x4.extract_lane 0 (local.get $sum)) (f32x4.extract_lane 1 (local.get $sum)))
                               (f32.add (f32x4.extract_lane 2 (local.get $sum)) (f32x4.extract_lane 3 (local.get $sum)))))
    (block $tdone (loop $tloop
      (br_if $tdone (i32.ge_u (local.get $j) (local.get $end)))
      (local.set $w (f32x4.extract_lane 0 (call $exp4 (f32x4.splat (f32.sub (f32.load (local.get $sp)) (local.get $max))))))
      (f32.store (local.get $sp) (local.get $w))
      (local.set $total (f32.add (local.get $total) (local.get $w)))
      (local.set $sp (i32.add (local.get $sp) (i32.const 4)))
      (local.set $j (i32.add (local.get $j) (i32.const 1)))
      (br $tloop)))
    (local.get $total))

  ;; The end of a mask row's open keys (one past the last key above -1e29, scanning back from tk; keys
  ;; msK bytes apart), or 0 when none is open.
  (func $open_end (param $mRow i32) (param $msK i32) (param $tk i32) (result i32)
    (local $j i32)
    (local.set $j (local.get $tk))
    (block $done (loop $scan
      (br_if $done (i32.eqz (local.get $j)))
      (local.set $j (i32.sub (local.get $j) (i32.const 1)))
      (if (f32.gt (f32.load (i32.add (local.get $mRow) (i32.mul (local.get $j) (local.get $msK)))) (f32.const -1e29))
        (then (return (i32.add (local.get $j) (i32.const 1)))))
      (br $scan)))
    (i32.const 0))

  ;; Reads one word of each 64-byte line of `rows` rows of `width` bytes (row r at base + r * stride)
  ;; and nothing else: a hint that brings them into the cache together. Its sum is dropped.
  (func $touch_rows (param $base i32) (param $stride i32) (param $rows i32) (param $width i32)
    (local $r i32) (local $at i32) (local $end i32) (local $sum i32)
    (block $rdone (loop $rloop
      (br_if $rdone (i32.ge_u (local.get $r) (local.get $rows)))
      (local.set $at (i32.add (local.get $base) (i32.mul (local.get $r) (local.get $stride))))
      (local.set $end (i32.add (local.get $at) (local.get $width)))
      (block $ldone (loop $lloop
        (br_if $ldone (i32.ge_u (local.get $at) (local.get $end)))
        (local.set $sum (i32.add (local.get $sum) (i32.load (local.get $at))))
        (local.set $at (i32.add (local.get $at) (i32.const 64)))
        (br $lloop)))
      (local.set $r (i32.add (local.get $r) (i32.const 1)))
      (br $rloop)))
    (drop (local.get $sum)))

  ;; cap tanh(x / cap) per lane: tanh(y) = sign(y) (1 - t) / (1 + t), t = e^(-2|y|) (exactly +-1 once
  ;; t underflows); about 1e-7 absolute, which cap scales: Gemma 2's caps are 30 and 50
  (func $softcap4 (param $x v128) (param $cap f32) (result v128)
    (local $y v128) (local $t v128)
    (local.set $y (f32x4.div (local.get $x) (f32x4.splat (local.get $cap))))
    (local.set $t (call $exp4 (f32x4.mul (f32x4.abs (local.get $y)) (v128.const f32x4 -2 -2 -2 -2))))
    (local.set $t (f32x4.div (f32x4.sub (v128.const f32x4 1 1 1 1) (local.get $t)) (f32x4.add (v128.const f32x4 1 1 1 1) (local.get $t))))
    ;; the sign of y onto t (t >= 0)
    (local.set $t (v128.or (local.get $t) (v128.and (local.get $y) (v128.const i32x4 0x80000000 0x80000000 0x80000000 0x80000000))))
    (f32x4.mul (local.get $t) (f32x4.splat (local.get $cap))))

  ;; One query row's mask with the positional terms, into dst[0:tk]: the user's mask (m, stride msK;
  ;; m = 0 for none) + ALiBi's slope (kpos - qp) (flags bit 1) + MASKED (-1e30) where the key is
  ;; hidden: a negative position, after the query (flags bit 0), or window (> 0) or more before it.
  (func $bias_row (param $dst i32) (param $m i32) (param $msK i32) (param $tk i32) (param $qp i32) (param $kpos i32)
        (param $slope f32) (param $flags i32) (param $window i32)
    (local $j i32) (local $kp i32) (local $v f32) (local $hidden i32)
    (block $done (loop $keys
      (br_if $done (i32.ge_u (local.get $j) (local.get $tk)))
      (local.set $kp (i32.load (i32.add (local.get $kpos) (i32.shl (local.get $j) (i32.const 2)))))
      (local.set $v (f32.const 0))
      (if (local.get $m) (then (local.set $v (f32.load (i32.add (local.get $m) (i32.mul (local.get $j) (local.get $msK)))))))
      (if (i32.and (local.get $flags) (i32.const 2)) (then
        (local.set $v (f32.add (local.get $v) (f32.mul (local.get $slope) (f32.convert_i32_s (i32.sub (local.get $kp) (local.get $qp))))))))
      (local.set $hidden (i32.lt_s (local.get $kp) (i32.const 0)))
      (if (i32.and (local.get $flags) (i32.const 1)) (then
        (local.set $hidden (i32.or (local.get $hidden) (i32.gt_s (local.get $kp) (local.get $qp))))))
      (if (local.get $window) (then
        (local.set $hidden (i32.or (local.get $hidden) (i32.ge_s (i32.sub (local.get $qp) (local.get $kp)) (local.get $window))))))
      (if (local.get $hidden) (then (local.set $v (f32.add (local.get $v) (f32.const -1e30)))))
      (f32.store (i32.add (local.get $dst) (i32.shl (local.get $j) (i32.const 2))) (local.get $v))
      (local.set $j (i32.add (local.get $j) (i32.const 1)))
      (br $keys))))

  ;; x[0:d] *= s
  (func $scale_row (param $x i32) (param $d i32) (param $s f32)
    (local $i i32) (local $ss v128)
    (local.set $ss (f32x4.splat (local.get $s)))
    (block $done4 (loop $l4
      (br_if $done4 (i32.gt_u (i32.add (local.get $i) (i32.const 4)) (local.get $d)))
      (v128.store (local.get $x) (f32x4.mul (v128.load (local.get $x)) (local.get $ss)))
      (local.set $x (i32.add (local.get $x) (i32.const 16)))
      (local.set $i (i32.add (local.get $i) (i32.const 4)))
      (br $l4)))
    (block $done (loop $l1
      (br_if $done (i32.ge_u (local.get $i) (local.get $d)))
      (f32.store (local.get $x) (f32.mul (f32.load (local.get $x)) (local.get $s)))
      (local.set $x (i32.add (local.get $x) (i32.const 4)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $l1))))
)

;; Matrix-vector products with 128-bit SIMD: the decoding case (one row of A), where the weights
;; are streamed once and memory bandwidth is the limit. Weights stay resident in this module's memory
;; (copied once, on first use), so only x and the result cross between JavaScript and WebAssembly.
;; Regenerate gemv-wasm.ts with `pnpm build:wasm` after editing.
(module
  (memory (export "memory") 1)

  ;; out[j] = dot(x[0:k], w[j, 0:k]) for j < n; w is [n, k] row-major; k % 16 == 0
  (func (export "gemv_t") (param $x i32) (param $w i32) (param $out i32) (param $k i32) (param $n i32)
    (local $j i32) (local $kk i32) (local $xp i32) (local $wp i32)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128)
    (local.set $wp (local.get $w))
    (block $done
      (loop $rows
        (br_if $done (i32.ge_u (local.get $j) (local.get $n)))
        (local.set $a0 (v128.const f32x4 0 0 0 0))
        (local.set $a1 (v128.const f32x4 0 0 0 0))
        (local.set $a2 (v128.const f32x4 0 0 0 0))
        (local.set $a3 (v128.const f32x4 0 0 0 0))
        (local.set $xp (local.get $x))
        (local.set $kk (i32.const 0))
        (block $kdone
          (loop $ks
            (br_if $kdone (i32.ge_u (local.get $kk) (local.get $k)))
            (local.set $a0 (f32x4.add (local.get $a0) (f32x4.mul (v128.load (local.get $xp)) (v128.load (local.get $wp)))))
            (local.set $a1 (f32x4.add (local.get $a1) (f32x4.mul (v128.load offset=16 (local.get $xp)) (v128.load offset=16 (local.get $wp)))))
            (local.set $a2 (f32x4.add (local.get $a2) (f32x4.mul (v128.load offset=32 (local.get $xp)) (v128.load offset=32 (local.get $wp)))))
            (local.set $a3 (f32x4.add (local.get $a3) (f32x4.mul (v128.load offset=48 (local.get $xp)) (v128.load offset=48 (local.get $wp)))))
            (local.set $xp (i32.add (local.get $xp) (i32.const 64)))
            (local.set $wp (i32.add (local.get $wp) (i32.const 64)))
            (local.set $kk (i32.add (local.get $kk) (i32.const 16)))
            (br $ks)))
        (local.set $a0 (f32x4.add (f32x4.add (local.get $a0) (local.get $a1)) (f32x4.add (local.get $a2) (local.get $a3))))
        (f32.store (i32.add (local.get $out) (i32.shl (local.get $j) (i32.const 2)))
          (f32.add (f32.add (f32x4.extract_lane 0 (local.get $a0)) (f32x4.extract_lane 1 (local.get $a0)))
                   (f32.add (f32x4.extract_lane 2 (local.get $a0)) (f32x4.extract_lane 3 (local.get $a0)))))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br $rows))))

  ;; out[0:n] = sum over kk of x[kk] * w[kk, 0:n]; w is [k, n] row-major; n % 16 == 0
  (func (export "gemv_n") (param $x i32) (param $w i32) (param $out i32) (param $k i32) (param $n i32)
    (local $j i32) (local $kk i32) (local $op i32) (local $wp i32) (local $xs v128)
    (memory.fill (local.get $out) (i32.const 0) (i32.shl (local.get $n) (i32.const 2)))
    (local.set $wp (local.get $w))
    (block $done
      (loop $ks
        (br_if $done (i32.ge_u (local.get $kk) (local.get $k)))
        (local.set $xs (f32x4.splat (f32.load (i32.add (local.get $x) (i32.shl (local.get $kk) (i32.const 2))))))
        (local.set $op (local.get $out))
        (local.set $j (i32.const 0))
        (block $jdone
          (loop $cols
            (br_if $jdone (i32.ge_u (local.get $j) (local.get $n)))
            (v128.store (local.get $op) (f32x4.add (v128.load (local.get $op)) (f32x4.mul (local.get $xs) (v128.load (local.get $wp)))))
            (v128.store offset=16 (local.get $op) (f32x4.add (v128.load offset=16 (local.get $op)) (f32x4.mul (local.get $xs) (v128.load offset=16 (local.get $wp)))))
            (v128.store offset=32 (local.get $op) (f32x4.add (v128.load offset=32 (local.get $op)) (f32x4.mul (local.get $xs) (v128.load offset=32 (local.get $wp)))))
            (v128.store offset=48 (local.get $op) (f32x4.add (v128.load offset=48 (local.get $op)) (f32x4.mul (local.get $xs) (v128.load offset=48 (local.get $wp)))))
            (local.set $op (i32.add (local.get $op) (i32.const 64)))
            (local.set $wp (i32.add (local.get $wp) (i32.const 64)))
            (local.set $j (i32.add (local.get $j) (i32.const 16)))
            (br $cols)))
        (local.set $kk (i32.add (local.get $kk) (i32.const 1)))
        (br $ks))))
)

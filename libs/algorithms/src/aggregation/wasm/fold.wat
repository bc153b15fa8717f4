;; The SIMD fold of the float64 accumulator (libs/algorithms/src/aggregation/fold-wasm.ts):
;;   acc[i] = (((acc[i] + w[0]·x_0[i]) + w[1]·x_1[i]) + …) + w[n−1]·x_{n−1}[i]      for i in [0, len), len % 4 = 0
;; with the updates x_u float32 (promoted exactly to float64) and every product and sum rounded to float64 in
;; that order: the operations of one `acc[i] += w·x[i]` per update in JavaScript, so the result is bit for bit
;; the same. Two f64x2 lanes pairs per step (4 elements); no fused multiply-add.
;; Layout (byte offsets into the exported memory): acc f64[len] at $acc; update u at $upd + u·$stride·4; weights
;; f64[n] at $w. Regenerate fold-wasm.ts with `npm run build:wasm` after editing (a unit test checks they match).
(module
  (memory (export "memory") 8)
  (func (export "fold") (param $acc i32) (param $upd i32) (param $stride i32) (param $n i32) (param $w i32) (param $len i32)
    (local $i i32) (local $u i32) (local $p i32) (local $q i32) (local $step i32)
    (local $a01 v128) (local $a23 v128) (local $x v128) (local $wv v128)
    (local.set $step (i32.shl (local.get $stride) (i32.const 2)))
    (block $done
      (loop $elements
        (br_if $done (i32.ge_u (local.get $i) (local.get $len)))
        (local.set $q (i32.add (local.get $acc) (i32.shl (local.get $i) (i32.const 3))))
        (local.set $a01 (v128.load (local.get $q)))
        (local.set $a23 (v128.load offset=16 (local.get $q)))
        (local.set $p (i32.add (local.get $upd) (i32.shl (local.get $i) (i32.const 2))))
        (local.set $u (i32.const 0))
        (block $updatesDone
          (loop $updates
            (br_if $updatesDone (i32.ge_u (local.get $u) (local.get $n)))
            (local.set $x (v128.load (local.get $p)))
            (local.set $wv (f64x2.splat (f64.load (i32.add (local.get $w) (i32.shl (local.get $u) (i32.const 3))))))
            (local.set $a01
              (f64x2.add (local.get $a01) (f64x2.mul (local.get $wv) (f64x2.promote_low_f32x4 (local.get $x)))))
            (local.set $a23
              (f64x2.add (local.get $a23)
                (f64x2.mul (local.get $wv)
                  (f64x2.promote_low_f32x4
                    (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $x) (local.get $x))))))
            (local.set $p (i32.add (local.get $p) (local.get $step)))
            (local.set $u (i32.add (local.get $u) (i32.const 1)))
            (br $updates)))
        (v128.store (local.get $q) (local.get $a01))
        (v128.store offset=16 (local.get $q) (local.get $a23))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $elements)))))

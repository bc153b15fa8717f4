;; The SIMD fold of the float64 accumulator (libs/algorithms/src/aggregation/simd-fold.ts), on elements [0, len) of a
;; range, len % 8 = 0:
;;   a[i] = (((a0[i] + w[0]·x_0[i]) + w[1]·x_1[i]) + …) + w[n−1]·x_{n−1}[i]      a0 = 0 when $fresh, else acc
;; or, when $yptrs ≠ 0 (MIFA/FedVarp), the same with w[u]·(x_u[i] − y_u[i]) (y_u = 0 for a plain update: x − 0 = x,
;; also for −0, so the products are those of w·x)
;; then either acc[i] = a[i]                                   ($apply = 0)
;;        or   out[i] = float32(g[i] + (scale·a[i]) / divisor)  ($apply = 1: x_{t+1} = x_t + γ·U/N, acc untouched)
;; with the updates x_u and g float32 (promoted exactly to float64) and every product, quotient and sum rounded to
;; float64 in that order: the operations of `acc[i] += w·x[i]` once per update and then
;; `out[i] = g[i] + (scale·acc[i]) / divisor` in JavaScript (a fresh accumulator is +0, like a zero-filled array),
;; so the results are bit for bit the same. No fused multiply-add. Eight elements per step: four independent f64x2
;; sums, so the adds of consecutive updates do not wait on each other's latency.
;; Layout (byte addresses into the exported memory): $ptrs holds n i32 addresses, x_u's element 0 at ptrs[u] (and
;; y_u's at yptrs[u]);
;; weights f64[n] at $w; acc f64[len] at $acc; g and out f32[len] (may be the same). Regenerate fold-wasm.ts with
;; `npm run build:wasm` after editing (a test checks they match).
(module
  (memory (export "memory") 1)
  (func (export "fold")
    (param $ptrs i32) (param $yptrs i32) (param $n i32) (param $w i32) (param $acc i32) (param $len i32) (param $fresh i32)
    (param $apply i32) (param $g i32) (param $out i32) (param $scale f64) (param $divisor f64)
    (local $i i32) (local $u i32) (local $p i32) (local $q i32) (local $r i32)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128)
    (local $wv v128) (local $sv v128) (local $dv v128)
    (local.set $sv (f64x2.splat (local.get $scale)))
    (local.set $dv (f64x2.splat (local.get $divisor)))
    (block $done
      (loop $elements
        (br_if $done (i32.ge_u (local.get $i) (local.get $len)))
        (local.set $q (i32.add (local.get $acc) (i32.shl (local.get $i) (i32.const 3))))
        (if (local.get $fresh)
          (then
            (local.set $a0 (v128.const i64x2 0 0))
            (local.set $a1 (v128.const i64x2 0 0))
            (local.set $a2 (v128.const i64x2 0 0))
            (local.set $a3 (v128.const i64x2 0 0)))
          (else
            (local.set $a0 (v128.load (local.get $q)))
            (local.set $a1 (v128.load offset=16 (local.get $q)))
            (local.set $a2 (v128.load offset=32 (local.get $q)))
            (local.set $a3 (v128.load offset=48 (local.get $q)))))
        (if (local.get $yptrs)
          (then
            (local.set $u (i32.const 0))
            (block $diffsDone
              (loop $diffs
                (br_if $diffsDone (i32.ge_u (local.get $u) (local.get $n)))
                (local.set $p
                  (i32.add
                    (i32.load (i32.add (local.get $ptrs) (i32.shl (local.get $u) (i32.const 2))))
                    (i32.shl (local.get $i) (i32.const 2))))
                (local.set $r
                  (i32.add
                    (i32.load (i32.add (local.get $yptrs) (i32.shl (local.get $u) (i32.const 2))))
                    (i32.shl (local.get $i) (i32.const 2))))
                (local.set $wv (f64x2.splat (f64.load (i32.add (local.get $w) (i32.shl (local.get $u) (i32.const 3))))))
                (local.set $a0
                  (f64x2.add (local.get $a0)
                    (f64x2.mul (local.get $wv)
                      (f64x2.sub (f64x2.promote_low_f32x4 (v128.load64_zero (local.get $p)))
                        (f64x2.promote_low_f32x4 (v128.load64_zero (local.get $r)))))))
                (local.set $a1
                  (f64x2.add (local.get $a1)
                    (f64x2.mul (local.get $wv)
                      (f64x2.sub (f64x2.promote_low_f32x4 (v128.load64_zero offset=8 (local.get $p)))
                        (f64x2.promote_low_f32x4 (v128.load64_zero offset=8 (local.get $r)))))))
                (local.set $a2
                  (f64x2.add (local.get $a2)
                    (f64x2.mul (local.get $wv)
                      (f64x2.sub (f64x2.promote_low_f32x4 (v128.load64_zero offset=16 (local.get $p)))
                        (f64x2.promote_low_f32x4 (v128.load64_zero offset=16 (local.get $r)))))))
                (local.set $a3
                  (f64x2.add (local.get $a3)
                    (f64x2.mul (local.get $wv)
                      (f64x2.sub (f64x2.promote_low_f32x4 (v128.load64_zero offset=24 (local.get $p)))
                        (f64x2.promote_low_f32x4 (v128.load64_zero offset=24 (local.get $r)))))))
                (local.set $u (i32.add (local.get $u) (i32.const 1)))
                (br $diffs))))
          (else
            (local.set $u (i32.const 0))
            (block $updatesDone
              (loop $updates
                (br_if $updatesDone (i32.ge_u (local.get $u) (local.get $n)))
                (local.set $p
                  (i32.add
                    (i32.load (i32.add (local.get $ptrs) (i32.shl (local.get $u) (i32.const 2))))
                    (i32.shl (local.get $i) (i32.const 2))))
                (local.set $wv (f64x2.splat (f64.load (i32.add (local.get $w) (i32.shl (local.get $u) (i32.const 3))))))
                (local.set $a0
                  (f64x2.add (local.get $a0) (f64x2.mul (local.get $wv) (f64x2.promote_low_f32x4 (v128.load64_zero (local.get $p))))))
                (local.set $a1
                  (f64x2.add (local.get $a1)
                    (f64x2.mul (local.get $wv) (f64x2.promote_low_f32x4 (v128.load64_zero offset=8 (local.get $p))))))
                (local.set $a2
                  (f64x2.add (local.get $a2)
                    (f64x2.mul (local.get $wv) (f64x2.promote_low_f32x4 (v128.load64_zero offset=16 (local.get $p))))))
                (local.set $a3
                  (f64x2.add (local.get $a3)
                    (f64x2.mul (local.get $wv) (f64x2.promote_low_f32x4 (v128.load64_zero offset=24 (local.get $p))))))
                (local.set $u (i32.add (local.get $u) (i32.const 1)))
                (br $updates)))))
        (if (local.get $apply)
          (then
            (local.set $p (i32.add (local.get $g) (i32.shl (local.get $i) (i32.const 2))))
            (local.set $q (i32.add (local.get $out) (i32.shl (local.get $i) (i32.const 2))))
            ;; Loads of g first: out may be g itself.
            (local.set $a0
              (f64x2.add (f64x2.promote_low_f32x4 (v128.load64_zero (local.get $p)))
                (f64x2.div (f64x2.mul (local.get $sv) (local.get $a0)) (local.get $dv))))
            (local.set $a1
              (f64x2.add (f64x2.promote_low_f32x4 (v128.load64_zero offset=8 (local.get $p)))
                (f64x2.div (f64x2.mul (local.get $sv) (local.get $a1)) (local.get $dv))))
            (local.set $a2
              (f64x2.add (f64x2.promote_low_f32x4 (v128.load64_zero offset=16 (local.get $p)))
                (f64x2.div (f64x2.mul (local.get $sv) (local.get $a2)) (local.get $dv))))
            (local.set $a3
              (f64x2.add (f64x2.promote_low_f32x4 (v128.load64_zero offset=24 (local.get $p)))
                (f64x2.div (f64x2.mul (local.get $sv) (local.get $a3)) (local.get $dv))))
            (v128.store64_lane 0 (local.get $q) (f32x4.demote_f64x2_zero (local.get $a0)))
            (v128.store64_lane offset=8 0 (local.get $q) (f32x4.demote_f64x2_zero (local.get $a1)))
            (v128.store64_lane offset=16 0 (local.get $q) (f32x4.demote_f64x2_zero (local.get $a2)))
            (v128.store64_lane offset=24 0 (local.get $q) (f32x4.demote_f64x2_zero (local.get $a3))))
          (else
            (v128.store (local.get $q) (local.get $a0))
            (v128.store offset=16 (local.get $q) (local.get $a1))
            (v128.store offset=32 (local.get $q) (local.get $a2))
            (v128.store offset=48 (local.get $q) (local.get $a3))))
        (local.set $i (i32.add (local.get $i) (i32.const 8)))
        (br $elements)))))

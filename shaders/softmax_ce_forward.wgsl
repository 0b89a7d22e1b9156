// Softmax cross-entropy over the last axis, forward, in one dispatch (the generic path takes a
// dozen kernels: the log-softmax's max, subtraction, exponent, sum and logarithm, then the
// product with the targets and its sum). engine::op's SoftmaxCrossEntropy:
//   L = −(1/R) Σ_r Σ_c t_rc · (z_rc − log Σ_k e^(z_rk))       R rows of C classes
// computed per row with the row's maximum taken out first (stable). One workgroup: each of its
// 256 threads takes every 256th row, then workgroup_sum.wgsl's tree (appended to this source by
// engine::fused); meant for a batch of logits (at most a few thousand rows). Every buffer
// read_write (cubecl's convention for source kernels).

@group(0) @binding(0) var<storage, read_write> z: array<f32>;
@group(0) @binding(1) var<storage, read_write> t: array<f32>;
@group(0) @binding(2) var<storage, read_write> loss: array<f32>;
// [C: classes per row, R: rows], from the tensor's shape
@group(0) @binding(3) var<storage, read_write> hyper: array<f32>;

@compute @workgroup_size(256, 1, 1)
fn main(@builtin(local_invocation_index) lane: u32) {
    let classes = max(u32(hyper[0]), 1u);
    let rows = min(u32(hyper[1]), min(arrayLength(&z), arrayLength(&t)) / classes);
    var sum = 0.0;
    for (var r = lane; r < rows; r += 256u) {
        let base = r * classes;
        var top = z[base];
        for (var c = 1u; c < classes; c++) {
            top = max(top, z[base + c]);
        }
        var total = 0.0;
        for (var c = 0u; c < classes; c++) {
            total += exp(z[base + c] - top);
        }
        let lse = top + log(total);
        for (var c = 0u; c < classes; c++) {
            sum += t[base + c] * (z[base + c] - lse);
        }
    }
    let whole = workgroup_sum(lane, sum);
    if (lane == 0u && arrayLength(&loss) > 0u) {
        loss[0] = -whole / f32(max(rows, 1u));
    }
}

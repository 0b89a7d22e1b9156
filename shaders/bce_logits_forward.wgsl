// Binary cross-entropy on logits, forward, in one dispatch (the generic path takes twelve
// kernels, four of them reductions). The stable form of engine::op's BceWithLogits:
//   L = mean_i( max(z,0) − z·t + log1p(e^(−|z|)) )
// One workgroup: each of its 256 threads sums a strided share, then workgroup_sum.wgsl's tree
// (appended to this source by engine::fused); meant for the losses it is used on (a batch of
// logits: at most a few thousand). Every buffer read_write (cubecl's convention for source kernels).

@group(0) @binding(0) var<storage, read_write> z: array<f32>;
@group(0) @binding(1) var<storage, read_write> t: array<f32>;
@group(0) @binding(2) var<storage, read_write> loss: array<f32>;
// [n: the logits' count, from the tensor's shape]
@group(0) @binding(3) var<storage, read_write> hyper: array<f32>;

// log(1 + x) without losing small x (Goldberg's trick: exact where 1 + x rounds to 1).
fn log1p(x: f32) -> f32 {
    let u = 1.0 + x;
    if (u == 1.0) {
        return x;
    }
    return log(u) * x / (u - 1.0);
}

@compute @workgroup_size(256, 1, 1)
fn main(@builtin(local_invocation_index) lane: u32) {
    let n = min(u32(hyper[0]), min(arrayLength(&z), arrayLength(&t)));
    var sum = 0.0;
    for (var i = lane; i < n; i += 256u) {
        let zi = z[i];
        sum += max(zi, 0.0) - zi * t[i] + log1p(exp(-abs(zi)));
    }
    let whole = workgroup_sum(lane, sum);
    if (lane == 0u && arrayLength(&loss) > 0u) {
        loss[0] = whole / f32(n);
    }
}

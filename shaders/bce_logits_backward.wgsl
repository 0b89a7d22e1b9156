// Binary cross-entropy on logits, backward, in one dispatch (the generic path takes eight
// kernels). engine::op's rule:  ∂L/∂z_i = (σ(z_i) − t_i) / n · ∂L/∂L.
// Every buffer read_write (cubecl's convention for source kernels).

@group(0) @binding(0) var<storage, read_write> z: array<f32>;
@group(0) @binding(1) var<storage, read_write> t: array<f32>;
// [∂L/∂L]: the upstream gradient, a scalar
@group(0) @binding(2) var<storage, read_write> upstream: array<f32>;
@group(0) @binding(3) var<storage, read_write> dz: array<f32>;
// [n: the logits' count, from the tensor's shape]
@group(0) @binding(4) var<storage, read_write> hyper: array<f32>;

@compute @workgroup_size(64, 1, 1)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    let n = min(u32(hyper[0]), min(arrayLength(&z), arrayLength(&t)));
    let i = id.x;
    if (i >= n || i >= arrayLength(&dz) || arrayLength(&upstream) == 0u) {
        return;
    }
    // σ(z) in the form that cannot overflow: e^(−|z|) ≤ 1.
    let e = exp(-abs(z[i]));
    let s = select(e / (1.0 + e), 1.0 / (1.0 + e), z[i] >= 0.0);
    dz[i] = (s - t[i]) / f32(n) * upstream[0];
}

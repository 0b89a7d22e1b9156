// Softmax cross-entropy over the last axis, backward, in one dispatch (the generic path takes
// about ten kernels). engine::op's rule, which holds for targets whose rows do not sum to 1:
//   ∂L/∂z_rc = (softmax(z_r)_c · Σ_k t_rk − t_rc) / R · ∂L/∂L
// One thread per row. Every buffer read_write (cubecl's convention for source kernels).

@group(0) @binding(0) var<storage, read_write> z: array<f32>;
@group(0) @binding(1) var<storage, read_write> t: array<f32>;
// [∂L/∂L]: the upstream gradient, a scalar
@group(0) @binding(2) var<storage, read_write> upstream: array<f32>;
@group(0) @binding(3) var<storage, read_write> dz: array<f32>;
// [C: classes per row, R: rows], from the tensor's shape
@group(0) @binding(4) var<storage, read_write> hyper: array<f32>;

@compute @workgroup_size(64, 1, 1)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    let classes = max(u32(hyper[0]), 1u);
    let rows = min(u32(hyper[1]), min(min(arrayLength(&z), arrayLength(&t)), arrayLength(&dz)) / classes);
    let r = id.x;
    if (r >= rows || arrayLength(&upstream) == 0u) {
        return;
    }
    let base = r * classes;
    var top = z[base];
    var mass = 0.0;
    for (var c = 0u; c < classes; c++) {
        top = max(top, z[base + c]);
        mass += t[base + c];
    }
    var total = 0.0;
    for (var c = 0u; c < classes; c++) {
        total += exp(z[base + c] - top);
    }
    let scale = upstream[0] / f32(rows);
    for (var c = 0u; c < classes; c++) {
        let p = exp(z[base + c] - top) / total;
        dz[base + c] = (p * mass - t[base + c]) * scale;
    }
}

// The backward of an element-wise activation in one dispatch, where the generic path launches
// two to four kernels. `a` is what the rule reads (engine::op's formulas):
//   kind 0, tanh:        ∂L/∂x = ∂L/∂y · (1 − y²)          a = y
//   kind 1, sigmoid:     ∂L/∂x = ∂L/∂y · y(1 − y)          a = y
//   kind 2, ReLU:        ∂L/∂x = 0 if x ≤ 0 else ∂L/∂y     a = x
//   kind 3, leaky ReLU:  ∂L/∂x = α·∂L/∂y if x ≤ 0 else ∂L/∂y  a = x
// (written as the generic path's mask on x ≤ 0, so a NaN x passes ∂L/∂y on as it does)
// Every buffer read_write (cubecl's convention for source kernels).

@group(0) @binding(0) var<storage, read_write> a: array<f32>;
@group(0) @binding(1) var<storage, read_write> g: array<f32>;
@group(0) @binding(2) var<storage, read_write> dx: array<f32>;
// [kind, slope α]
@group(0) @binding(3) var<storage, read_write> hyper: array<f32>;

@compute @workgroup_size(64, 1, 1)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    let i = id.x;
    if (i >= arrayLength(&dx) || i >= arrayLength(&a) || i >= arrayLength(&g)) {
        return;
    }
    let kind = u32(hyper[0]);
    let ai = a[i];
    let gi = g[i];
    var result = 0.0;
    switch kind {
        case 0u: { result = gi * (1.0 - ai * ai); }
        case 1u: { result = gi * (ai * (1.0 - ai)); }
        case 2u: { result = select(gi, 0.0, ai <= 0.0); }
        default: { result = select(gi, gi * hyper[1], ai <= 0.0); }
    }
    dx[i] = result;
}

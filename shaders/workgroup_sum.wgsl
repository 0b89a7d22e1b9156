// The sum of one value per thread over a workgroup of 256, by a tree in workgroup memory: every
// thread gets the total. Not a kernel of its own: engine::fused appends it to the sources of the
// kernels that reduce in one workgroup (the losses' forwards). Call it once per dispatch (a second
// call could overwrite partial[0] while threads still read the first total), from uniform control
// flow (it has barriers), with `lane` the thread's local_invocation_index.

var<workgroup> partial: array<f32, 256>;

fn workgroup_sum(lane: u32, share: f32) -> f32 {
    partial[lane] = share;
    workgroupBarrier();
    for (var width = 128u; width > 0u; width >>= 1u) {
        if (lane < width) {
            partial[lane] += partial[lane + width];
        }
        workgroupBarrier();
    }
    return partial[0];
}

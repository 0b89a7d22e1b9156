//! Live heap bytes, for the soak: a counting wrapper around the system allocator.
//!
//! Key decision: wasm linear memory only ever grows, in 64 KiB pages, so its size is a high-water
//! mark that hides a slow leak until the allocator asks for more. This wrapper counts the bytes
//! currently allocated (one add or subtract per call; the page is single-threaded) and exports them
//! as `heap_live_bytes` (with the peak and the largest allocation since the last look), raw wasm
//! exports the soak reads through trunk's start-up event.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
/// The most `LIVE` reached since `heap_peak_bytes` last read it.
static PEAK: AtomicUsize = AtomicUsize::new(0);
/// The largest single allocation since `heap_largest_bytes` last read it.
static LARGEST: AtomicUsize = AtomicUsize::new(0);

fn added(size: usize) {
    let live = LIVE.fetch_add(size, Relaxed) + size;
    PEAK.fetch_max(live, Relaxed);
    LARGEST.fetch_max(size, Relaxed);
}

// SAFETY: every call forwards to `System` with the caller's arguments unchanged; the counter is
// only bookkeeping.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            added(layout.size());
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            added(layout.size());
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Relaxed);
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE.fetch_sub(layout.size(), Relaxed);
            added(new_size);
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Bytes the Rust side has allocated and not yet freed.
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn heap_live_bytes() -> f64 {
    LIVE.load(Relaxed) as f64
}

/// The most bytes allocated at once since the last call (then restarts from the current level):
/// a peak is what makes the linear memory grow.
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn heap_peak_bytes() -> f64 {
    PEAK.swap(LIVE.load(Relaxed), Relaxed) as f64
}

/// The largest single allocation since the last call.
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn heap_largest_bytes() -> f64 {
    LARGEST.swap(0, Relaxed) as f64
}

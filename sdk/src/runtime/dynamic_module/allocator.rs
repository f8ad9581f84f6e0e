//! The native target's memory allocator: mimalloc, the module's own, so a filter's small
//! allocations do not go through Envoy's process allocator.
//!
//! Blocks whose alignment mimalloc gives anyway (8 bytes, or 16 for blocks of 16 bytes and
//! more) are asked for plainly (`mi_malloc`); only larger alignments take the aligned
//! calls. The `mimalloc` crate asks for every block with `mi_malloc_aligned`, whose checks
//! cost about a hundred instructions more per allocation (measured with
//! `scripts/bench.sh --instructions`: the header workloads allocate a few blocks a request).

use libmimalloc_sys as mi;
use std::alloc::{GlobalAlloc, Layout};
use std::ffi::c_void;

/// `entry!`'s `#[global_allocator]` on the native target.
pub struct NativeAllocator;

/// Whether mimalloc's plain calls already align a block of `layout` (its documented
/// guarantee: pointer size always, 16 bytes for blocks of at least 16).
fn natural(layout: Layout) -> bool {
    layout.align() <= 8 || (layout.align() <= 16 && layout.size() >= 16)
}

/// A block of `layout` from mimalloc's `plain` call where its natural alignment suffices,
/// else from its `aligned` one.
///
/// # Safety
/// `plain` and `aligned` are mimalloc's matching pair (`mi_malloc`/`mi_malloc_aligned`,
/// `mi_zalloc`/`mi_zalloc_aligned`).
unsafe fn block(
    layout: Layout,
    plain: unsafe extern "C" fn(usize) -> *mut c_void,
    aligned: unsafe extern "C" fn(usize, usize) -> *mut c_void,
) -> *mut u8 {
    // SAFETY: mimalloc's allocation calls take any size and a power-of-two alignment
    // (`Layout` guarantees one).
    unsafe {
        if natural(layout) {
            plain(layout.size())
        } else {
            aligned(layout.size(), layout.align())
        }
    }
    .cast()
}

// SAFETY: every block comes from mimalloc, aligned as `layout` asks (plain calls only where
// `natural` holds, the aligned calls otherwise), and goes back to it with `mi_free` or a
// reallocation of the same kind.
unsafe impl GlobalAlloc for NativeAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: mimalloc's pair for fresh blocks.
        unsafe { block(layout, mi::mi_malloc, mi::mi_malloc_aligned) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: mimalloc's pair for zeroed blocks.
        unsafe { block(layout, mi::mi_zalloc, mi::mi_zalloc_aligned) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        // SAFETY: `ptr` came from this allocator (GlobalAlloc's contract), so from mimalloc.
        unsafe { mi::mi_free(ptr.cast::<c_void>()) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `ptr` came from this allocator with `layout` (GlobalAlloc's contract); the
        // new block keeps the alignment, plainly where the new size still has it for free.
        unsafe {
            if natural(Layout::from_size_align_unchecked(new_size, layout.align())) {
                mi::mi_realloc(ptr.cast::<c_void>(), new_size)
            } else {
                mi::mi_realloc_aligned(ptr.cast::<c_void>(), new_size, layout.align())
            }
        }
        .cast()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every block is aligned as asked, whichever call served it, and keeps its bytes
    /// through a reallocation.
    #[test]
    fn blocks_are_aligned_as_asked_and_keep_their_bytes() {
        let allocator = NativeAllocator;
        for align in [1, 2, 4, 8, 16, 32, 64, 4096] {
            for size in [1, 7, 8, 15, 16, 17, 100, 1024, 70_000] {
                let layout = Layout::from_size_align(size, align).unwrap();
                // SAFETY: a non-zero size; each block is written within its size and freed once.
                unsafe {
                    let block = allocator.alloc(layout);
                    assert!(!block.is_null());
                    assert_eq!(block as usize % align, 0, "size {size}, align {align}");
                    block.write_bytes(0xab, size);
                    let grown = allocator.realloc(block, layout, size * 3);
                    assert_eq!(grown as usize % align, 0, "grown {size}, align {align}");
                    assert!((0..size).all(|i| *grown.add(i) == 0xab));
                    allocator.dealloc(grown, Layout::from_size_align(size * 3, align).unwrap());
                    let zeroed = allocator.alloc_zeroed(layout);
                    assert_eq!(zeroed as usize % align, 0);
                    assert!((0..size).all(|i| *zeroed.add(i) == 0));
                    allocator.dealloc(zeroed, layout);
                }
            }
        }
    }
}

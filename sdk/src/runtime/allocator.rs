//! The memory allocator `entry!` installs in a filter module.
//!
//! A filter's allocations are small and short-lived: header values, a parsed JSON document,
//! a formatted string, all dropped when the callback or the stream ends. [`PoolAllocator`]
//! serves every request of up to 4 KiB from a free list per size class (every 16 bytes up
//! to 128, then four per doubling up to 4096): an allocation pops a block, a free pushes it
//! back, both a handful of instructions. Lists are refilled from 64 KiB slabs. Larger
//! requests (buffered bodies, big vectors) go to the system allocator.
//!
//! On the body benchmark (`scripts/bench.sh`: parse a JSON body with `serde_json`, redact,
//! serialise), it cut the filter's cost per request by about a tenth against the system
//! allocator (see the README's "Performance").
//!
//! The trade-off: a freed small block is kept for its size class and never returned to the
//! system allocator, so a module's memory is the peak of its small blocks plus the peak of
//! its large ones. A steady per-request workload reuses the same blocks request after
//! request. Linear memory of a wasm VM never shrinks anyway.
//!
//! `envoy_wasm_sdk::entry!(MyPlugin)` makes it the module's `#[global_allocator]`; a crate
//! that declares its own says `envoy_wasm_sdk::entry!(MyPlugin, own_allocator)`.
//!
//! It exists on `wasm32` without threads only: a proxy-wasm VM runs one thread, which is
//! what lets the lists go without locks.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::UnsafeCell;
use std::ptr;

/// Blocks are at least this big and aligned like this; larger alignments go to `System`.
const MIN_BLOCK: usize = 16;
/// Requests up to this size come from the pools.
const MAX_BLOCK: usize = 4096;
/// Up to 128 bytes, classes are 16 bytes apart; above, four per doubling (160, 192, 224,
/// 256, 320, …, 4096), so a block wastes at most a fifth of itself.
const FINE_LIMIT: usize = 128;
const CLASSES: usize = FINE_LIMIT / MIN_BLOCK + 4 * 5;
const SLAB_BYTES: usize = 64 * 1024;

/// A free block holds the address of the next free block of its class.
struct FreeBlock {
    next: *mut FreeBlock,
}

struct Pools {
    free: [*mut FreeBlock; CLASSES],
    /// The unused part of the current slab.
    slab_next: usize,
    slab_end: usize,
}

/// Size-class allocator for single-threaded wasm VMs; see the [module docs](self).
pub struct PoolAllocator {
    pools: UnsafeCell<Pools>,
}

// SAFETY: installed only on wasm32 without the `atomics` feature, where a module has a
// single thread, so no two calls can ever run at once. (The crate's own native tests build
// it too, each using its own instance on one thread.)
unsafe impl Sync for PoolAllocator {}

impl PoolAllocator {
    /// An allocator with empty pools; usable in a `static`.
    pub const fn new() -> Self {
        PoolAllocator {
            pools: UnsafeCell::new(Pools {
                free: [ptr::null_mut(); CLASSES],
                slab_next: 0,
                slab_end: 0,
            }),
        }
    }
}

impl Default for PoolAllocator {
    fn default() -> Self {
        Self::new()
    }
}

/// The size class serving `layout`, or `None` for `System`.
fn class_of(layout: Layout) -> Option<usize> {
    let size = layout.size();
    if size > MAX_BLOCK || layout.align() > MIN_BLOCK {
        return None;
    }
    if size <= FINE_LIMIT {
        return Some(size.saturating_sub(1) / MIN_BLOCK);
    }
    // `size - 1` lies in [2^doubling, 2^(doubling+1)); its two bits below the top pick the
    // quarter of that doubling.
    let doubling = (size - 1).ilog2() as usize;
    let quarter = ((size - 1) >> (doubling - 2)) & 3;
    Some(FINE_LIMIT / MIN_BLOCK + (doubling - FINE_LIMIT.ilog2() as usize) * 4 + quarter)
}

/// The block size of `class`: the largest request it serves.
const fn block_size(class: usize) -> usize {
    if class < FINE_LIMIT / MIN_BLOCK {
        return (class + 1) * MIN_BLOCK;
    }
    let coarse = class - FINE_LIMIT / MIN_BLOCK;
    let base = FINE_LIMIT << (coarse / 4);
    base + (coarse % 4 + 1) * (base / 4)
}

impl Pools {
    /// A fresh block of `class` cut from the current slab.
    ///
    /// # Safety
    /// Called by the allocator only (single thread).
    #[cold]
    #[inline(never)]
    unsafe fn carve(&mut self, class: usize) -> *mut u8 {
        let size = block_size(class);
        if self.slab_end - self.slab_next < size {
            // SAFETY: non-zero size, valid power-of-two alignment.
            let slab =
                unsafe { System.alloc(Layout::from_size_align_unchecked(SLAB_BYTES, MIN_BLOCK)) };
            if slab.is_null() {
                return slab;
            }
            // The old slab's tail (under one block) is left unused.
            self.slab_next = slab as usize;
            self.slab_end = self.slab_next + SLAB_BYTES;
        }
        let block = self.slab_next as *mut u8;
        self.slab_next += size;
        block
    }
}

// SAFETY: every block handed out is at least `layout.size()` bytes, aligned to
// `layout.align()` (size classes are powers of two from `MIN_BLOCK`, larger layouts go to
// `System`), and a block is reused only after `dealloc` returned it to its class's list.
unsafe impl GlobalAlloc for PoolAllocator {
    // Out of line: inlined at every allocation site, it would cost kilobytes of code.
    #[inline(never)]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let Some(class) = class_of(layout) else {
            // SAFETY: the caller's contract, passed on.
            return unsafe { System.alloc(layout) };
        };
        // SAFETY: single thread (see `Sync`), and no call below re-enters this allocator
        // while the borrow lives: `System` is a different allocator.
        let pools = unsafe { &mut *self.pools.get() };
        let head = pools.free[class];
        if head.is_null() {
            // SAFETY: as above.
            unsafe { pools.carve(class) }
        } else {
            // SAFETY: `head` is a free block of this class, written by `dealloc`.
            pools.free[class] = unsafe { (*head).next };
            head.cast()
        }
    }

    #[inline(never)]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        match class_of(layout) {
            // SAFETY: the caller's contract, passed on.
            None => unsafe { System.alloc_zeroed(layout) },
            Some(_) => {
                // SAFETY: as for `alloc`; the block has at least `layout.size()` bytes.
                let block = unsafe { self.alloc(layout) };
                if !block.is_null() {
                    // SAFETY: `block` is non-null and has at least `layout.size()` bytes.
                    unsafe { ptr::write_bytes(block, 0, layout.size()) };
                }
                block
            }
        }
    }

    #[inline(never)]
    unsafe fn dealloc(&self, block: *mut u8, layout: Layout) {
        let Some(class) = class_of(layout) else {
            // SAFETY: `block` came from `System` with this layout (same `class_of`).
            return unsafe { System.dealloc(block, layout) };
        };
        // SAFETY: single thread; `block` is a block of this class no longer in use, at least
        // 16 bytes and 16-aligned, so it can hold the list link.
        unsafe {
            let pools = &mut *self.pools.get();
            let block = block.cast::<FreeBlock>();
            (*block).next = pools.free[class];
            pools.free[class] = block;
        }
    }

    #[inline(never)]
    unsafe fn realloc(&self, block: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller guarantees `new_size` rounded up to the alignment fits.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        match (class_of(layout), class_of(new_layout)) {
            // The block already has room for `new_size`.
            (Some(old), Some(new)) if old == new => block,
            // SAFETY: both sizes are `System`'s: the caller's contract, passed on.
            (None, None) => unsafe { System.realloc(block, layout, new_size) },
            _ => {
                // SAFETY: the caller's contract; the copy covers the smaller of both sizes.
                unsafe {
                    let moved = self.alloc(new_layout);
                    if !moved.is_null() {
                        ptr::copy_nonoverlapping(block, moved, layout.size().min(new_size));
                        self.dealloc(block, layout);
                    }
                    moved
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(size: usize, align: usize) -> Layout {
        Layout::from_size_align(size, align).unwrap()
    }

    #[test]
    fn small_requests_map_to_the_smallest_fitting_class_and_the_rest_to_system() {
        assert_eq!(class_of(layout(1, 1)), Some(0));
        assert_eq!(class_of(layout(16, 8)), Some(0));
        assert_eq!(class_of(layout(17, 1)), Some(1));
        assert_eq!(class_of(layout(4096, 16)), Some(CLASSES - 1));
        assert_eq!(class_of(layout(4097, 1)), None);
        assert_eq!(class_of(layout(64, 32)), None, "alignment above 16");
        let sizes: Vec<usize> = (0..CLASSES).map(block_size).collect();
        assert_eq!(&sizes[6..14], [112, 128, 160, 192, 224, 256, 320, 384]);
        assert_eq!(sizes[CLASSES - 1], MAX_BLOCK);
        for size in 1..=MAX_BLOCK {
            let class = class_of(layout(size, 1)).unwrap();
            assert!(block_size(class) >= size, "{size} bytes fit their block");
            assert!(
                class == 0 || block_size(class - 1) < size,
                "{size}: smallest fit"
            );
            assert_eq!(block_size(class) % MIN_BLOCK, 0, "blocks stay 16-aligned");
        }
    }

    #[test]
    fn blocks_are_aligned_distinct_and_reused_after_free() {
        let pool = PoolAllocator::new();
        // SAFETY: one thread; every block is used within its layout and freed with it.
        unsafe {
            let a = pool.alloc(layout(24, 8));
            let b = pool.alloc(layout(24, 8));
            assert!(!a.is_null() && !b.is_null());
            assert_ne!(a, b);
            assert_eq!(a as usize % MIN_BLOCK, 0);
            ptr::write_bytes(a, 1, 24);
            ptr::write_bytes(b, 2, 24);
            assert_eq!(*b.add(23), 2, "blocks of one class do not overlap");
            pool.dealloc(a, layout(24, 8));
            assert_eq!(
                pool.alloc(layout(32, 1)),
                a,
                "a freed block serves its class"
            );
            let big = pool.alloc(layout(100_000, 1));
            assert!(!big.is_null());
            pool.dealloc(big, layout(100_000, 1));
        }
    }

    #[test]
    fn realloc_keeps_the_contents_across_classes_and_into_system_memory() {
        let pool = PoolAllocator::new();
        // SAFETY: one thread; each pointer is used within the size it was last given, and
        // only until it is reallocated or freed.
        unsafe {
            let mut data = pool.alloc(layout(10, 1));
            for i in 0..10 {
                *data.add(i) = i as u8;
            }
            let same = pool.realloc(data, layout(10, 1), 16);
            assert_eq!(same, data, "growing within the block keeps it");
            let mut size = 16;
            for new_size in [40, 4096, 10_000, 50_000, 100] {
                data = pool.realloc(data, layout(size, 1), new_size);
                assert!(!data.is_null());
                size = new_size;
                assert!(
                    (0..10).all(|i| *data.add(i) == i as u8),
                    "at {new_size} bytes"
                );
            }
            pool.dealloc(data, layout(size, 1));
            let zeroed = pool.alloc_zeroed(layout(64, 8));
            ptr::write_bytes(zeroed, 7, 64);
            pool.dealloc(zeroed, layout(64, 8));
            let again = pool.alloc_zeroed(layout(64, 8));
            assert_eq!(again, zeroed);
            assert!(
                (0..64).all(|i| *again.add(i) == 0),
                "zeroed even when reused"
            );
        }
    }

    #[test]
    fn a_steady_workload_does_not_grow_memory() {
        let pool = PoolAllocator::new();
        // SAFETY: one thread; each block is freed once, with the layout it was made with.
        let round = |pool: &PoolAllocator| unsafe {
            let blocks: Vec<(*mut u8, Layout)> = (1..2000)
                .map(|i| layout(i % 300 + 1, 1))
                .map(|l| (pool.alloc(l), l))
                .collect();
            for (block, l) in blocks {
                pool.dealloc(block, l);
            }
        };
        round(&pool);
        // SAFETY: no allocation is under way, so nothing else borrows the pools.
        let slab_after_first = unsafe { (*pool.pools.get()).slab_next };
        for _ in 0..100 {
            round(&pool);
        }
        // SAFETY: as above.
        let pools = unsafe { &*pool.pools.get() };
        assert_eq!(
            pools.slab_next, slab_after_first,
            "later rounds reuse freed blocks"
        );
    }
}

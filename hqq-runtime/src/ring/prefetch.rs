//! Cache prefetch hints for the lines a claim is about to touch.
//!
//! A round trip through a ring is bounded by cache-line transfers between
//! cores. Some of them are known in advance: a producer will next read the
//! sequence word of the following slot, and a consumer that sees a slot
//! published will read its packet and payload. Asking for those lines early
//! overlaps their transfers with other work instead of paying them one
//! after another.
//!
//! Elsewhere than on x86-64 (and under Miri, which runs no inline
//! assembly) the hints do nothing.

/// Hints that the cache line holding `ptr` will be read soon. It never
/// faults and has no effect on the program's semantics, whatever `ptr` is.
#[inline(always)]
pub(crate) fn prefetch_read(ptr: *const u8) {
    #[cfg(all(target_arch = "x86_64", not(miri)))]
    // SAFETY: `_mm_prefetch` needs SSE, which every x86-64 processor has;
    // a prefetch does not access memory architecturally, so any pointer,
    // even a dangling one, is fine.
    unsafe {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        _mm_prefetch::<_MM_HINT_T0>(ptr.cast::<i8>());
    }
    #[cfg(not(all(target_arch = "x86_64", not(miri))))]
    let _ = ptr;
}

/// Hints that the cache line holding `ptr` will be written soon, so the
/// core asks for it exclusively now and a later store does not wait for
/// other cores to drop their copies. On a processor without PREFETCHW it
/// is a read hint. It never faults and has no effect on the program's
/// semantics, whatever `ptr` is.
#[inline(always)]
pub(crate) fn prefetch_write(ptr: *const u8) {
    #[cfg(all(target_arch = "x86_64", not(miri)))]
    if has_prefetchw() {
        // SAFETY: the processor has PREFETCHW (checked above); it only
        // hints the cache and does not access memory architecturally, so
        // any pointer is fine, and it touches no register but its
        // operand's, no flags and no stack.
        unsafe {
            std::arch::asm!(
                "prefetchw [{0}]",
                in(reg) ptr,
                options(nostack, preserves_flags, readonly)
            );
        }
        return;
    }
    prefetch_read(ptr);
}

/// Whether the processor has PREFETCHW (CPUID leaf 0x8000_0001, ECX bit 8,
/// PRFCHW), asked once per process.
#[cfg(all(target_arch = "x86_64", not(miri)))]
fn has_prefetchw() -> bool {
    use std::arch::x86_64::__cpuid;
    static PRFCHW: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *PRFCHW.get_or_init(|| {
        __cpuid(0x8000_0000).eax >= 0x8000_0001 && __cpuid(0x8000_0001).ecx & (1 << 8) != 0
    })
}

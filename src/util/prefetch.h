// Software prefetch that the optimiser cannot drop.
//
// g++ models __builtin_prefetch (and _mm_prefetch, hwy::Prefetch) as free of side effects, so a
// helper that does nothing but prefetch is found "pure" and every call to it is deleted: the
// CPU linear kernel's row prefetch compiled to no instruction at all until it used this. A
// volatile asm statement is always kept.
#pragma once

namespace ollmlx {

// Starts loading the cache line holding p into all cache levels (a hint; never faults).
inline void prefetch_line(const void* p) {
#if defined(__x86_64__) || defined(__i386__)
  asm volatile("prefetcht0 %0" : : "m"(*static_cast<const char*>(p)));
#elif defined(__aarch64__)
  asm volatile("prfm pldl1keep, [%0]" : : "r"(p));
#else
  __builtin_prefetch(p, 0, 3);
#endif
}

}  // namespace ollmlx

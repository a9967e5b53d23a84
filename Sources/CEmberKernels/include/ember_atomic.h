// Atomic operations and the parallel-region depth for the Swift thread pool
// (EmberKernels/ThreadPool.swift). Swift's own
// `Atomic` needs macOS 15 on Apple platforms; these compile everywhere the C target does.
// Every operation is sequentially consistent: the pool publishes a job with one store and
// workers read it after one load, so the simplest ordering costs nothing measurable.
#ifndef EMBER_ATOMIC_H
#define EMBER_ATOMIC_H
#include <sched.h>
#include <stdint.h>

static inline int64_t ember_atomic_load(const int64_t *p) { return __atomic_load_n(p, __ATOMIC_SEQ_CST); }

static inline void ember_atomic_store(int64_t *p, int64_t value) { __atomic_store_n(p, value, __ATOMIC_SEQ_CST); }

/// Adds `delta` and returns the new value.
static inline int64_t ember_atomic_add(int64_t *p, int64_t delta) {
    return __atomic_add_fetch(p, delta, __ATOMIC_SEQ_CST);
}

/// Tells the core that this is a spin-wait loop (x86 `pause`, arm64 `yield`).
static inline void ember_spin_pause(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/// Takes a lock word (0: free, 1: held) for a critical section of a few instructions (the
/// caching allocator's free lists): one atomic exchange when the lock is free. A waiter spins
/// on plain loads, then yields its core so that a holder that lost its core can finish.
static inline void ember_spin_lock(int64_t *lock) {
    int spins = 0;
    while (__atomic_exchange_n(lock, 1, __ATOMIC_ACQUIRE) != 0) {
        while (__atomic_load_n(lock, __ATOMIC_RELAXED) != 0) {
            if (++spins < 1000) ember_spin_pause(); else sched_yield();
        }
    }
}

static inline void ember_spin_unlock(int64_t *lock) { __atomic_store_n(lock, 0, __ATOMIC_RELEASE); }

/// How many parallel-loop chunks the calling thread is inside (0: none). `ParallelLoop.run`
/// runs a loop inline when this is non-zero, so nested loops never oversubscribe the cores.
int ember_parallel_region_depth(void);
void ember_parallel_region_enter(void);
void ember_parallel_region_leave(void);

#endif

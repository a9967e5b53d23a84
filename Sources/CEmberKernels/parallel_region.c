// Whether the calling thread is running a chunk of a parallel loop (EmberKernels/ThreadPool.swift).
// A thread-local in C because Swift has no thread-local storage of its own short of
// pthread_getspecific, and this is read on every ParallelLoop.run.
#include "ember_atomic.h"

static _Thread_local int parallel_region_depth = 0;

int ember_parallel_region_depth(void) { return parallel_region_depth; }

void ember_parallel_region_enter(void) { parallel_region_depth += 1; }

void ember_parallel_region_leave(void) { parallel_region_depth -= 1; }

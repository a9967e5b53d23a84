// Checks of Ember's C kernels outside SwiftPM, written to test the NEON variants on an x86_64
// machine: scripts/check-arm64.sh cross-compiles this folder with Sources/CEmberKernels for
// aarch64 and runs it under qemu-aarch64, and also builds it natively as a check of the checks
// (there the AVX2/AVX-512 variants run against the same references).
//
// Each section compares every instruction-set level the machine has (0, the portable C, and the
// detected one: 3 NEON on aarch64; 1 AVX2, 2 AVX-512 on x86_64) against plain references:
// GEMM against a naive triple loop, vector math against libm in double (maximum ulp error
// reported, bounds asserted), reductions and elementwise kernels against scalar loops. The
// output ends with one line, "kernel checks: PASS (...)" or "kernel checks: FAIL (...)", and
// the exit status is 0 only on PASS. Lines starting with "bits " are hashes of the vector
// math results, which the script compares between the NEON and the AVX2 run.
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include "check.h"

long check_count, check_failures;
int check_levels[4];
int check_level_count;

const char *check_level_name(int level) {
    switch (level) {
    case 0: return "generic C";
    case 1: return "AVX2+FMA";
    case 2: return "AVX-512";
    case 3: return "NEON";
    default: return "?";
    }
}

static uint64_t rng_state = 0x853c49e6748fea9bULL;

double check_uniform(double lo, double hi) {
    // xorshift64*: deterministic across machines, unlike rand().
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    const uint64_t r = rng_state * 0x2545F4914F6CDD1DULL;
    return lo + (hi - lo) * (double)(r >> 11) * 0x1p-53;
}

void *check_guarded_end(int slot, size_t bytes) {
    // One mapping per slot, made once: a qemu syscall per test case would dominate the run.
    enum { SLOTS = 8, REGION = 8 << 20 };
    static char *regions[SLOTS];
    const size_t page = (size_t)sysconf(_SC_PAGESIZE);
    if (slot < 0 || slot >= SLOTS || bytes > REGION) {
        printf("check_guarded_end: bad request (slot %d, %zu bytes)\n", slot, bytes);
        exit(2);
    }
    if (!regions[slot]) {
        char *base = mmap(NULL, REGION + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (base == MAP_FAILED || mprotect(base + REGION, page, PROT_NONE) != 0) {
            perror("mmap");
            exit(2);
        }
        regions[slot] = base;
    }
    return regions[slot] + REGION - bytes;
}

uint32_t check_bits_f32(float x) {
    uint32_t bits;
    if (x != x) return 0x7fc00000u;
    memcpy(&bits, &x, sizeof bits);
    return bits;
}

uint64_t check_bits_f64(double x) {
    uint64_t bits;
    if (x != x) return 0x7ff8000000000000ull;
    memcpy(&bits, &x, sizeof bits);
    return bits;
}

uint64_t check_hash(uint64_t hash, uint64_t word) {
    for (int i = 0; i < 8; i++) {
        hash ^= (word >> (8 * i)) & 0xff;
        hash *= 0x100000001b3ull;
    }
    return hash;
}

static double seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void run_section(const char *name, void (*section)(void)) {
    const long count = check_count, failures = check_failures;
    const double start = seconds();
    printf("%s\n", name);
    section();
    printf("  %s: %ld checks, %ld failed (%.2f s)\n", name, check_count - count, check_failures - failures,
           seconds() - start);
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0); // a crash must not lose the lines before it
    check_levels[check_level_count++] = 0;
    for (int level = 1; level <= 3; level++) {
        ember_set_cpu_level(level);
        if (ember_cpu_level() == level) check_levels[check_level_count++] = level;
    }
    ember_set_cpu_level(-1);
#if defined(__aarch64__)
    const char *arch = "aarch64";
#elif defined(__x86_64__)
    const char *arch = "x86_64";
#else
    const char *arch = "other";
#endif
    printf("architecture %s, detected level %d (%s); checking levels", arch, ember_cpu_level(),
           check_level_name(ember_cpu_level()));
    for (int i = 0; i < check_level_count; i++) printf(" %d", check_levels[i]);
    printf("\n");
#if defined(__aarch64__)
    // NEON is baseline on aarch64: anything else means the dispatch did not route to it.
    CHECK(ember_cpu_level() == 3, "aarch64 detected level %d, expected 3 (NEON)", ember_cpu_level());
#endif

    run_section("gemm", check_gemm);
    run_section("vector math", check_vector_math);
    run_section("reductions", check_reductions);
    run_section("elementwise", check_elementwise);

    printf("kernel checks: %s (%ld checks, %ld failed, %s)\n", check_failures ? "FAIL" : "PASS", check_count,
           check_failures, arch);
    return check_failures ? 1 : 0;
}

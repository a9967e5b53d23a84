import Testing
import Ember

/// Whether OpenBLAS can be opened here (CI installs Debian's libopenblas0-pthread; see .ci/run).
let openBLASIsInstalled = (try? PlatformBLAS(loading: .openBLAS)) != nil

@Suite struct BLASBackendTests {
    @Test func unknownLibraryThrowsAndKeepsEmbersKernels() {
        #expect(throws: PlatformBLAS.LoadError.self) { try Ember.useBLAS(.path("/nonexistent/libblas.so")) }
        #expect(Ember.activeBLAS() == nil)
    }

    // `useBLAS` switches every product in the process, so it runs in a process of its own.
    @Test(.enabled(if: openBLASIsInstalled))
    func matmulThroughOpenBLASMatchesEmbersKernels() async {
        await #expect(processExitsWith: .success) {
            let a = Tensor.randn([70, 90], dtype: .float32), b = Tensor.randn([90, 50], dtype: .float32)
            let a64 = a.to(.float64), b64 = b.to(.float64)
            let reference = a.matmul(b), reference64 = a64.matmul(b64)
            let referenceTransposed = b.t.matmul(a.t)
            try Ember.useBLAS(.openBLAS)
            guard Ember.activeBLAS() != nil else { exit(1) }
            let close = (a.matmul(b) - reference).abs().max().item(as: Double.self) < 1e-4
                && (a64.matmul(b64) - reference64).abs().max().item(as: Double.self) < 1e-12
                && (b.t.matmul(a.t) - referenceTransposed).abs().max().item(as: Double.self) < 1e-4
            Ember.useBuiltinGEMM()
            exit(close && Ember.activeBLAS() == nil ? 0 : 1)
        }
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

import EmberKernels

/// A loaded platform BLAS library (see `useBLAS(_:)`), re-exported from the kernel layer.
public typealias PlatformBLAS = EmberKernels.PlatformBLAS

/// Which platform BLAS library to open: `.accelerate`, `.openBLAS` or `.path(...)`.
public typealias BLASLibrary = PlatformBLAS.Library

/// Sends large matrix products (`matmul`, `bmm`, `Linear`, convolutions' GEMMs) to a platform
/// BLAS library instead of Ember's own kernels: Accelerate on macOS, OpenBLAS on Linux, or any
/// shared library with the CBLAS interface. The library is opened at run time; Ember never
/// links one. Throws `PlatformBLAS.LoadError` when it cannot be opened, and then changes nothing.
///
///     try Ember.useBLAS(.accelerate)     // or .openBLAS, or .path("/opt/lib/libblis.so")
///     let y = a.matmul(b)                // cblas_sgemm
///     Ember.useBuiltinGEMM()             // back to Ember's kernels
///
/// The environment variable `EMBER_BLAS` (`accelerate`, `openblas` or a path) does the same at
/// start-up, without a code change. Off by default: measure first (`ember-bench --blas openblas`
/// beside `ember-bench`), since a library is not always faster than Ember's kernels. Products of
/// fewer than 32³ multiply-adds, and operands that CBLAS cannot describe (views with a step in
/// both dimensions), stay on Ember's kernels. Call it before using tensors from several threads.
public func useBLAS(_ library: BLASLibrary) throws {
    PlatformBLAS.active = try PlatformBLAS(loading: library)
}

/// Goes back to Ember's own GEMM kernels after `useBLAS(_:)` or `EMBER_BLAS`.
///
///     Ember.useBuiltinGEMM()
public func useBuiltinGEMM() {
    PlatformBLAS.active = nil
}

/// The platform BLAS library that large products go to, or nil for Ember's own kernels.
///
///     print(Ember.activeBLAS()?.path ?? "Ember's kernels")
public func activeBLAS() -> PlatformBLAS? { PlatformBLAS.active }

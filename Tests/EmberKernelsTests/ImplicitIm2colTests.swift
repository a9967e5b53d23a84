import CEmberKernels
import Testing
@testable import EmberKernels

/// One convolution window for the implicit-im2col checks: input [channels, height, width],
/// output size derived as PyTorch does.
struct TestWindow: CustomStringConvertible {
    var channels: Int, height: Int, width: Int
    var kernel: (h: Int, w: Int), stride: (h: Int, w: Int), pad: (h: Int, w: Int), dilation: (h: Int, w: Int)

    var geometry: ember_window_geometry {
        let outH = (height + 2 * pad.h - dilation.h * (kernel.h - 1) - 1) / stride.h + 1
        let outW = (width + 2 * pad.w - dilation.w * (kernel.w - 1) - 1) / stride.w + 1
        return ember_window_geometry(height: Int64(height), width: Int64(width),
                                     out_height: Int64(outH), out_width: Int64(outW),
                                     kernel_h: Int64(kernel.h), kernel_w: Int64(kernel.w),
                                     stride_h: Int64(stride.h), stride_w: Int64(stride.w),
                                     pad_h: Int64(pad.h), pad_w: Int64(pad.w),
                                     dilation_h: Int64(dilation.h), dilation_w: Int64(dilation.w))
    }
    var depth: Int { channels * kernel.h * kernel.w }
    var columns: Int { Int(geometry.out_height * geometry.out_width) }
    var description: String {
        "\(channels)x\(height)x\(width) k\(kernel.h)x\(kernel.w) s\(stride.h),\(stride.w) p\(pad.h),\(pad.w) d\(dilation.h),\(dilation.w)"
    }
}

/// Padding, stride, dilation, 1x1 / 3x3 / 5x3 kernels, padding wider than the kernel's reach,
/// and output widths around the panel widths (nr 4, 8, 16, 32).
let implicitWindows: [TestWindow] = [
    TestWindow(channels: 3, height: 7, width: 9, kernel: (3, 3), stride: (1, 1), pad: (1, 1), dilation: (1, 1)),
    TestWindow(channels: 2, height: 11, width: 13, kernel: (5, 3), stride: (2, 2), pad: (2, 1), dilation: (1, 1)),
    TestWindow(channels: 4, height: 10, width: 10, kernel: (3, 3), stride: (1, 1), pad: (2, 2), dilation: (2, 2)),
    TestWindow(channels: 5, height: 6, width: 17, kernel: (1, 1), stride: (1, 1), pad: (0, 0), dilation: (1, 1)),
    TestWindow(channels: 3, height: 9, width: 8, kernel: (1, 1), stride: (2, 2), pad: (0, 0), dilation: (1, 1)),
    TestWindow(channels: 2, height: 5, width: 33, kernel: (3, 3), stride: (1, 1), pad: (1, 1), dilation: (1, 1)),
    TestWindow(channels: 1, height: 17, width: 16, kernel: (3, 3), stride: (1, 1), pad: (0, 0), dilation: (1, 1)),
    TestWindow(channels: 3, height: 8, width: 40, kernel: (3, 3), stride: (2, 1), pad: (1, 1), dilation: (1, 2)),
    TestWindow(channels: 2, height: 4, width: 5, kernel: (3, 3), stride: (1, 1), pad: (3, 3), dilation: (1, 1)),
    TestWindow(channels: 6, height: 3, width: 31, kernel: (5, 3), stride: (1, 2), pad: (2, 1), dilation: (1, 1)),
]

/// The image of group 1 of 3, inside an input whose other channels are NaN: a packer that reads
/// outside its group's channels, or outside the image, poisons the product.
private func groupedImage<T: BinaryFloatingPoint>(_ type: T.Type, _ window: TestWindow, seed: UInt64)
    -> (storage: UnsafeMutablePointer<T>, image: UnsafePointer<T>, count: Int) {
    let plane = window.height * window.width, count = 3 * window.channels * plane
    let storage = UnsafeMutablePointer<T>.allocate(capacity: count)
    storage.initialize(repeating: .nan, count: count)
    var random = TestRandom(state: seed)
    let image = storage + window.channels * plane
    for index in 0..<window.channels * plane { image[index] = T(random.next()) }
    return (storage, UnsafePointer(image), count)
}

/// Packs every panel of the implicit matrix at several depth and column offsets, and compares
/// with `packB` of the explicit im2col matrix: the layouts must agree element for element
/// (the zero padding of a partial last panel included).
func checkImplicitPacking<Kernels: GEMMKernels>(_ kernels: Kernels.Type, _ window: TestWindow, level: Int32,
                                                sourceLocation: SourceLocation = #_sourceLocation) {
    typealias T = Kernels.Scalar
    var geometry = window.geometry
    let (storage, image, _) = groupedImage(T.self, window, seed: 7)
    let k = window.depth, n = window.columns
    let explicit = UnsafeMutablePointer<T>.allocate(capacity: k * n)
    defer { storage.deallocate(); explicit.deallocate() }
    Kernels.im2col(image, &geometry, 0..<k, explicit, columnStride: n)
    let config = Kernels.config(level: level)
    let nr = Int(config.nr)
    for (k0, j0) in [(0, 0), (1, 3), (k / 2, n / 3), (k - 1, n - 1)] {
        let kc = k - k0, nc = n - j0
        let capacity = kc * (nc + nr - 1) / nr * nr
        var expected = [T](repeating: .nan, count: capacity), actual = [T](repeating: .nan, count: capacity)
        expected.withUnsafeMutableBufferPointer {
            Kernels.packB(config, kc, nc, explicit + k0 * n + j0, n, 1, $0.baseAddress!)
        }
        actual.withUnsafeMutableBufferPointer {
            Kernels.packIm2col(config, kc, nc, image, &geometry, k0, j0, $0.baseAddress!)
        }
        let same = zip(expected, actual).allSatisfy { $0 == $1 || ($0.isNaN && $1.isNaN) }
        #expect(same, "\(T.self) \(window) level \(level) rows \(k0)..<\(k) columns \(j0)..<\(n)",
                sourceLocation: sourceLocation)
    }
}

/// The same product with B as the explicit im2col matrix and as the implicit one, through the
/// driver (`threads` caps the split) and through the blocked path split into one rectangle per
/// thread (which passes the packer absolute column offsets even for small products): identical
/// packed panels, so identical bits.
func checkImplicitProduct<Kernels: GEMMKernels>(_ kernels: Kernels.Type, _ window: TestWindow, m: Int,
                                                level: Int32, threads: Int,
                                                sourceLocation: SourceLocation = #_sourceLocation) {
    typealias T = Kernels.Scalar
    var geometry = window.geometry
    let (storage, image, _) = groupedImage(T.self, window, seed: 11)
    let k = window.depth, n = window.columns
    let explicit = UnsafeMutablePointer<T>.allocate(capacity: k * n)
    let a = UnsafeMutablePointer<T>.allocate(capacity: m * k)
    defer { storage.deallocate(); explicit.deallocate(); a.deallocate() }
    var random = TestRandom(state: 3)
    for index in 0..<m * k { a[index] = T(random.next()) }
    Kernels.im2col(image, &geometry, 0..<k, explicit, columnStride: n)
    let initial = (0..<m * n).map { _ in T(random.next()) }
    withUnsafePointer(to: &geometry) { window in
        let base = GEMMProblem(m: m, n: n, k: k, alpha: T(1.5), a: UnsafePointer(a), aRowStride: k, aColumnStride: 1,
                               b: UnsafePointer(explicit), bRowStride: n, bColumnStride: 1, beta: T(0.5),
                               c: UnsafeMutablePointer<T>.allocate(capacity: 1), cRowStride: n)
        defer { base.c.deallocate() }
        let config = Kernels.config(level: level)
        for route in ["driver", "blocked"] {
            var results: [[T]] = []
            for implicit in [false, true] {
                var c = initial
                c.withUnsafeMutableBufferPointer { buffer in
                    var problem = base
                    problem.c = buffer.baseAddress!
                    if implicit {
                        problem.b = image
                        problem.window = window
                    }
                    if route == "driver" {
                        GEMM.run(problem, kernels: kernels, level: level, threads: threads)
                    } else {
                        GEMM.split(problem, threads: threads, columnTile: Int(config.nr), rowTile: Int(config.mr)) {
                            GEMM.multiplyBlocked($0, config: config, kernels: kernels)
                        }
                    }
                }
                results.append(c)
            }
            let differing = zip(results[0], results[1]).filter { $0 != $1 }.count
            #expect(differing == 0, "\(T.self) \(window) m \(m) level \(level) \(threads) threads \(route)",
                    sourceLocation: sourceLocation)
        }
    }
}

@Suite struct ImplicitIm2colTests {
    @Test(arguments: implicitWindows.indices)
    func packingMatchesExplicitIm2col(windowIndex: Int) {
        for level in allLevels {
            checkImplicitPacking(Float32GEMMKernels.self, implicitWindows[windowIndex], level: level)
            checkImplicitPacking(Float64GEMMKernels.self, implicitWindows[windowIndex], level: level)
        }
    }

    @Test(arguments: implicitWindows.indices)
    func productMatchesExplicitIm2col(windowIndex: Int) {
        for level in allLevels {
            for threads in [1, 2] {
                for m in [5, 13] {
                    checkImplicitProduct(Float32GEMMKernels.self, implicitWindows[windowIndex], m: m, level: level, threads: threads)
                    checkImplicitProduct(Float64GEMMKernels.self, implicitWindows[windowIndex], m: m, level: level, threads: threads)
                }
            }
        }
    }

    /// Large enough that the driver packs and splits across two threads (work above
    /// `GEMM.parallelLimit`), with columns split along output rows.
    @Test func threadedProductMatchesExplicitIm2col() {
        let window = TestWindow(channels: 8, height: 40, width: 37, kernel: (3, 3), stride: (1, 1), pad: (1, 1), dilation: (1, 1))
        for level in allLevels {
            checkImplicitProduct(Float32GEMMKernels.self, window, m: 16, level: level, threads: 2)
            checkImplicitProduct(Float64GEMMKernels.self, window, m: 16, level: level, threads: 2)
        }
    }
}

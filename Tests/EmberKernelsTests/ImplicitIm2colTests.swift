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

/// `images` images of group 1 of 3, inside an input [images, 3·channels, height, width] whose
/// other channels are NaN: a packer that reads outside its group's channels, outside an image,
/// or across an image boundary into the wrong image poisons the product. NaN lies before the
/// first image (group 0), between images (groups 2 and 0) and after the last (group 2).
private struct GroupedImages<T: BinaryFloatingPoint> {
    let storage: UnsafeMutablePointer<T>
    let image: UnsafePointer<T>
    let imageStride: Int

    init(_ window: TestWindow, images: Int, seed: UInt64) {
        let plane = window.height * window.width
        imageStride = 3 * window.channels * plane
        storage = UnsafeMutablePointer<T>.allocate(capacity: images * imageStride)
        storage.initialize(repeating: .nan, count: images * imageStride)
        var random = TestRandom(state: seed)
        let first = storage + window.channels * plane
        for i in 0..<images {
            for index in 0..<window.channels * plane { first[i * imageStride + index] = T(random.next()) }
        }
        image = UnsafePointer(first)
    }

    /// The explicit im2col matrix, [depth, images·columns], allocated (the caller frees it).
    func explicit<Kernels: GEMMKernels>(_ window: TestWindow, images: Int, kernels: Kernels.Type) -> UnsafeMutablePointer<T>
        where Kernels.Scalar == T {
        var geometry = window.geometry
        let k = window.depth, width = images * window.columns
        let columns = UnsafeMutablePointer<T>.allocate(capacity: k * width)
        kernels.im2col(image, images: images, imageStride: imageStride, &geometry, 0..<k, columns, columnStride: width)
        return columns
    }
}

/// Depth and column offsets at which packing starts: the first and last panels, odd offsets,
/// and with several images a column just before an image boundary (its first panel spans it),
/// exactly on one, and in the middle of the second image.
private func packingOffsets(depth k: Int, columns n: Int, images: Int) -> [(Int, Int)] {
    var offsets = [(0, 0), (1, 3), (k / 2, images * n / 3), (k - 1, images * n - 1)]
    if images > 1 { offsets += [(0, n - 1), (1, n), (k / 3, n + n / 2), (0, 2 * n - 2)] }
    return offsets
}

/// Packs every panel of the implicit matrix at several depth and column offsets, and compares
/// with `packB` of the explicit im2col matrix: the layouts must agree element for element
/// (the zero padding of a partial last panel included).
func checkImplicitPacking<Kernels: GEMMKernels>(_ kernels: Kernels.Type, _ window: TestWindow, images: Int = 1,
                                                level: Int32, sourceLocation: SourceLocation = #_sourceLocation) {
    typealias T = Kernels.Scalar
    var geometry = window.geometry
    let input = GroupedImages<T>(window, images: images, seed: 7)
    let k = window.depth, n = window.columns, width = images * n
    let explicit = input.explicit(window, images: images, kernels: kernels)
    defer { input.storage.deallocate(); explicit.deallocate() }
    let config = Kernels.config(level: level)
    let nr = Int(config.nr)
    for (k0, j0) in packingOffsets(depth: k, columns: n, images: images) {
        let kc = k - k0, nc = width - j0
        let capacity = kc * (nc + nr - 1) / nr * nr
        var expected = [T](repeating: .nan, count: capacity), actual = [T](repeating: .nan, count: capacity)
        expected.withUnsafeMutableBufferPointer {
            Kernels.packB(config, kc, nc, explicit + k0 * width + j0, width, 1, $0.baseAddress!)
        }
        actual.withUnsafeMutableBufferPointer {
            Kernels.packIm2col(config, kc, nc, input.image, input.imageStride, &geometry, k0, j0, $0.baseAddress!)
        }
        let same = zip(expected, actual).allSatisfy { $0 == $1 || ($0.isNaN && $1.isNaN) }
        #expect(same, "\(T.self) \(window) \(images) images level \(level) rows \(k0)..<\(k) columns \(j0)..<\(width)",
                sourceLocation: sourceLocation)
    }
}

/// The same product with B as the explicit im2col matrix and as the implicit one, through the
/// driver (`threads` caps the split), through the blocked path split into one rectangle per
/// thread (which passes the packer absolute column offsets even for small products), and
/// through `runMaterialized` on the columns from the middle of the first image on (of the
/// second with several images), which must write the column matrix of the images those columns
/// touch: identical packed panels, or the identical explicit matrix, so identical bits.
func checkImplicitProduct<Kernels: GEMMKernels>(_ kernels: Kernels.Type, _ window: TestWindow, images: Int = 1,
                                                m: Int, level: Int32, threads: Int,
                                                sourceLocation: SourceLocation = #_sourceLocation) {
    typealias T = Kernels.Scalar
    var geometry = window.geometry
    let input = GroupedImages<T>(window, images: images, seed: 11)
    let k = window.depth, n = images * window.columns
    let explicit = input.explicit(window, images: images, kernels: kernels)
    let a = UnsafeMutablePointer<T>.allocate(capacity: m * k)
    defer { input.storage.deallocate(); explicit.deallocate(); a.deallocate() }
    var random = TestRandom(state: 3)
    for index in 0..<m * k { a[index] = T(random.next()) }
    let initial = (0..<m * n).map { _ in T(random.next()) }
    withUnsafePointer(to: &geometry) { window in
        let base = GEMMProblem(m: m, n: n, k: k, alpha: T(1.5), a: UnsafePointer(a), aRowStride: k, aColumnStride: 1,
                               b: UnsafePointer(explicit), bRowStride: n, bColumnStride: 1, beta: T(0.5),
                               c: UnsafeMutablePointer<T>.allocate(capacity: 1), cRowStride: n)
        defer { base.c.deallocate() }
        let config = Kernels.config(level: level)
        for route in ["driver", "blocked", "materialized"] {
            var results: [[T]] = []
            for implicit in [false, true] {
                var c = initial
                c.withUnsafeMutableBufferPointer { buffer in
                    var problem = base
                    problem.c = buffer.baseAddress!
                    if implicit {
                        problem.b = input.image
                        problem.imageStride = input.imageStride
                        problem.window = window
                    }
                    switch route {
                    case "driver":
                        GEMM.run(problem, kernels: kernels, level: level, threads: threads)
                    case "blocked":
                        GEMM.split(problem, threads: threads, columnTile: Int(config.nr), rowTile: Int(config.mr)) {
                            GEMM.multiplyBlocked($0, config: config, kernels: kernels)
                        }
                    default:
                        let plane = Int(window.pointee.out_height * window.pointee.out_width)
                        let block = problem.block(rows: 0..<m, columns: plane * (images > 1 ? 3 : 1) / 2 + 1..<n)
                        if implicit {
                            GEMM.runMaterialized(block, kernels: kernels, level: level, threads: threads, blas: nil)
                        } else {
                            GEMM.run(block, kernels: kernels, level: level, threads: threads)
                        }
                    }
                }
                results.append(c)
            }
            let differing = zip(results[0], results[1]).filter { $0 != $1 }.count
            #expect(differing == 0, "\(T.self) \(window) \(images) images m \(m) level \(level) \(threads) threads \(route)",
                    sourceLocation: sourceLocation)
        }
    }
}

@Suite struct ImplicitIm2colTests {
    @Test(arguments: implicitWindows.indices, [1, 3])
    func packingMatchesExplicitIm2col(windowIndex: Int, images: Int) {
        for level in allLevels {
            checkImplicitPacking(Float32GEMMKernels.self, implicitWindows[windowIndex], images: images, level: level)
            checkImplicitPacking(Float64GEMMKernels.self, implicitWindows[windowIndex], images: images, level: level)
        }
    }

    @Test(arguments: implicitWindows.indices, [1, 3])
    func productMatchesExplicitIm2col(windowIndex: Int, images: Int) {
        for level in allLevels {
            for threads in [1, 2] {
                for m in [5, 13] {
                    checkImplicitProduct(Float32GEMMKernels.self, implicitWindows[windowIndex], images: images, m: m,
                                         level: level, threads: threads)
                    checkImplicitProduct(Float64GEMMKernels.self, implicitWindows[windowIndex], images: images, m: m,
                                         level: level, threads: threads)
                }
            }
        }
    }

    /// Large enough that the driver packs and splits across two threads (work above
    /// `GEMM.parallelLimit`), with columns split along output rows; then LeNet's second layer
    /// (6 channels at 14x14, 5x5 kernel) over 8 images, which the driver packs (B too large for
    /// the unpacked small kernel) and splits across two threads mid-image.
    @Test func threadedProductMatchesExplicitIm2col() {
        let window = TestWindow(channels: 8, height: 40, width: 37, kernel: (3, 3), stride: (1, 1), pad: (1, 1), dilation: (1, 1))
        let lenet = TestWindow(channels: 6, height: 14, width: 14, kernel: (5, 5), stride: (1, 1), pad: (0, 0), dilation: (1, 1))
        for level in allLevels {
            checkImplicitProduct(Float32GEMMKernels.self, window, m: 16, level: level, threads: 2)
            checkImplicitProduct(Float64GEMMKernels.self, window, m: 16, level: level, threads: 2)
            checkImplicitProduct(Float32GEMMKernels.self, lenet, images: 8, m: 16, level: level, threads: 2)
            checkImplicitProduct(Float64GEMMKernels.self, lenet, images: 8, m: 16, level: level, threads: 2)
        }
    }
}

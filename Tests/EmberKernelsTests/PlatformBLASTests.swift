import Testing
@testable import EmberKernels

/// OpenBLAS if this machine has it (CI installs Debian's libopenblas0-pthread; see .ci/run).
let installedOpenBLAS: PlatformBLAS? = try? PlatformBLAS(loading: .openBLAS)

@Suite("Platform BLAS")
struct PlatformBLASTests {
    @Test("a library that is not there is a typed error naming it")
    func missingLibrary() {
        #expect(throws: PlatformBLAS.LoadError.self) { try PlatformBLAS(loading: .path("/nonexistent/libnoblas.so")) }
        do {
            _ = try PlatformBLAS(loading: .path("/nonexistent/libnoblas.so"))
        } catch {
            #expect("\(error)".contains("/nonexistent/libnoblas.so"))
        }
    }

    #if os(Linux)
    @Test("a library without CBLAS is refused by name of the missing function")
    func notABLAS() {
        #expect(throws: PlatformBLAS.LoadError.missingSymbol(library: "libm.so.6", symbol: "cblas_sgemm")) {
            try PlatformBLAS(loading: .path("libm.so.6"))
        }
    }
    #endif

    @Test("names map to libraries")
    func libraryNames() {
        #expect(PlatformBLAS.Library(name: "OpenBLAS") == .openBLAS)
        #expect(PlatformBLAS.Library(name: "accelerate") == .accelerate)
        #expect(PlatformBLAS.Library(name: "/x/libblas.so") == .path("/x/libblas.so"))
    }

    @Test("CBLAS describes row-major and transposed operands, not strided ones", arguments: TestMatrixLayout.allCases)
    func operandLayouts(layout: TestMatrixLayout) {
        let (rowStride, columnStride, _) = layout.strides(rows: 5, columns: 7)
        let operand = CBLASOperand(rows: 5, columns: 7, rowStride: rowStride, columnStride: columnStride)
        switch layout {
        case .rowMajor, .paddedRows:
            #expect(operand?.transposition == CBLASOperand.noTranspose && operand?.leadingDimension == Int32(rowStride))
        case .transposed:
            #expect(operand?.transposition == CBLASOperand.transpose && operand?.leadingDimension == 5)
        case .strided:
            #expect(operand == nil)
        }
    }

    @Test("OpenBLAS products match the reference in every layout", .enabled(if: installedOpenBLAS != nil),
          arguments: TestMatrixLayout.allCases)
    func openBLASLayouts(aLayout: TestMatrixLayout) throws {
        let blas = try #require(installedOpenBLAS)
        for bLayout in TestMatrixLayout.allCases {
            // 40³ is above PlatformBLAS.minimumWork (the library runs it); 8³ is below (Ember does).
            for (m, n, k) in [(40, 40, 40), (37, 53, 71), (64, 1, 64), (8, 8, 8)] {
                checkGEMM(Float32GEMMKernels.self, m: m, n: n, k: k, alpha: 1.5, beta: -0.5, a: aLayout, b: bLayout, path: .blas(blas))
                checkGEMM(Float64GEMMKernels.self, m: m, n: n, k: k, alpha: 1.5, beta: -0.5, a: aLayout, b: bLayout, path: .blas(blas))
            }
        }
    }

    @Test("OpenBLAS with beta 0 ignores NaN in C, and alpha 0 scales C", .enabled(if: installedOpenBLAS != nil))
    func openBLASBetaZero() throws {
        let blas = try #require(installedOpenBLAS)
        checkGEMM(Float32GEMMKernels.self, m: 50, n: 60, k: 70, path: .blas(blas), nanC: true)
        checkGEMM(Float64GEMMKernels.self, m: 50, n: 60, k: 70, path: .blas(blas), nanC: true)
        checkGEMM(Float32GEMMKernels.self, m: 50, n: 60, k: 70, alpha: 0, beta: 2, path: .blas(blas))
    }
}

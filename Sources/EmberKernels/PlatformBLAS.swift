#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A platform BLAS library, loaded at run time, whose `cblas_sgemm` / `cblas_dgemm` can replace
/// Ember's own GEMM kernels for large products.
///
/// Optional by design: Ember builds and runs with no BLAS installed, and nothing links one. A
/// library is opened with `dlopen` only when asked for, through `Ember.useBLAS(_:)` or the
/// `EMBER_BLAS` environment variable (`accelerate`, `openblas`, or a path to a shared library
/// with the CBLAS interface). The same code loads Accelerate on macOS and OpenBLAS on Linux.
///
///     let openBLAS = try PlatformBLAS(loading: .openBLAS)
///     PlatformBLAS.active = openBLAS      // GEMM.multiply now calls cblas_sgemm for large products
///
/// Measured on the 2-core AVX2 machine this was written on, Debian's OpenBLAS 0.3.21 (Zen
/// kernel) was no faster than Ember's kernels (docs/Benchmarks.md), so it stays off by default;
/// it pays where a vendor library beats them, such as Accelerate on Apple silicon.
/// Caveat from OpenBLAS itself: a release that does not recognise the CPU silently falls back to
/// SSE kernels several times slower; `coreName` says which kernel it picked, and
/// `OPENBLAS_CORETYPE` (for example `Haswell` or `SkylakeX`) overrides it.
public final class PlatformBLAS: @unchecked Sendable {
    /// Which library to open.
    public enum Library: Sendable, Hashable, CustomStringConvertible {
        /// Apple's Accelerate framework (macOS).
        case accelerate
        /// OpenBLAS, by its usual shared-library names.
        case openBLAS
        /// Any shared library exporting `cblas_sgemm` and `cblas_dgemm` with 32-bit integers.
        case path(String)

        /// The names `dlopen` tries, in order.
        var candidates: [String] {
            switch self {
            case .accelerate:
                return ["/System/Library/Frameworks/Accelerate.framework/Accelerate"]
            case .openBLAS:
                return ["libopenblas.so.0", "libopenblas.so", "libopenblas.dylib",
                        "/opt/homebrew/opt/openblas/lib/libopenblas.dylib", "/usr/local/opt/openblas/lib/libopenblas.dylib"]
            case .path(let path):
                return [path]
            }
        }

        /// `accelerate`, `openblas` (any case), or anything else as a path.
        public init(name: String) {
            switch name.lowercased() {
            case "accelerate": self = .accelerate
            case "openblas": self = .openBLAS
            default: self = .path(name)
            }
        }

        public var description: String {
            switch self {
            case .accelerate: return "Accelerate"
            case .openBLAS: return "OpenBLAS"
            case .path(let path): return path
            }
        }
    }

    /// Why a library could not be used.
    public enum LoadError: Error, Equatable, CustomStringConvertible {
        /// No candidate name could be opened; `reason` is the last `dlerror()`.
        case libraryNotFound(library: String, reason: String)
        /// The library opened but lacks a CBLAS function.
        case missingSymbol(library: String, symbol: String)

        public var description: String {
            switch self {
            case .libraryNotFound(let library, let reason):
                return "BLAS: cannot open \(library): \(reason)"
            case .missingSymbol(let library, let symbol):
                return "BLAS: \(library) has no \(symbol); it is not a CBLAS library"
            }
        }
    }

    typealias SGEMM = @convention(c) (
        Int32, Int32, Int32, Int32, Int32, Int32, Float, UnsafePointer<Float>?, Int32, UnsafePointer<Float>?, Int32,
        Float, UnsafeMutablePointer<Float>?, Int32) -> Void
    typealias DGEMM = @convention(c) (
        Int32, Int32, Int32, Int32, Int32, Int32, Double, UnsafePointer<Double>?, Int32, UnsafePointer<Double>?, Int32,
        Double, UnsafeMutablePointer<Double>?, Int32) -> Void

    /// The library asked for.
    public let library: Library
    /// The file that was opened.
    public let path: String
    /// OpenBLAS's name for the kernel it chose for this CPU (`Haswell`, `Zen`, `SkylakeX`,
    /// `Prescott`...); nil for other libraries.
    public let coreName: String?

    let sgemm: SGEMM
    let dgemm: DGEMM
    private let setThreads: (@convention(c) (Int32) -> Void)?

    /// Opens `library` and resolves its GEMM functions.
    ///
    ///     let blas = try PlatformBLAS(loading: .path("/usr/lib/x86_64-linux-gnu/libopenblas.so.0"))
    public init(loading library: Library) throws {
        var handle: UnsafeMutableRawPointer?
        var opened = ""
        var reason = "no candidate"
        for candidate in library.candidates {
            if let h = dlopen(candidate, RTLD_NOW | RTLD_LOCAL) {
                handle = h
                opened = candidate
                break
            }
            reason = dlerror().map { String(cString: $0) } ?? "unknown error"
        }
        guard let handle else { throw LoadError.libraryNotFound(library: library.description, reason: reason) }
        // The handle is never closed: a BLAS library may have started threads of its own.
        func symbol(_ name: String) -> UnsafeMutableRawPointer? { dlsym(handle, name) }
        guard let s = symbol("cblas_sgemm") else {
            throw LoadError.missingSymbol(library: opened, symbol: "cblas_sgemm")
        }
        guard let d = symbol("cblas_dgemm") else {
            throw LoadError.missingSymbol(library: opened, symbol: "cblas_dgemm")
        }
        self.library = library
        self.path = opened
        self.sgemm = unsafeBitCast(s, to: SGEMM.self)
        self.dgemm = unsafeBitCast(d, to: DGEMM.self)
        self.setThreads = symbol("openblas_set_num_threads").map {
            unsafeBitCast($0, to: (@convention(c) (Int32) -> Void).self)
        }
        if let name = symbol("openblas_get_corename") {
            let get = unsafeBitCast(name, to: (@convention(c) () -> UnsafePointer<CChar>?).self)
            self.coreName = get().map { String(cString: $0) }
        } else {
            self.coreName = nil
        }
    }

    /// The library `GEMM.multiply` sends large products to; nil (the default) keeps Ember's own
    /// kernels. Starts as the library named by `EMBER_BLAS`, if that is set and loads. Set it
    /// before multiplying from several threads: it is read without a lock on every product.
    nonisolated(unsafe) public static var active: PlatformBLAS? = fromEnvironment() {
        didSet { active?.setThreadCount(ParallelLoop.threadCount) }
    }

    /// Products of fewer multiply-adds stay on Ember's kernels: a library call's fixed cost
    /// (argument checks, its own thread hand-off) is larger than the work below this.
    public static let minimumWork = 32 * 32 * 32

    /// Tells the library how many threads to use, where it has a way to be told (OpenBLAS does;
    /// Accelerate manages its own).
    public func setThreadCount(_ count: Int) {
        setThreads?(Int32(clamping: count))
    }

    /// The library named by `EMBER_BLAS`, or nil. A name that does not load is reported once on
    /// standard error, and Ember's kernels are used.
    static func fromEnvironment() -> PlatformBLAS? {
        guard let value = getenv("EMBER_BLAS").map({ String(cString: $0) }), !value.isEmpty else { return nil }
        do {
            let blas = try PlatformBLAS(loading: Library(name: value))
            blas.setThreadCount(ParallelLoop.threadCount)
            return blas
        } catch {
            let message = "Ember: EMBER_BLAS=\(value) ignored: \(error)\n"
            _ = message.withCString { write(2, $0, strlen($0)) }
            return nil
        }
    }
}

/// How one operand of a row-major GEMM is handed to CBLAS: as stored or transposed, and its
/// leading dimension. nil when its strides fit neither (a strided view such as `x[:, ::2]`).
struct CBLASOperand {
    static let noTranspose: Int32 = 111   // CblasNoTrans
    static let transpose: Int32 = 112     // CblasTrans
    static let rowMajor: Int32 = 101      // CblasRowMajor

    let transposition: Int32
    let leadingDimension: Int32

    /// An operand of `rows x columns` with the given strides.
    init?(rows: Int, columns: Int, rowStride: Int, columnStride: Int) {
        let limit = Int(Int32.max)
        if columnStride == 1 && rowStride >= max(1, columns) && rowStride <= limit {
            transposition = Self.noTranspose
            leadingDimension = Int32(rowStride)
        } else if rowStride == 1 && columnStride >= max(1, rows) && columnStride <= limit {
            transposition = Self.transpose
            leadingDimension = Int32(columnStride)
        } else {
            return nil
        }
    }
}

/// The integer arguments of one CBLAS row-major GEMM call.
struct CBLASCall {
    let transposeA: Int32, transposeB: Int32
    let m: Int32, n: Int32, k: Int32
    let lda: Int32, ldb: Int32, ldc: Int32
}

extension GEMMProblem {
    /// This product as a CBLAS call, or nil if CBLAS cannot express it (a size beyond Int32, or
    /// an operand that is neither as stored nor transposed).
    var cblasCall: CBLASCall? {
        let limit = Int(Int32.max)
        guard m <= limit, n <= limit, k <= limit, cRowStride >= n, cRowStride <= limit,
              let left = CBLASOperand(rows: m, columns: k, rowStride: aRowStride, columnStride: aColumnStride),
              let right = CBLASOperand(rows: k, columns: n, rowStride: bRowStride, columnStride: bColumnStride)
        else { return nil }
        return CBLASCall(transposeA: left.transposition, transposeB: right.transposition,
                         m: Int32(m), n: Int32(n), k: Int32(k), lda: left.leadingDimension,
                         ldb: right.leadingDimension, ldc: Int32(max(1, cRowStride)))
    }
}

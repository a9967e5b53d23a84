import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Bytes that tensors may view without copying: a memory-mapped file or an aligned heap copy.
///
/// Tensors loaded from it hold a `TensorStorage` whose deallocator captures this object, so the
/// mapping lives exactly as long as the last view of any tensor in the file (zero-copy loading).
/// The mapping is private and writable: in-place ops on a loaded tensor change the process's
/// copy-on-write pages, never the file. (If another process truncates the file while it is
/// mapped, touching the lost pages raises SIGBUS, as with every mmap-based loader.)
final class FileBytes: @unchecked Sendable {
    // Immutable after init; the memory is only read through `bytes` by the parsers, and
    // written only through tensor storages, under Tensor's usual caller-synchronised rules.
    let base: UnsafeMutableRawPointer?
    let count: Int
    private let isMapped: Bool

    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }

    private init(base: UnsafeMutableRawPointer?, count: Int, isMapped: Bool) {
        self.base = base
        self.count = count
        self.isMapped = isMapped
    }

    /// A 64-byte aligned copy of `data`.
    convenience init<C: Collection>(copying data: C) where C.Element == UInt8 {
        let count = data.count
        let base = count == 0 ? nil : UnsafeMutableRawPointer.allocate(byteCount: count, alignment: 64)
        if let base { UnsafeMutableRawBufferPointer(start: base, count: count).copyBytes(from: data) }
        self.init(base: base, count: count, isMapped: false)
    }

    /// Maps the file at `url` read-only-from-disk (private, copy-on-write).
    static func map(_ url: URL) throws -> FileBytes {
        let path = url.path
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw SerializationError.io(path: path, message: String(cString: strerror(errno))) }
        defer { close(descriptor) }
        var info = stat()
        guard fstat(descriptor, &info) == 0 else { throw SerializationError.io(path: path, message: String(cString: strerror(errno))) }
        guard (info.st_mode & S_IFMT) == S_IFREG else { throw SerializationError.io(path: path, message: "not a regular file") }
        let size = Int(info.st_size)
        if size == 0 { return FileBytes(base: nil, count: 0, isMapped: false) }
        let address = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, descriptor, 0)
        guard let address, address != MAP_FAILED else {
            throw SerializationError.io(path: path, message: "mmap failed: \(String(cString: strerror(errno)))")
        }
        return FileBytes(base: address, count: size, isMapped: true)
    }

    deinit {
        guard let base else { return }
        if isMapped { munmap(base, count) } else { base.deallocate() }
    }

    /// A storage over `byteCount` bytes at `offset` (already bounds-checked by the caller).
    /// Zero-copy when the start is aligned for `alignment`; otherwise an aligned copy, since the
    /// kernels read elements through typed pointers.
    func storage(offset: Int, byteCount: Int, alignment: Int) -> TensorStorage {
        precondition(offset >= 0 && byteCount >= 0 && offset <= count - byteCount, "FileBytes.storage: unchecked range")
        if let base, byteCount > 0, Int(bitPattern: base + offset) % alignment == 0 {
            return TensorStorage(borrowing: base + offset, byteCount: byteCount) { _ in withExtendedLifetime(self) {} }
        }
        let storage = TensorStorage(byteCount: byteCount)
        if let base, byteCount > 0 { storage.pointer.copyMemory(from: base + offset, byteCount: byteCount) }
        return storage
    }
}

/// Reverses the bytes of each `width`-byte element in place (big-endian files).
func swapBytes(_ pointer: UnsafeMutableRawPointer, count: Int, width: Int) {
    guard width > 1 else { return }
    let bytes = pointer.assumingMemoryBound(to: UInt8.self)
    for element in 0..<count {
        var low = element * width, high = low + width - 1
        while low < high { bytes.swapAt(low, high); low += 1; high -= 1 }
    }
}

private extension UnsafeMutablePointer where Pointee == UInt8 {
    func swapAt(_ i: Int, _ j: Int) { let t = self[i]; self[i] = self[j]; self[j] = t }
}

/// Writes a file so that a crash or error part-way leaves the previous file untouched: the
/// bytes go to a temporary file in the same folder, are flushed to disk (`fsync`), and the
/// temporary file is renamed over the target (atomic on POSIX file systems), then the folder
/// is synced so the rename itself survives a power cut.
struct AtomicFileWriter {
    /// Test hooks: throw, or exit the process, once this many bytes have been written.
    nonisolated(unsafe) static var failAfterBytesForTesting: Int?
    nonisolated(unsafe) static var exitAfterBytesForTesting: Int?

    private let descriptor: Int32
    private let temporaryPath: String
    private var buffer: [UInt8] = []
    private(set) var bytesWritten = 0

    private init(descriptor: Int32, temporaryPath: String) {
        self.descriptor = descriptor
        self.temporaryPath = temporaryPath
        buffer.reserveCapacity(1 << 20)
    }

    /// Runs `body` to produce the file's bytes, then commits them atomically to `url`.
    static func write(to url: URL, _ body: (inout AtomicFileWriter) throws -> Void) throws {
        let target = url.path
        let folder = url.deletingLastPathComponent().path
        let temporary = folder + "/." + url.lastPathComponent + ".tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw SerializationError.io(path: temporary, message: String(cString: strerror(errno))) }
        var writer = AtomicFileWriter(descriptor: descriptor, temporaryPath: temporary)
        do {
            try body(&writer)
            try writer.flush()
            guard fsync(descriptor) == 0 else { throw SerializationError.io(path: temporary, message: "fsync: \(String(cString: strerror(errno)))") }
            close(descriptor)
        } catch {
            close(descriptor)
            unlink(temporary)
            throw error
        }
        guard rename(temporary, target) == 0 else {
            let message = String(cString: strerror(errno))
            unlink(temporary)
            throw SerializationError.io(path: target, message: "rename: \(message)")
        }
        let folderDescriptor = open(folder.isEmpty ? "." : folder, O_RDONLY | O_CLOEXEC)
        if folderDescriptor >= 0 { _ = fsync(folderDescriptor); close(folderDescriptor) }
    }

    mutating func write(_ bytes: UnsafeRawBufferPointer) throws {
        var start = 0
        while start < bytes.count {
            let chunk = min(bytes.count - start, (1 << 20) - buffer.count)
            try checkTestHooks(adding: chunk)
            buffer.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[start..<(start + chunk)]))
            bytesWritten += chunk
            start += chunk
            if buffer.count >= 1 << 20 { try flush() }
        }
    }

    mutating func write(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try write($0) }
    }

    private func checkTestHooks(adding count: Int) throws {
        if let limit = AtomicFileWriter.exitAfterBytesForTesting, bytesWritten + count > limit {
            _ = buffer.withUnsafeBytes { posixWrite(descriptor, $0.baseAddress, $0.count) }
            exit(3) // simulated crash: the partial temporary file stays behind
        }
        if let limit = AtomicFileWriter.failAfterBytesForTesting, bytesWritten + count > limit {
            throw SerializationError.io(path: temporaryPath, message: "simulated write failure after \(limit) bytes")
        }
    }

    private mutating func flush() throws {
        var offset = 0
        while offset < buffer.count {
            let written = buffer.withUnsafeBytes { posixWrite(descriptor, $0.baseAddress! + offset, $0.count - offset) }
            if written < 0 {
                if errno == EINTR { continue }
                throw SerializationError.io(path: temporaryPath, message: String(cString: strerror(errno)))
            }
            offset += written
        }
        buffer.removeAll(keepingCapacity: true)
    }
}

@inline(__always)
private func posixWrite(_ descriptor: Int32, _ pointer: UnsafeRawPointer?, _ count: Int) -> Int {
    #if canImport(Glibc)
    return Glibc.write(descriptor, pointer, count)
    #else
    return Darwin.write(descriptor, pointer, count)
    #endif
}

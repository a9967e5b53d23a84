import Foundation

/// Reads PyTorch checkpoints written by `torch.save` (the zip format of PyTorch 1.6 and later)
/// without running Python and without executing anything from the file.
///
///     let root = try TorchCheckpoint.load(from: URL(fileURLWithPath: "resnet18.pth"))
///     try model.loadStateDict(root.stateDict!)                       // a bare state_dict
///     let state = root["model"]?.stateDict; let epoch = root["epoch"]?.int  // a training checkpoint
///
/// The archive holds `<name>/data.pkl` (the object graph, as a pickle), one `<name>/data/<key>`
/// member per storage and `<name>/byteorder`. The pickle is interpreted by `PickleMachine`,
/// which only accepts allow-listed globals. Storages are read once and shared, so tensors
/// that were views of one storage in PyTorch (tied weights, slices) are views of one storage
/// here too. With `mapped` (the default) stored members are views of the memory-mapped file.
public enum TorchCheckpoint {
    static let format = "pytorch"

    /// Loads the object that `torch.save` saved.
    public static func load(from url: URL, mapped: Bool = true) throws -> PickleValue {
        try decode(mapped ? try FileBytes.map(url) : FileBytes(copying: try readFile(url)))
    }

    /// Parses checkpoint bytes held in memory.
    public static func decode<C: Collection>(_ data: C) throws -> PickleValue where C.Element == UInt8 {
        try decode(FileBytes(copying: data))
    }

    private final class StorageCache {
        var storages: [String: (storage: TensorStorage, byteCount: Int)] = [:]
    }

    static func decode(_ file: FileBytes) throws -> PickleValue {
        let bytes = file.bytes
        if bytes.count >= 2, bytes[0] == 0x80, bytes[1] == 0x02 {
            throw SerializationError.malformed(format: format, message: "this is PyTorch's legacy (pre-1.6, non-zip) format, which Ember does not read; re-save it with torch.save in PyTorch 1.6 or later")
        }
        let archive = try ZipArchive(file, format: format)
        guard let pickleEntry = archive.entries.first(where: { $0.name == "data.pkl" || $0.name.hasSuffix("/data.pkl") && !$0.name.dropLast(9).contains("/") }) else {
            throw SerializationError.malformed(format: format, message: "no data.pkl in the archive (not a torch.save file)")
        }
        let prefix = String(pickleEntry.name.dropLast("data.pkl".count))
        var bigEndian = false
        if let order = archive.entry(named: prefix + "byteorder") {
            let (orderFile, offset, count) = try archive.contents(of: order)
            let text = String(decoding: UnsafeRawBufferPointer(rebasing: orderFile.bytes[offset..<(offset + count)]), as: UTF8.self)
            switch text.trimmingCharacters(in: .whitespacesAndNewlines) {
            case "little": bigEndian = false
            case "big": bigEndian = true
            default: throw SerializationError.malformed(format: format, message: "byteorder is '\(text.prefix(16))'")
            }
        }
        let (pickleFile, pickleOffset, pickleCount) = try archive.contents(of: pickleEntry)
        let cache = StorageCache()
        let pickleBytes = UnsafeRawBufferPointer(rebasing: pickleFile.bytes[pickleOffset..<(pickleOffset + pickleCount)])
        return try PickleMachine.evaluate(pickleBytes) { pid in
            try resolveStorage(pid, archive: archive, prefix: prefix, bigEndian: bigEndian, cache: cache)
        }
    }

    /// Resolves `('storage', StorageType, key, location, numel)` to the bytes of `data/<key>`.
    private static func resolveStorage(_ pid: PickleObject, archive: ZipArchive, prefix: String, bigEndian: Bool,
                                       cache: StorageCache) throws -> PickleObject {
        guard case let .tuple(tuple) = pid, case let items = tuple.items, items.count == 5, case .string("storage") = items[0],
              case let .global(typeName) = items[1], case let .string(key) = items[2], case let .int(numel) = items[4] else {
            throw SerializationError.malformed(format: format, message: "unexpected persistent id (expected ('storage', type, key, location, numel))")
        }
        guard let dtype = PickleMachine.storageTypes[typeName] else {
            throw SerializationError.unsupportedDType(format: format, dtype: typeName)
        }
        guard numel >= 0, let needed = CheckedSize.multiply(numel, dtype.byteSize) else {
            throw SerializationError.outOfBounds(format: format, context: "storage '\(key)' has \(numel) elements")
        }
        let entry: (storage: TensorStorage, byteCount: Int)
        if let cached = cache.storages[key] {
            entry = cached
        } else {
            guard let member = archive.entry(named: prefix + "data/" + key) else {
                throw SerializationError.malformed(format: format, message: "storage '\(key)' is missing from the archive")
            }
            let (file, offset, count) = try archive.contents(of: member)
            let storage: TensorStorage
            if bigEndian {
                storage = TensorStorage(byteCount: count)
                if count > 0 { storage.pointer.copyMemory(from: file.bytes.baseAddress! + offset, byteCount: count) }
                swapBytes(storage.pointer, count: count / dtype.byteSize, width: dtype.byteSize)
            } else {
                // Alignment 8 suits every dtype, so two tensors of different dtypes may share it.
                storage = file.storage(offset: offset, byteCount: count, alignment: 8)
            }
            entry = (storage, count)
            cache.storages[key] = entry
        }
        guard needed <= entry.byteCount else {
            throw SerializationError.sizeMismatch(format: format, name: "data/\(key)", expectedBytes: needed, actualBytes: entry.byteCount)
        }
        if dtype == .bool { try NumPy.checkBooleans(entry.storage, count: needed, name: "data/\(key)") }
        return .storage(PickledStorage(storage: entry.storage, byteCount: needed, dtype: dtype))
    }
}

import Ember
import Foundation

// TensorProto -> Tensor, for initializers, Constant nodes and test data. Every size is checked
// against the bytes actually present before anything is allocated, so a hostile file cannot
// ask for more memory than it holds.

enum ONNXTensorReader {
    /// The most elements one tensor may have (2^31: 8 GB of float32, beyond any real model).
    static let elementLimit = 1 << 31

    /// `proto` as a tensor. External data is read from `folder`, never outside it.
    static func tensor(_ proto: Onnx_TensorProto, folder: URL?) throws -> Tensor {
        guard proto.dims.allSatisfy({ $0 >= 0 && $0 < Int64(elementLimit) }) else {
            throw ONNXImportError.malformed("tensor '\(proto.name)' has dims \(proto.dims)")
        }
        let shape = proto.dims.map(Int.init)
        guard let count = CheckedSize.product(shape), count <= elementLimit else {
            throw ONNXImportError.malformed("tensor '\(proto.name)' is too large: \(shape)")
        }
        guard let type = Onnx_TensorProto.DataType(rawValue: Int(proto.dataType)) else {
            throw ONNXImportError.malformed("tensor '\(proto.name)' has unknown data type \(proto.dataType)")
        }
        var raw = proto.rawData
        if proto.dataLocation == .external { raw = try externalBytes(proto, folder: folder) }
        let hasRaw = proto.hasRawData || proto.dataLocation == .external
        func fromRaw<T: TensorElement>(_: T.Type) throws -> Tensor {
            guard raw.count == count * MemoryLayout<T>.size else {
                throw ONNXImportError.malformed("tensor '\(proto.name)' of shape \(shape) has \(raw.count) bytes of data")
            }
            let values = raw.withUnsafeBytes { Array($0.bindMemory(to: T.self)) }
            return Tensor(shape: shape, scalars: values)
        }
        func fromFields<T: TensorElement, F>(_ field: [F], _ convert: (F) -> T) throws -> Tensor {
            guard field.count == count else {
                throw ONNXImportError.malformed("tensor '\(proto.name)' of shape \(shape) has \(field.count) values")
            }
            return Tensor(shape: shape, scalars: field.map(convert))
        }
        switch type {
        case .float: return hasRaw ? try fromRaw(Float.self) : try fromFields(proto.floatData) { $0 }
        case .double: return hasRaw ? try fromRaw(Double.self) : try fromFields(proto.doubleData) { $0 }
        case .int64: return hasRaw ? try fromRaw(Int64.self) : try fromFields(proto.int64Data) { $0 }
        case .int32: return hasRaw ? try fromRaw(Int32.self) : try fromFields(proto.int32Data) { $0 }
        case .uint8: return hasRaw ? try fromRaw(UInt8.self) : try fromFields(proto.int32Data) { UInt8(truncatingIfNeeded: $0) }
        case .bool:
            let bytes = hasRaw ? try fromRaw(UInt8.self) : try fromFields(proto.int32Data) { UInt8(truncatingIfNeeded: $0) }
            return withNoGrad { bytes .!= Tensor(UInt8(0)) }
        case .int8, .int16, .uint16:
            // Ember has no 8/16-bit integers: they widen to int32, exactly.
            if hasRaw {
                let size = type == .int8 ? 1 : 2
                guard raw.count == count * size else { throw ONNXImportError.malformed("tensor '\(proto.name)' has \(raw.count) bytes of data") }
                let values: [Int32] = raw.withUnsafeBytes { bytes in
                    switch type {
                    case .int8: return bytes.bindMemory(to: Int8.self).map(Int32.init)
                    case .int16: return bytes.bindMemory(to: Int16.self).map(Int32.init)
                    default: return bytes.bindMemory(to: UInt16.self).map(Int32.init)
                    }
                }
                return Tensor(shape: shape, scalars: values)
            }
            return try fromFields(proto.int32Data) { $0 }
        case .uint32, .uint64:
            let values: [UInt64]
            if hasRaw {
                let size = type == .uint32 ? 4 : 8
                guard raw.count == count * size else { throw ONNXImportError.malformed("tensor '\(proto.name)' has \(raw.count) bytes of data") }
                values = raw.withUnsafeBytes { type == .uint32 ? $0.bindMemory(to: UInt32.self).map(UInt64.init) : Array($0.bindMemory(to: UInt64.self)) }
            } else {
                guard proto.uint64Data.count == count else { throw ONNXImportError.malformed("tensor '\(proto.name)' has \(proto.uint64Data.count) values") }
                values = proto.uint64Data
            }
            guard values.allSatisfy({ $0 <= UInt64(Int64.max) }) else { throw ONNXImportError.malformed("tensor '\(proto.name)': uint64 values beyond int64") }
            return Tensor(shape: shape, scalars: values.map { Int64($0) })
        case .float16, .bfloat16:
            let bits: [UInt16]
            if hasRaw {
                guard raw.count == count * 2 else { throw ONNXImportError.malformed("tensor '\(proto.name)' has \(raw.count) bytes of data") }
                bits = raw.withUnsafeBytes { Array($0.bindMemory(to: UInt16.self)) }
            } else {
                guard proto.int32Data.count == count else { throw ONNXImportError.malformed("tensor '\(proto.name)' has \(proto.int32Data.count) values") }
                bits = proto.int32Data.map { UInt16(truncatingIfNeeded: $0) }
            }
            let floats = bits.map { type == .bfloat16 ? Float(bitPattern: UInt32($0) << 16) : halfToFloat($0) }
            return withNoGrad { Tensor(shape: shape, scalars: floats).to(type == .bfloat16 ? .bfloat16 : .float16) }
        default:
            throw ONNXImportError.malformed("tensor '\(proto.name)': data type \(type) is not supported")
        }
    }

    /// IEEE half-precision bits as a Float (exact).
    static func halfToFloat(_ h: UInt16) -> Float {
        let sign: Float = h & 0x8000 != 0 ? -1 : 1
        let exponent = Int((h >> 10) & 0x1f), mantissa = Float(h & 0x3ff)
        switch exponent {
        case 0: return sign * mantissa * 0x1p-24
        case 31: return mantissa == 0 ? sign * .infinity : .nan
        default: return sign * (1 + mantissa / 1024) * Float(sign: .plus, exponent: exponent - 15, significand: 1)
        }
    }

    /// The bytes of an external-data tensor: `location` must be a relative path inside
    /// `folder` (no `..`, not absolute), and `offset`/`length` inside the file.
    static func externalBytes(_ proto: Onnx_TensorProto, folder: URL?) throws -> Data {
        var entries: [String: String] = [:]
        for entry in proto.externalData { entries[entry.key] = entry.value }
        guard let folder else { throw ONNXImportError.externalData("tensor '\(proto.name)' has external data but the model was not read from a file") }
        guard let location = entries["location"], !location.isEmpty, !location.hasPrefix("/"), !location.hasPrefix("\\"),
              !location.split(whereSeparator: { $0 == "/" || $0 == "\\" }).contains("..") else {
            throw ONNXImportError.externalData("tensor '\(proto.name)': location '\(entries["location"] ?? "")' is not a relative path inside the model's folder")
        }
        let url = folder.appendingPathComponent(location).standardizedFileURL
        let root = folder.standardizedFileURL.path
        guard url.path.hasPrefix(root.hasSuffix("/") ? root : root + "/") else {
            throw ONNXImportError.externalData("tensor '\(proto.name)': '\(location)' leaves the model's folder")
        }
        let offset = Int(entries["offset"] ?? "0") ?? -1
        guard offset >= 0 else { throw ONNXImportError.externalData("tensor '\(proto.name)': bad offset") }
        guard let handle = try? FileHandle(forReadingFrom: url) else {
            throw ONNXImportError.externalData("tensor '\(proto.name)': cannot open '\(location)'")
        }
        defer { try? handle.close() }
        let size = Int((try? handle.seekToEnd()) ?? 0)
        let length = Int(entries["length"] ?? "\(size - offset)") ?? -1
        guard length >= 0, offset <= size, length <= size - offset else {
            throw ONNXImportError.externalData("tensor '\(proto.name)': bytes \(offset)..<\(offset + length) are outside '\(location)' (\(size) bytes)")
        }
        try handle.seek(toOffset: UInt64(offset))
        return try handle.read(upToCount: length) ?? Data()
    }
}

/// Reads a tensor saved as a serialized ONNX `TensorProto` (the `.pb` files of ONNX's test
/// data sets, `onnx.numpy_helper.from_array(x).SerializeToString()`).
///
///     let x = try readONNXTensor(from: URL(fileURLWithPath: "test_data_set_0/input_0.pb"))
public func readONNXTensor(from url: URL) throws -> Tensor {
    guard let data = try? Data(contentsOf: url) else { throw ONNXImportError.malformed("cannot read \(url.path)") }
    let proto: Onnx_TensorProto
    do { proto = try Onnx_TensorProto(serializedBytes: data) } catch { throw ONNXImportError.malformed("not an ONNX tensor (\(error))") }
    return try ONNXTensorReader.tensor(proto, folder: url.deletingLastPathComponent())
}

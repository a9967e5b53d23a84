/// Why a file could not be read or written. Readers of safetensors, NumPy, zip and PyTorch
/// files throw this for every malformed input instead of crashing: the bytes may come from
/// anyone, so every length and offset is checked against the data before it is used.
///
///     do { let state = try load(from: url) }
///     catch let error as SerializationError { print(error) }
///     // safetensors: header length 4294967296 is past the end of the file (120 bytes)
public enum SerializationError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The file could not be opened, read, written or renamed (`errno` text included).
    case io(path: String, message: String)
    /// The data ended before a structure was complete.
    case truncated(format: String, context: String)
    /// The first bytes are not this format's signature.
    case badMagic(format: String, found: String)
    /// A length, offset or count points outside the data or is implausibly large.
    case outOfBounds(format: String, context: String)
    /// The element count times the element size does not match the bytes given.
    case sizeMismatch(format: String, name: String, expectedBytes: Int, actualBytes: Int)
    /// A dtype this reader does not know or Ember cannot hold.
    case unsupportedDType(format: String, dtype: String)
    /// Structurally invalid content (bad JSON, bad header, bad pickle opcode…).
    case malformed(format: String, message: String)
    /// A pickle referred to a global that is not on the allow list; nothing was executed.
    case disallowedGlobal(String)
    /// The file extension does not name a format Ember reads or writes.
    case unsupportedFormat(String)

    public var description: String {
        switch self {
        case let .io(path, message): return "\(path): \(message)"
        case let .truncated(format, context): return "\(format): file is truncated (\(context))"
        case let .badMagic(format, found): return "\(format): not a \(format) file (starts with \(found))"
        case let .outOfBounds(format, context): return "\(format): \(context)"
        case let .sizeMismatch(format, name, expected, actual):
            return "\(format): tensor '\(name)' needs \(expected) bytes for its shape and dtype, but its data has \(actual)"
        case let .unsupportedDType(format, dtype): return "\(format): unsupported dtype '\(dtype)'"
        case let .malformed(format, message): return "\(format): \(message)"
        case let .disallowedGlobal(name):
            return "pickle: global '\(name)' is not allowed (only tensor-rebuilding globals are; nothing was executed)"
        case let .unsupportedFormat(message): return message
        }
    }
}

/// Overflow-checked arithmetic for sizes read from files (Ember's readers, the graph type
/// rules, EmberONNX): a hostile size gives nil, never a trap.
///
///     CheckedSize.product([1 << 40, 1 << 40])   // nil
public enum CheckedSize {
    /// The product of `values`, or nil when one is negative or the product overflows.
    public static func product(_ values: [Int]) -> Int? {
        var result = 1
        for value in values {
            guard value >= 0 else { return nil }
            let (next, overflow) = result.multipliedReportingOverflow(by: value)
            if overflow { return nil }
            result = next
        }
        return result
    }

    /// a · b, nil when either is negative or the product overflows.
    public static func multiply(_ a: Int, _ b: Int) -> Int? {
        let (result, overflow) = a.multipliedReportingOverflow(by: b)
        return overflow || a < 0 || b < 0 ? nil : result
    }

    /// a + b, nil on overflow.
    public static func add(_ a: Int, _ b: Int) -> Int? {
        let (result, overflow) = a.addingReportingOverflow(b)
        return overflow ? nil : result
    }
}

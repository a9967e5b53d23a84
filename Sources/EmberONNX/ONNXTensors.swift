import Ember
import Foundation

// Tensors, dtypes and attributes in ONNX's protobuf form.

extension DType {
    /// ONNX's `TensorProto.DataType` for this dtype.
    var onnxElementType: Onnx_TensorProto.DataType {
        switch self {
        case .float32: return .float
        case .float64: return .double
        case .float16: return .float16
        case .bfloat16: return .bfloat16
        case .int32: return .int32
        case .int64: return .int64
        case .uint8: return .uint8
        case .bool: return .bool
        }
    }
}

extension Onnx_TensorProto {
    /// `tensor`'s elements as raw little-endian data (ONNX's `raw_data`), in row-major order.
    init(_ tensor: Tensor, name: String) throws {
        self.init()
        self.name = name
        dims = tensor.shape.map(Int64.init)
        dataType = Int32(tensor.dtype.onnxElementType.rawValue)
        switch tensor.dtype {
        case .float32: rawData = Onnx_TensorProto.bytes(of: tensor.scalars(as: Float.self))
        case .float64: rawData = Onnx_TensorProto.bytes(of: tensor.scalars(as: Double.self))
        case .int32: rawData = Onnx_TensorProto.bytes(of: tensor.scalars(as: Int32.self))
        case .int64: rawData = Onnx_TensorProto.bytes(of: tensor.scalars(as: Int64.self))
        case .uint8: rawData = Onnx_TensorProto.bytes(of: tensor.scalars(as: UInt8.self))
        case .bool: rawData = Onnx_TensorProto.bytes(of: tensor.scalars(as: Bool.self).map { $0 ? UInt8(1) : 0 })
        case .bfloat16:
            // A bfloat16 value is a float32 with the low half zero: its top 16 bits, exactly.
            rawData = Onnx_TensorProto.bytes(of: tensor.scalars(as: Float.self).map { UInt16($0.bitPattern >> 16) })
        case .float16:
            throw ONNXExportError.unsupportedDType(.float16)
        }
    }

    /// An int64 tensor of `values` (shapes, axes, pads); 1-D unless `scalar`.
    init(int64s values: [Int], name: String, scalar: Bool = false) {
        self.init()
        self.name = name
        dims = scalar ? [] : [Int64(values.count)]
        dataType = Int32(Onnx_TensorProto.DataType.int64.rawValue)
        rawData = Onnx_TensorProto.bytes(of: values.map(Int64.init))
    }

    private static func bytes<T>(of values: [T]) -> Data {
        // ONNX's raw data is little-endian, as are the machines Ember runs on.
        values.withUnsafeBytes { Data($0) }
    }
}

/// One node attribute.
enum ONNXAttribute {
    case int(String, Int)
    case ints(String, [Int])
    case float(String, Double)
    case string(String, String)
    case tensor(String, Onnx_TensorProto)

    var name: String {
        switch self {
        case .int(let name, _), .ints(let name, _), .float(let name, _), .string(let name, _), .tensor(let name, _): return name
        }
    }

    var proto: Onnx_AttributeProto {
        var attribute = Onnx_AttributeProto()
        attribute.name = name
        switch self {
        case .int(_, let value): (attribute.type, attribute.i) = (.int, Int64(value))
        case .ints(_, let values): (attribute.type, attribute.ints) = (.ints, values.map(Int64.init))
        case .float(_, let value): (attribute.type, attribute.f) = (.float, Float(value))
        case .string(_, let value): (attribute.type, attribute.s) = (.string, Data(value.utf8))
        case .tensor(_, let value): (attribute.type, attribute.t) = (.tensor, value)
        }
        return attribute
    }
}

extension Onnx_ValueInfoProto {
    /// A tensor's name, element type and shape; the dimensions in `symbolic` are named `symbol`.
    init(name: String, dtype: DType, shape: [Int], symbolic: Set<Int> = [], symbol: String = "") {
        self.init()
        self.name = name
        var tensorType = Onnx_TypeProto.Tensor()
        tensorType.elemType = Int32(dtype.onnxElementType.rawValue)
        var tensorShape = Onnx_TensorShapeProto()
        tensorShape.dim = shape.enumerated().map { axis, size in
            var dimension = Onnx_TensorShapeProto.Dimension()
            if symbolic.contains(axis) { dimension.dimParam = symbol } else { dimension.dimValue = Int64(size) }
            return dimension
        }
        tensorType.shape = tensorShape
        var type = Onnx_TypeProto()
        type.tensorType = tensorType
        self.type = type
    }
}

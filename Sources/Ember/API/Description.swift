import Foundation

/// Printing that looks like PyTorch's: `tensor([[1.0000, 2.5000], …])`, aligned columns,
/// 4 decimals (scientific notation when the range calls for it), and `...` summaries for
/// tensors above 1000 elements.
extension Tensor: CustomStringConvertible, CustomDebugStringConvertible {
    public var description: String {
        let values = withoutGrad { self.scalars(as: Double.self) }
        let formatter = ElementFormatter(values: values, dtype: dtype, summarize: count > 1000)
        var body = ""
        if rank == 0 {
            body = formatter.format(values.first ?? 0)
        } else {
            body = TensorPrinter(shape: shape, values: values, formatter: formatter,
                                 summarize: count > 1000).render(indent: 7)
        }
        var suffix: [String] = []
        if count == 0 && rank > 1 { suffix.append("size=\(shape)") }
        if dtype != .float32 && dtype != .int64 && dtype != .bool { suffix.append("dtype=\(dtype)") }
        if count == 0 && dtype == .int64 { suffix.append("dtype=int64") }
        if let node = gradFunction {
            suffix.append("gradFn=\(node)")
        } else if requiresGrad {
            suffix.append("requiresGrad=true")
        }
        return "tensor(" + ([body] + suffix).joined(separator: ", ") + ")"
    }

    public var debugDescription: String { description }
}

/// Chooses one format for every element, as PyTorch's `_Formatter` does.
struct ElementFormatter {
    enum Mode { case integer, floatInteger, fixed, scientific, bool }
    let mode: Mode
    let width: Int

    init(values: [Double], dtype: DType, summarize: Bool) {
        if dtype == .bool {
            mode = .bool
            width = values.contains(false.emberDouble) ? 5 : 4
            return
        }
        if dtype.isIntegral {
            mode = .integer
            width = values.map { String(Int64($0)).count }.max() ?? 1
            return
        }
        let finite = values.filter { $0.isFinite }
        let magnitudes = finite.map { Swift.abs($0) }.filter { $0 != 0 }
        if finite.allSatisfy({ $0 == $0.rounded() }) {
            let maxMagnitude = magnitudes.max() ?? 0
            mode = maxMagnitude > 1e8 ? .scientific : .floatInteger
        } else {
            let maxMagnitude = magnitudes.max() ?? 0, minMagnitude = magnitudes.min() ?? 0
            mode = (maxMagnitude / Swift.max(minMagnitude, .leastNonzeroMagnitude) > 1000 || maxMagnitude > 1e8 || (minMagnitude < 1e-4 && minMagnitude > 0)) ? .scientific : .fixed
        }
        var longest = 1
        let probe = ElementFormatter(mode: mode, width: 0)
        for value in values { longest = Swift.max(longest, probe.format(value).count) }
        width = longest
    }

    private init(mode: Mode, width: Int) {
        self.mode = mode
        self.width = width
    }

    func format(_ value: Double) -> String {
        let text: String
        if value.isNaN {
            text = "nan"
        } else if value.isInfinite {
            text = value > 0 ? "inf" : "-inf"
        } else {
            switch mode {
            case .bool: text = value != 0 ? "True" : "False"
            case .integer: text = String(Int64(value))
            case .floatInteger: text = String(format: "%.0f.", value)
            case .fixed: text = String(format: "%.4f", value)
            case .scientific: text = String(format: "%.4e", value)
            }
        }
        return String(repeating: " ", count: Swift.max(0, width - text.count)) + text
    }
}

/// Lays out nested brackets, with `...` in place of the middle of long dimensions.
struct TensorPrinter {
    let shape: [Int]
    let values: [Double]
    let formatter: ElementFormatter
    let summarize: Bool
    private let edgeItems = 3

    init(shape: [Int], values: [Double], formatter: ElementFormatter, summarize: Bool) {
        self.shape = shape
        self.values = values
        self.formatter = formatter
        self.summarize = summarize
    }

    func render(indent: Int) -> String { render(dim: 0, offset: 0, indent: indent) }

    private func indices(for size: Int) -> [Int?] {
        if summarize && size > 2 * edgeItems {
            return Array(0..<edgeItems).map { Optional($0) } + [nil] + Array((size - edgeItems)..<size).map { Optional($0) }
        }
        return Array(0..<size).map { Optional($0) }
    }

    private func render(dim: Int, offset: Int, indent: Int) -> String {
        let stride = shape[(dim + 1)...].reduce(1, *)
        if dim == shape.count - 1 {
            let items = indices(for: shape[dim]).map { index in
                index.map { formatter.format(values[offset + $0]) } ?? "..."
            }
            return "[" + items.joined(separator: ", ") + "]"
        }
        let separator = "," + String(repeating: "\n", count: shape.count - dim - 1) + String(repeating: " ", count: indent + 1)
        let items = indices(for: shape[dim]).map { index in
            index.map { render(dim: dim + 1, offset: offset + $0 * stride, indent: indent + 1) } ?? "..."
        }
        return "[" + items.joined(separator: separator) + "]"
    }
}

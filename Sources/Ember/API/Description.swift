import Foundation

/// Printing that looks like PyTorch's (`torch/_tensor_str.py` with the default print options):
/// `tensor([[1.0000, 2.5000], …])`, one format for all elements (4 decimals, scientific
/// notation when the range calls for it), rows wrapped at 80 columns, and `...` summaries for
/// tensors above 1000 elements. Ember spells three things its own way: `dtype=float64` (not
/// `torch.float64`), `requiresGrad=true` and `gradFn=<mulBackward>`.
extension Tensor: CustomStringConvertible, CustomDebugStringConvertible {
    public var description: String {
        let values = withoutGrad { self.scalars(as: Double.self) }
        let prefix = "tensor("
        let indent = prefix.count
        var suffixes: [String] = []
        let body: String
        if count == 0 {
            // An empty tensor shows its shape unless it is 1-D, and its dtype unless it is the
            // default float: with no elements there is nothing else to tell int64 from float.
            if rank != 1 { suffixes.append("size=(" + shape.map(String.init).joined(separator: ", ") + ")") }
            if dtype != DType.defaultFloat { suffixes.append("dtype=\(dtype)") }
            body = "[]"
        } else {
            if ![DType.defaultFloat, .int64, .bool].contains(dtype) { suffixes.append("dtype=\(dtype)") }
            let printer = TensorPrinter(shape: shape, values: values, dtype: dtype)
            body = printer.render(indent: indent)
        }
        if let node = gradFunction {
            suffixes.append("gradFn=\(node)")
        } else if requiresGrad {
            suffixes.append("requiresGrad=true")
        }
        return Self.addSuffixes(prefix + body, suffixes, indent: indent)
    }

    public var debugDescription: String { description }

    /// Appends `, suffix` for each suffix, moving one to a new line when the current line
    /// would pass the line width (PyTorch's `_add_suffixes`), then the closing parenthesis.
    private static func addSuffixes(_ text: String, _ suffixes: [String], indent: Int) -> String {
        var result = text
        // PyTorch's count (`len - rfind("\n") + 1`) is the last line's length plus 2; kept as is
        // so that lines break where PyTorch breaks them.
        let lastLine = text.lastIndex(of: "\n").map { text[text.index(after: $0)...] } ?? text[...]
        var lastLineLength = lastLine.count + 2
        for suffix in suffixes {
            if lastLineLength + suffix.count + 2 > TensorPrinter.lineWidth {
                result += ",\n" + String(repeating: " ", count: indent) + suffix
                lastLineLength = indent + suffix.count
            } else {
                result += ", " + suffix
                lastLineLength += suffix.count + 2
            }
        }
        return result + ")"
    }
}

/// Chooses one format for every element, as PyTorch's `_Formatter` does: integer types print
/// as integers; floats print as `1.` when every finite value is an integer, else with 4
/// decimals, and in scientific notation when the nonzero finite magnitudes span more than a
/// factor of 1000, exceed 1e8, or (with fractions) go below 1e-4. The width comes from the
/// nonzero finite values only, so `nan`, `inf` and zeros never widen a column.
struct ElementFormatter {
    enum Mode { case integer, floatInteger, fixed, scientific, bool }
    let mode: Mode
    let width: Int

    init(values: [Double], dtype: DType) {
        if dtype == .bool {
            mode = .bool
            width = values.contains(0) ? 5 : 4
            return
        }
        if dtype.isIntegral {
            mode = .integer
            width = values.map { String(Int64($0)).count }.max() ?? 1
            return
        }
        let nonzeroFinite = values.filter { $0.isFinite && $0 != 0 }
        guard !nonzeroFinite.isEmpty else {
            mode = .floatInteger
            width = 1
            return
        }
        let magnitudes = nonzeroFinite.map { Swift.abs($0) }
        let maxMagnitude = magnitudes.max()!, minMagnitude = magnitudes.min()!
        let wideRange = maxMagnitude / minMagnitude > 1000 || maxMagnitude > 1e8
        if nonzeroFinite.allSatisfy({ $0 == $0.rounded(.up) }) {
            mode = wideRange ? .scientific : .floatInteger
        } else {
            mode = wideRange || minMagnitude < 1e-4 ? .scientific : .fixed
        }
        let probe = ElementFormatter(mode: mode, width: 0)
        // In integer mode PyTorch measures "%.0f" and adds 1 for the point; same thing.
        width = nonzeroFinite.map { probe.format($0).count }.max()!
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

/// Lays out nested brackets, with `...` in place of the middle of long dimensions when the
/// tensor has more than `threshold` elements (PyTorch's `_tensor_str_with_formatter`).
struct TensorPrinter {
    static let lineWidth = 80
    static let threshold = 1000
    static let edgeItems = 3

    let shape: [Int]
    let values: [Double]
    let summarize: Bool
    let formatter: ElementFormatter

    init(shape: [Int], values: [Double], dtype: DType) {
        self.shape = shape
        self.values = values
        self.summarize = values.count > Self.threshold
        // When summarising, only the elements that are shown choose the format.
        let shown = summarize ? Self.shownValues(shape: shape, values: values) : values
        self.formatter = ElementFormatter(values: shown, dtype: dtype)
    }

    /// Indices shown along a dimension of `size`; nil stands for the `...`.
    private static func indices(for size: Int, summarize: Bool) -> [Int?] {
        if summarize && size > 2 * edgeItems {
            return (0..<edgeItems).map { Optional($0) } + [nil] + ((size - edgeItems)..<size).map { Optional($0) }
        }
        return (0..<size).map { Optional($0) }
    }

    private static func shownValues(shape: [Int], values: [Double]) -> [Double] {
        var shown: [Double] = []
        func visit(dim: Int, offset: Int) {
            if dim == shape.count { shown.append(values[offset]); return }
            let stride = shape[(dim + 1)...].reduce(1, *)
            for case let index? in indices(for: shape[dim], summarize: true) { visit(dim: dim + 1, offset: offset + index * stride) }
        }
        visit(dim: 0, offset: 0)
        return shown
    }

    func render(indent: Int) -> String {
        shape.isEmpty ? formatter.format(values[0]) : render(dim: 0, offset: 0, indent: indent)
    }

    private func render(dim: Int, offset: Int, indent: Int) -> String {
        let elementStride = shape[(dim + 1)...].reduce(1, *)
        let indices = Self.indices(for: shape[dim], summarize: summarize)
        if dim == shape.count - 1 {
            // A row: as many elements per line as fit in the line width.
            let items = indices.map { index in index.map { formatter.format(values[offset + $0]) } ?? " ..." }
            let perLine = Swift.max(1, (Self.lineWidth - indent) / (formatter.width + 2))
            let lines = stride(from: 0, to: items.count, by: perLine).map {
                items[$0..<Swift.min($0 + perLine, items.count)].joined(separator: ", ")
            }
            return "[" + lines.joined(separator: ",\n" + String(repeating: " ", count: indent + 1)) + "]"
        }
        let separator = "," + String(repeating: "\n", count: shape.count - dim - 1) + String(repeating: " ", count: indent + 1)
        let items = indices.map { index in
            index.map { render(dim: dim + 1, offset: offset + $0 * elementStride, indent: indent + 1) } ?? "..."
        }
        return "[" + items.joined(separator: separator) + "]"
    }
}

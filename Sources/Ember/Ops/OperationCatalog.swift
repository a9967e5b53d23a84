/// The group an operation belongs to in `OperationCatalog`.
public enum OperationFamily: String, Sendable, CaseIterable {
    /// `UnaryOperation.all`: exp, tanh, relu, clamp, …
    case elementwiseUnary
    /// `BinaryOperation.all`: add, mul, pow, maximum, …
    case elementwiseBinary
    /// `.==`, `.<`, …: bool results.
    case comparison
    /// Logical and, or, xor, not, and the NaN and infinity tests: bool results.
    case logical
    /// `ReductionOperation.all`, plus the reductions that are compositions (variance, std) or
    /// return indices (max(dim:), argmax).
    case reduction
    /// Running totals along one dim: cumsum, cumprod.
    case scan
    /// softmax and logSoftmax.
    case softmax
    /// Views sharing the input's storage: reshape, permute, subscripts, …
    case view
    /// Joining and splitting: cat, stack, split, chunk, unbind.
    case joining
    /// Copies with the elements moved: flip, roll, repeat, tril, triu, pad.
    case rearranging
    /// Selecting and writing by index or mask, and `where`.
    case indexing
    /// sort, argsort, topk.
    case sorting
    /// Matrix products.
    case linearAlgebra
    /// dtype conversion and copies.
    case conversion
    /// `Functional.conv1d`, `conv2d`, `convTranspose2d`.
    case convolution
    /// `Functional`'s max, average and adaptive pooling.
    case pooling
    /// `Functional.interpolate`.
    case interpolation
}

/// One operation in `OperationCatalog`.
public struct OperationCatalogEntry: Sendable, Hashable, CustomStringConvertible {
    /// The op's name as Ember reports it: the method's name, or the name its graph node and
    /// error messages use where the method is spelled differently (`permuted` records
    /// "permute", `x[1..., 0]` records "slice", `x[mask]` reports "index").
    public let name: String
    public let family: OperationFamily
    /// Whether gradients flow through the op (it has a backward rule, or is written in ops
    /// that have one). Ops whose gradient is zero wherever it exists (floor, sign, argmax,
    /// comparisons) are not.
    public let isDifferentiable: Bool

    public var description: String { "\(name) (\(family.rawValue))" }

    /// An entry; `OperationCatalog.entries` is the list of them.
    ///
    ///     OperationCatalogEntry(name: "matmul", family: .linearAlgebra, isDifferentiable: true)
    public init(name: String, family: OperationFamily, isDifferentiable: Bool) {
        self.name = name
        self.family = family
        self.isDifferentiable = isDifferentiable
    }
}

/// Every public tensor operation, by name and family, in one list: the op tables
/// (`UnaryOperation.all`, `BinaryOperation.all`, `ReductionOperation.all`) by reference, and one
/// entry for each operation written as a method in `Ops/`. The tests iterate it to require a
/// reference fixture for every op and a gradcheck for every differentiable one
/// (`Tests/EmberTests/OperationCatalogTests.swift`); later, tracing and ONNX export read it.
///
/// What counts as an operation: everything implemented in `Sources/Ember/Ops/`. Not listed,
/// because they are other spellings of a listed op: operators (`+` is add, `.<` is lt, `&` is
/// logicalAnd), in-place forms (`+=`, `add_`, `clamp_`, subscript assignment), argument-label
/// variants (`sum(dim:)`, `max()` and `max(dim:)` are one entry each) and `Functional`'s
/// activation aliases. Not listed because they are built from listed ops: the layers, losses
/// and `Functional` compositions in `NN/` (linear, layerNorm, dropout, attention, …). Factories
/// (`zeros`, `arange`, `randn`) create tensors rather than operate on them.
///
///     let differentiable = OperationCatalog.entries.filter(\.isDifferentiable).map(\.name)
///     OperationCatalog.entry(named: "softmax")?.family   // .softmax
public enum OperationCatalog {
    public static let entries: [OperationCatalogEntry] = [
        UnaryOperation.all.map { OperationCatalogEntry(name: $0.name, family: .elementwiseUnary, isDifferentiable: $0.isDifferentiable) },
        BinaryOperation.all.map { OperationCatalogEntry(name: $0.name, family: .elementwiseBinary, isDifferentiable: $0.isDifferentiable) },
        ReductionOperation.all.map { OperationCatalogEntry(name: $0.name, family: .reduction, isDifferentiable: $0.isDifferentiable) },
        methods,
    ].flatMap { $0 }

    /// The entry called `name`, if there is one.
    ///
    ///     OperationCatalog.entry(named: "gather")?.isDifferentiable   // true
    public static func entry(named name: String) -> OperationCatalogEntry? {
        entries.first { $0.name == name }
    }

    /// The operations written as methods rather than table entries, by family.
    private static let methods: [OperationCatalogEntry] = [
        family(.comparison, notDifferentiable: ["eq", "ne", "lt", "le", "gt", "ge"]),
        family(.logical, notDifferentiable: ["logicalAnd", "logicalOr", "logicalXor", "logicalNot", "isFinite", "isNaN", "isInf"]),
        family(.reduction, differentiable: ["variance", "std", "max", "min"], notDifferentiable: ["argmax", "argmin"]),
        family(.scan, differentiable: ["cumsum", "cumprod"]),
        family(.softmax, differentiable: ["softmax", "logSoftmax"]),
        family(.view, differentiable: ["reshape", "view", "flatten", "permute", "transpose", "t", "unsqueeze", "squeeze",
                                       "expand", "narrow", "select", "slice"]),
        family(.joining, differentiable: ["cat", "stack", "split", "chunk", "unbind"]),
        family(.rearranging, differentiable: ["flip", "roll", "repeat", "tril", "triu", "pad"]),
        family(.indexing, differentiable: ["gather", "scatter", "scatterAdd", "indexSelect", "maskedFill", "maskedSelect",
                                           "index", "where"],
               notDifferentiable: ["oneHot"]),
        family(.sorting, differentiable: ["sort", "topk"], notDifferentiable: ["argsort"]),
        family(.linearAlgebra, differentiable: ["matmul", "mm", "bmm", "dot", "outer"]),
        family(.conversion, differentiable: ["to", "contiguous", "clone"]),
        family(.convolution, differentiable: ["conv1d", "conv2d", "convTranspose2d"]),
        family(.pooling, differentiable: ["maxPool1d", "maxPool2d", "avgPool1d", "avgPool2d", "adaptiveAvgPool2d"]),
        family(.interpolation, differentiable: ["interpolate"]),
    ].flatMap { $0 }

    private static func family(_ family: OperationFamily, differentiable: [String] = [],
                               notDifferentiable: [String] = []) -> [OperationCatalogEntry] {
        differentiable.map { OperationCatalogEntry(name: $0, family: family, isDifferentiable: true) }
            + notDifferentiable.map { OperationCatalogEntry(name: $0, family: family, isDifferentiable: false) }
    }
}

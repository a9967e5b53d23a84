// The property wrappers that mark a module's tensors: `@Parameter` (trainable) and `@Buffer`
// (state saved with the model but not trained, such as BatchNorm's running mean).
//
// Both are classes, so a `Module` finds them with `Mirror` under the stored-property label
// `_name` and can read and replace the tensor without knowing the property's key path. The
// wrapper object itself stays in place for the module's lifetime; assigning `layer.weight`
// replaces the tensor it holds.
//
// Why one generic wrapper over `Tensor` and `Tensor?` rather than separate `Parameter` and
// `OptionalParameter` types: `@Parameter var bias: Tensor?` reads like the non-optional form
// and the generic argument is inferred from the property's type.
//
// Swift's definite-initialisation rule for wrappers: a plain `@Parameter var weight: Tensor`
// is initialised by assigning `self.weight = …` before `super.init()`. A wrapper written with
// arguments (`@Parameter("in_proj_weight")`, `@Buffer(persistent: false)`) is created at the
// declaration, so assign its tensor after `super.init()`, or assign the wrapper itself before:
// `_mask = Buffer(wrappedValue: mask, persistent: false)`.

/// The two types a `@Parameter` or `@Buffer` can wrap: `Tensor` and `Tensor?`.
/// The underscored requirements are the wrappers' plumbing, not API for users.
public protocol ModuleTensorValue {
    /// Builds the wrapped value from the slot's tensor (`name` is for the error message).
    static func _fromSlot(_ tensor: Tensor?, name: String) -> Self
    /// The tensor this value holds, if any.
    var _slotTensor: Tensor? { get }
}

extension Tensor: ModuleTensorValue {
    public static func _fromSlot(_ tensor: Tensor?, name: String) -> Tensor {
        guard let tensor else {
            emberFailure("Module: the tensor `\(name)` was read before one was assigned to it")
        }
        return tensor
    }
    public var _slotTensor: Tensor? { self }
}

extension Optional: ModuleTensorValue where Wrapped == Tensor {
    public static func _fromSlot(_ tensor: Tensor?, name: String) -> Tensor? { tensor }
    public var _slotTensor: Tensor? { self }
}

/// What discovery needs from a wrapper, whatever its generic argument.
protocol TensorSlot: AnyObject {
    var isParameter: Bool { get }
    /// False for buffers left out of the state dict (`@Buffer(persistent: false)`).
    var isPersistent: Bool { get }
    /// The PyTorch name given in the attribute, overriding the one derived from the property.
    var explicitName: String? { get }
    /// The tensor, read and replaced by `to(dtype:)` and friends.
    var tensor: Tensor? { get set }
}

/// Marks a trainable tensor of a `Module`: it is listed by `parameters()`, saved in
/// `stateDict()`, and set to require gradients when assigned (floating-point tensors only),
/// like `torch.nn.Parameter`.
///
///     final class Scale: Module, Layer {
///         @Parameter var gain: Tensor
///         override init() { self.gain = Tensor.ones([1]); super.init() }
///         func callAsFunction(_ input: Tensor) -> Tensor { input * gain }
///     }
///
/// An optional parameter (`@Parameter var bias: Tensor?`) is skipped while nil. The state-dict
/// name is the property name in snake_case; give another with `@Parameter("in_proj_weight")`.
@propertyWrapper
public final class Parameter<Value: ModuleTensorValue>: TensorSlot {
    var tensor: Tensor?
    let explicitName: String?
    var isParameter: Bool { true }
    var isPersistent: Bool { true }

    /// The tensor (or nil, for an optional parameter that is absent).
    public var wrappedValue: Value {
        get { Value._fromSlot(tensor, name: explicitName ?? "parameter") }
        set { tensor = Parameter.trainable(newValue._slotTensor) }
    }

    /// Wraps `wrappedValue`, named after the property.
    public init(wrappedValue: Value) {
        tensor = Parameter.trainable(wrappedValue._slotTensor)
        explicitName = nil
    }

    /// Wraps `wrappedValue` under the state-dict name `name`.
    ///
    ///     @Parameter("in_proj_weight") var inProjectionWeight: Tensor = Tensor.zeros([6, 2])
    public init(wrappedValue: Value, _ name: String) {
        tensor = Parameter.trainable(wrappedValue._slotTensor)
        explicitName = name
    }

    /// An empty slot named `name`; assign the tensor after `super.init()`.
    ///
    ///     @Parameter("in_proj_weight") var inProjectionWeight: Tensor
    public init(_ name: String) {
        tensor = nil
        explicitName = name
    }

    /// A parameter is a leaf; floating-point ones require grad, as `torch.nn.Parameter` does.
    private static func trainable(_ tensor: Tensor?) -> Tensor? {
        guard let tensor else { return nil }
        emberPrecondition(tensor.isLeaf,
                          "Parameter: cannot assign a tensor computed by an operation (a non-leaf) as a parameter; assign `tensor.detach()` to start a new leaf")
        if tensor.dtype.isFloatingPoint && !tensor.requiresGrad { tensor.requiresGrad = true }
        return tensor
    }
}

/// Marks a tensor of a `Module` that is state but not trained: listed by `buffers()`, converted
/// by `to(dtype:)`, and saved in `stateDict()` unless `persistent` is false.
///
///     final class RunningAverage: Module {
///         @Buffer var average: Tensor
///         init(size: Int) { self.average = Tensor.zeros([size]); super.init() }
///     }
@propertyWrapper
public final class Buffer<Value: ModuleTensorValue>: TensorSlot {
    var tensor: Tensor?
    let explicitName: String?
    let isPersistent: Bool
    var isParameter: Bool { false }

    /// The tensor (or nil, for an optional buffer that is absent).
    public var wrappedValue: Value {
        get { Value._fromSlot(tensor, name: explicitName ?? "buffer") }
        set { tensor = newValue._slotTensor }
    }

    /// Wraps `wrappedValue`, named after the property.
    public init(wrappedValue: Value, persistent: Bool = true) {
        tensor = wrappedValue._slotTensor
        explicitName = nil
        isPersistent = persistent
    }

    /// Wraps `wrappedValue` under the state-dict name `name`.
    public init(wrappedValue: Value, _ name: String, persistent: Bool = true) {
        tensor = wrappedValue._slotTensor
        explicitName = name
        isPersistent = persistent
    }

    /// An empty slot; assign the tensor after `super.init()`.
    ///
    ///     @Buffer(persistent: false) var mask: Tensor
    public init(_ name: String? = nil, persistent: Bool = true) {
        tensor = nil
        explicitName = name
        isPersistent = persistent
    }
}

// MARK: - Names

enum ModuleNaming {
    /// The PyTorch name of a Swift stored property: the wrapper prefix `_` dropped, camelCase
    /// turned into snake_case (`runningMean` → `running_mean`, `numBatchesTracked` →
    /// `num_batches_tracked`, `layer1` → `layer1`, `qkvProjection` → `qkv_projection`,
    /// `URLTable` → `url_table`).
    static func pytorchName(forProperty label: String) -> String {
        let trimmed = label.hasPrefix("_") ? String(label.dropFirst()) : label
        let characters = Array(trimmed)
        var result = ""
        result.reserveCapacity(characters.count + 4)
        for (i, character) in characters.enumerated() {
            guard character.isUppercase else { result.append(character); continue }
            if i > 0 {
                let previous = characters[i - 1]
                let startsWord = previous.isLowercase || previous.isNumber
                // The last capital of an acronym starts the next word: URLTable → url_table.
                let endsAcronym = previous.isUppercase && i + 1 < characters.count && characters[i + 1].isLowercase
                if (startsWord || endsAcronym) && previous != "_" { result.append("_") }
            }
            result.append(contentsOf: character.lowercased())
        }
        return result
    }

    static func join(_ prefix: String, _ name: String) -> String {
        prefix.isEmpty ? name : prefix + "." + name
    }
}

// Containers of modules: `Sequential` (a chain of layers), `ModuleList` and `ModuleDict`.
// Their elements are children named "0", "1", … (or by key), as in PyTorch, so
// `blocks.0.attention.weight` loads from a PyTorch checkpoint.

/// Builds the layer list of a `Sequential` from a block of layer expressions, with `if`,
/// `if/else`, `for` and optional layers.
///
///     Sequential {
///         Linear(4, 8)
///         ReLU()
///         if useDropout { Dropout(p: 0.1) }
///         for _ in 0..<2 { Linear(8, 8) }
///     }
@resultBuilder
public enum LayerBuilder {
    // The result-builder hooks: each turns a piece of the block into a list of layers.
    public static func buildExpression(_ layer: any Layer) -> [any Layer] { [layer] }
    public static func buildExpression(_ layers: [any Layer]) -> [any Layer] { layers }
    public static func buildBlock(_ components: [any Layer]...) -> [any Layer] { components.flatMap { $0 } }
    public static func buildOptional(_ component: [any Layer]?) -> [any Layer] { component ?? [] }
    public static func buildEither(first component: [any Layer]) -> [any Layer] { component }
    public static func buildEither(second component: [any Layer]) -> [any Layer] { component }
    public static func buildArray(_ components: [[any Layer]]) -> [any Layer] { components.flatMap { $0 } }
    public static func buildLimitedAvailability(_ component: [any Layer]) -> [any Layer] { component }
}

/// Layers applied one after another, like `torch.nn.Sequential`; its children are named
/// "0", "1", ….
///
///     let model = Sequential {
///         Linear(4, 8)
///         ReLU()
///         Linear(8, 2)
///     }
///     let y = model(Tensor.randn([16, 4]))    // [16, 2]
///     model.stateDict().keys                  // ["0.weight", "0.bias", "2.weight", "2.bias"]
public final class Sequential: Module, Layer {
    /// The layers, in order of application.
    public private(set) var layers: [any Layer]

    /// The layers listed in the block.
    public init(@LayerBuilder _ build: () -> [any Layer]) {
        layers = build()
        super.init()
    }

    /// The layers in `layers`.
    ///
    ///     Sequential([Linear(2, 2), Tanh()])
    public init(_ layers: [any Layer]) {
        self.layers = layers
        super.init()
    }

    /// Number of layers.
    public var count: Int { layers.count }

    /// The layer at `index`.
    public subscript(index: Int) -> any Layer { layers[index] }

    /// Adds a layer at the end.
    public func append(_ layer: any Layer) { layers.append(layer) }

    /// Applies each layer in turn.
    public func callAsFunction(_ input: Tensor) -> Tensor {
        layers.reduce(input) { value, layer in layer(value) }
    }

    override func discoverMembers() -> ModuleMembers {
        // No wrappers or other children live on a container: skip the Mirror walk.
        var members = ModuleMembers()
        members.children = layers.enumerated().map { (String($0.offset), $0.element as Module) }
        return members
    }
}

/// An indexable, appendable list of child modules, like `torch.nn.ModuleList`; children are
/// named "0", "1", …. The element type keeps calls typed; use `ModuleList<Module>` for a
/// mixed list.
///
///     let blocks = ModuleList((0..<4).map { _ in Linear(8, 8) })
///     var x = input
///     for block in blocks { x = block(x).relu() }
public final class ModuleList<Element: Module>: Module, RandomAccessCollection {
    private var elements: [Element]

    /// A list holding `modules`.
    public init(_ modules: [Element] = []) {
        elements = modules
        super.init()
    }

    /// Always 0.
    public var startIndex: Int { 0 }
    /// The number of modules.
    public var endIndex: Int { elements.count }

    /// The module at `index`; assigning replaces it.
    public subscript(index: Int) -> Element {
        get { elements[index] }
        set { elements[index] = newValue }
    }

    /// Adds a module at the end.
    public func append(_ module: Element) { elements.append(module) }

    /// Adds modules at the end.
    public func append(contentsOf modules: [Element]) { elements.append(contentsOf: modules) }

    /// Inserts a module at `index`.
    public func insert(_ module: Element, at index: Int) { elements.insert(module, at: index) }

    override func discoverMembers() -> ModuleMembers {
        // No wrappers or other children live on a container: skip the Mirror walk.
        var members = ModuleMembers()
        members.children = elements.enumerated().map { (String($0.offset), $0.element as Module) }
        return members
    }
}

/// Child modules by string key, in insertion order, like `torch.nn.ModuleDict`; each child is
/// named by its key.
///
///     let heads = ModuleDict<Linear>(["class": Linear(8, 10), "box": Linear(8, 4)])
///     let logits = heads["class"]!(features)
public final class ModuleDict<Element: Module>: Module {
    private var order: [String] = []
    private var elements: [String: Element] = [:]

    /// An empty dictionary.
    override public init() { super.init() }

    /// The pairs of `entries`, in order.
    ///
    ///     ModuleDict<Module>([("encoder", encoder), ("decoder", decoder)])
    public init(_ entries: [(String, Element)]) {
        super.init()
        for (key, module) in entries { self[key] = module }
    }

    /// The entries of a dictionary literal, in the order written.
    public convenience init(_ entries: KeyValuePairs<String, Element>) {
        self.init(entries.map { ($0.key, $0.value) })
    }

    /// The keys, in insertion order.
    public var keys: [String] { order }
    /// The modules, in key order.
    public var values: [Element] { order.map { elements[$0]! } }
    /// Number of entries.
    public var count: Int { order.count }

    /// The module stored under `key`; assigning nil removes it, assigning a new key appends it.
    public subscript(key: String) -> Element? {
        get { elements[key] }
        set {
            if let newValue {
                emberPrecondition(!key.isEmpty && !key.contains("."), "ModuleDict: key must be non-empty and cannot contain \".\", got \"\(key)\"")
                if elements.updateValue(newValue, forKey: key) == nil { order.append(key) }
            } else if elements.removeValue(forKey: key) != nil {
                order.removeAll { $0 == key }
            }
        }
    }

    override func discoverMembers() -> ModuleMembers {
        // No wrappers or other children live on a container: skip the Mirror walk.
        var members = ModuleMembers()
        members.children = order.map { ($0, elements[$0]! as Module) }
        return members
    }
}

/// Named parameters in insertion order, like `torch.nn.ParameterDict`: for modules whose
/// tensors are known only at run time (a model read from a file). Each entry is a parameter
/// of the module, under its key (keys may contain dots: "0.weight").
///
///     let weights = ParameterDict()
///     weights["fc.weight"] = Tensor.randn([10, 4])
///     weights.parameters().count        // 1, and it requires grad
open class ParameterDict: Module {
    private var order: [String] = []
    private var slots: [String: Parameter<Tensor>] = [:]

    /// An empty dictionary.
    override public init() { super.init() }

    /// The keys, in insertion order.
    public var keys: [String] { order }
    /// Number of entries.
    public var count: Int { order.count }

    /// The parameter stored under `key`; assigning replaces it (a new key is appended),
    /// assigning nil removes it. Floating-point tensors are made to require grad.
    public subscript(key: String) -> Tensor? {
        get { slots[key]?.wrappedValue }
        set {
            guard let newValue else {
                slots[key] = nil
                order.removeAll { $0 == key }
                return
            }
            if let slot = slots[key] {
                slot.wrappedValue = newValue
            } else {
                slots[key] = Parameter(wrappedValue: newValue, key)
                order.append(key)
            }
        }
    }

    override func discoverMembers() -> ModuleMembers {
        var members = ModuleMembers()
        members.tensors = order.map { ($0, slots[$0]! as TensorSlot) }
        return members
    }
}

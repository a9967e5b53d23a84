import Foundation

/// The base class of every neural-network layer and model, like `torch.nn.Module`.
///
/// A module owns tensors marked `@Parameter` (trained) and `@Buffer` (state such as running
/// statistics), and child modules held in ordinary stored properties (also optionals),
/// `ModuleList`, `ModuleDict` or `Sequential`. Nothing is registered by hand: the module finds
/// its members with `Mirror` (stored properties of the class and its superclasses, in
/// declaration order, base class first) and names them as PyTorch would, so state dicts load
/// PyTorch checkpoints by name (`layer1.0.conv1.weight`, `bn.running_mean`).
///
///     final class MLP: Module, Layer {
///         let hidden = Linear(4, 8)
///         let output = Linear(8, 2)
///         func callAsFunction(_ input: Tensor) -> Tensor { output(hidden(input).relu()) }
///     }
///     let model = MLP()
///     model.namedParameters().map(\.name)   // ["hidden.weight", "hidden.bias", "output.weight", "output.bias"]
///
/// Modules have reference semantics: a module held by two parents is one module, listed once
/// by `modules()` and `parameters()` (and under both names by `stateDict()`, as in PyTorch).
///
/// Why `Mirror` rather than a macro or key paths: it needs no code generation and no list to
/// keep in sync, and it sees optionals and superclass properties. It is slower than generated
/// code, so traversal happens when a model is set up, saved or loaded, not per element; the
/// cost per module is a few microseconds (measured when this was written; the per-class cache
/// is checked by ModuleTests.discoveryIsCachedPerClass).
/// Every stored property holding a Module (or an Optional of one) is taken for a child, so a
/// back-reference to a parent would be listed as one: keep such a reference inside a small
/// struct (`struct ParentReference { weak var module: Module? }`), which discovery skips, as it
/// skips arrays (use `ModuleList`) and other value types.
open class Module: CustomStringConvertible {
    /// True in training mode (the default), false after `eval()`. Dropout and BatchNorm read it.
    public internal(set) var isTraining = true

    /// Creates a module in training mode.
    public init() {}

    // MARK: Discovery

    /// This module's own tensors and children, in declaration order. Containers override it
    /// to list their elements.
    func discoverMembers() -> ModuleMembers {
        var levels: [Mirror] = []
        var mirror: Mirror? = Mirror(reflecting: self)
        while let current = mirror, current.subjectType != Module.self {
            levels.append(current)
            mirror = current.superclassMirror
        }
        levels.reverse()
        let schema = FieldSchema.lookup(type(of: self), levels: levels)
        var members = ModuleMembers()
        for (level, roles) in zip(levels, schema) {
            for (child, role) in zip(level.children, roles) {
                guard case .candidate(let name) = role else { continue }
                if let slot = child.value as? TensorSlot {
                    members.tensors.append((slot.explicitName ?? name, slot))
                } else if let module = child.value as? Module {
                    members.children.append((name, module))
                }
            }
        }
        return members
    }

    /// Visits this module and its descendants in pre-order with their dotted names.
    /// `deduplicate` skips a module met before (shared modules); cycles are always cut.
    func walkModules(prefix: String, deduplicate: Bool, _ body: (String, Module, ModuleMembers) -> Void) {
        var seen = Set<ObjectIdentifier>()
        var path = Set<ObjectIdentifier>()
        func visit(_ module: Module, _ name: String) {
            let id = ObjectIdentifier(module)
            if deduplicate && !seen.insert(id).inserted { return }
            guard path.insert(id).inserted else { return }
            defer { path.remove(id) }
            let members = module.discoverMembers()
            body(name, module, members)
            for child in members.children { visit(child.module, ModuleNaming.join(name, child.name)) }
        }
        visit(self, prefix)
    }

    /// Tensors of the chosen kind with dotted names, each tensor once.
    func namedTensors(prefix: String, recurse: Bool, parameters: Bool) -> [(name: String, tensor: Tensor)] {
        var result: [(name: String, tensor: Tensor)] = []
        var seen = Set<ObjectIdentifier>()
        func collect(_ moduleName: String, _ members: ModuleMembers) {
            for (name, slot) in members.tensors where slot.isParameter == parameters {
                guard let tensor = slot.tensor, seen.insert(ObjectIdentifier(tensor)).inserted else { continue }
                result.append((ModuleNaming.join(moduleName, name), tensor))
            }
        }
        if recurse {
            walkModules(prefix: prefix, deduplicate: true) { name, _, members in collect(name, members) }
        } else {
            collect(prefix, discoverMembers())
        }
        return result
    }

    // MARK: Traversal

    /// Trainable tensors with their dotted names, each tensor once (a tied weight appears
    /// under its first name).
    ///
    ///     for (name, parameter) in model.namedParameters() { print(name, parameter.shape) }
    public func namedParameters(prefix: String = "", recurse: Bool = true) -> [(name: String, tensor: Tensor)] {
        namedTensors(prefix: prefix, recurse: recurse, parameters: true)
    }

    /// Trainable tensors, each once: what an optimizer takes.
    ///
    ///     let optimizer = SGD(model.parameters(), learningRate: 0.1)
    public func parameters(recurse: Bool = true) -> [Tensor] {
        namedParameters(recurse: recurse).map(\.tensor)
    }

    /// Buffers (persistent or not) with their dotted names, each tensor once.
    ///
    ///     BatchNorm1d(4).namedBuffers().map(\.name)   // ["running_mean", "running_var", "num_batches_tracked"]
    public func namedBuffers(prefix: String = "", recurse: Bool = true) -> [(name: String, tensor: Tensor)] {
        namedTensors(prefix: prefix, recurse: recurse, parameters: false)
    }

    /// Buffers, each once.
    public func buffers(recurse: Bool = true) -> [Tensor] {
        namedBuffers(recurse: recurse).map(\.tensor)
    }

    /// Direct children with their names.
    ///
    ///     Sequential { Linear(2, 3); ReLU() }.namedChildren().map(\.name)   // ["0", "1"]
    public func namedChildren() -> [(name: String, module: Module)] {
        discoverMembers().children
    }

    /// Direct children.
    public func children() -> [Module] { namedChildren().map(\.module) }

    /// This module (named `prefix`) and all its descendants in pre-order, each once.
    ///
    ///     model.namedModules().map(\.name)   // ["", "hidden", "output"]
    public func namedModules(prefix: String = "") -> [(name: String, module: Module)] {
        var result: [(name: String, module: Module)] = []
        walkModules(prefix: prefix, deduplicate: true) { name, module, _ in result.append((name, module)) }
        return result
    }

    /// This module and all its descendants, each once.
    public func modules() -> [Module] { namedModules().map(\.module) }

    /// Calls `body` on every descendant and then on this module (PyTorch's `apply`), e.g. to
    /// initialise weights; returns self.
    ///
    ///     model.apply { if let linear = $0 as? Linear { Initializers.zeros_(linear.bias!) } }
    @discardableResult
    public func apply(_ body: (Module) -> Void) -> Self {
        for module in modules().reversed() { body(module) }
        return self
    }

    // MARK: Modes and bulk changes

    /// Sets training mode on this module and every descendant; returns self.
    ///
    ///     model.train()
    @discardableResult
    public func train(_ mode: Bool = true) -> Self {
        for module in modules() { module.isTraining = mode }
        return self
    }

    /// Sets evaluation mode (`train(false)`) recursively; returns self.
    ///
    ///     model.eval(); let prediction = withNoGrad { model(x) }
    @discardableResult
    public func eval() -> Self { train(false) }

    /// Clears the gradients of every parameter: sets them to nil (the default, which frees
    /// memory), or fills them with zeros.
    ///
    ///     model.zeroGrad()
    public func zeroGrad(setToNil: Bool = true) {
        for parameter in parameters() {
            guard let gradient = parameter.grad else { continue }
            if setToNil {
                parameter.grad = nil
            } else if gradient.gradFunction != nil {
                // A gradient with history (from createGraph) is replaced, not modified through the graph.
                parameter.grad = Tensor.zerosLike(gradient)
            } else {
                withNoGrad { _ = gradient.zero_() }
            }
        }
    }

    /// Sets `requiresGrad` on every parameter: `requiresGrad_(false)` freezes the module.
    ///
    ///     backbone.requiresGrad_(false)   // fine-tune only the head
    @discardableResult
    public func requiresGrad_(_ value: Bool = true) -> Self {
        for parameter in parameters() where parameter.dtype.isFloatingPoint { parameter.requiresGrad = value }
        return self
    }

    /// Converts every floating-point parameter and buffer to `dtype` (integer buffers such as
    /// `num_batches_tracked` are kept), replacing the tensor in its slot; returns self.
    ///
    ///     let model = MLP().to(dtype: .float64)
    ///
    /// A Tensor's dtype is fixed, so unlike PyTorch the parameters become new tensor objects:
    /// create optimizers after converting. `requiresGrad` is kept, gradients are dropped, and
    /// a tensor shared by several slots (tied weights) stays shared.
    @discardableResult
    public func to(dtype: DType) -> Self {
        emberPrecondition(dtype.isFloatingPoint, "Module.to: nn.Module.to only accepts floating point dtypes, but got desired dtype=\(dtype)")
        var converted: [ObjectIdentifier: Tensor] = [:]
        walkModules(prefix: "", deduplicate: true) { _, _, members in
            for (_, slot) in members.tensors {
                guard let tensor = slot.tensor, tensor.dtype.isFloatingPoint, tensor.dtype != dtype else { continue }
                if let done = converted[ObjectIdentifier(tensor)] { slot.tensor = done; continue }
                let replacement = withNoGrad { tensor.detach().to(dtype) }
                if tensor.requiresGrad { replacement.requiresGrad = true }
                converted[ObjectIdentifier(tensor)] = replacement
                slot.tensor = replacement
            }
        }
        return self
    }

    // MARK: Description

    /// The constructor arguments shown by `description`, e.g. `in_features=4, out_features=2`.
    /// Subclasses override it.
    open var extraDescription: String { "" }

    /// A PyTorch-style tree of the module and its children.
    ///
    ///     print(Sequential { Linear(2, 3); ReLU() })
    ///     // Sequential(
    ///     //   (0): Linear(in_features=2, out_features=3, bias=true)
    ///     //   (1): ReLU()
    ///     // )
    public var description: String {
        let typeName = String(describing: type(of: self)).split(separator: "<").first.map(String.init) ?? "Module"
        let children = namedChildren()
        if children.isEmpty { return "\(typeName)(\(extraDescription))" }
        var lines = ["\(typeName)(" + (extraDescription.isEmpty ? "" : extraDescription)]
        for (name, child) in children {
            let body = child.description.split(separator: "\n", omittingEmptySubsequences: false).joined(separator: "\n  ")
            lines.append("  (\(name)): \(body)")
        }
        lines.append(")")
        return lines.joined(separator: "\n")
    }
}

/// What discovery found directly on one module.
struct ModuleMembers {
    var tensors: [(name: String, slot: TensorSlot)] = []
    var children: [(name: String, module: Module)] = []
}

/// A module that maps one tensor to one tensor: what `Sequential` composes.
///
///     let layer: any Layer = Linear(3, 2)
///     let y = layer(Tensor.randn([5, 3]))
public protocol Layer: Module {
    /// Runs the layer.
    func callAsFunction(_ input: Tensor) -> Tensor
}

/// Which stored properties of a module class can hold a wrapper or a child, and their PyTorch
/// names, worked out once per class: discovery then casts only those fields and never
/// recomputes a name (together half the cost of a Mirror walk in debug builds).
/// A field qualifies when its value is a class instance or an Optional (a nil child today may
/// be set later); value types (Int, Bool, arrays, structs) never do.
enum FieldSchema {
    enum Role { case ignored, candidate(name: String) }

    private nonisolated(unsafe) static var cache: [ObjectIdentifier: [[Role]]] = [:]
    private static let lock = NSLock()

    /// Whether the schema of `type` has been built (for tests of the cache).
    static func isCached(_ type: Module.Type) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        return cache[ObjectIdentifier(type)] != nil
    }

    static func lookup(_ type: Module.Type, levels: [Mirror]) -> [[Role]] {
        let key = ObjectIdentifier(type)
        lock.lock()
        if let schema = cache[key] { lock.unlock(); return schema }
        lock.unlock()
        let schema = levels.map { level in
            level.children.map { child -> Role in
                guard let label = child.label, !label.hasPrefix("$") else { return .ignored }   // lazy storage
                let valueType = Swift.type(of: child.value)
                guard valueType is AnyObject.Type || valueType is OptionalMarker.Type else { return .ignored }
                return .candidate(name: ModuleNaming.pytorchName(forProperty: label))
            }
        }
        lock.lock()
        cache[key] = schema
        lock.unlock()
        return schema
    }
}

protocol OptionalMarker {}
extension Optional: OptionalMarker {}

/// An ordered map from PyTorch-style names (`layer1.0.conv1.weight`) to tensors: a model's
/// parameters and persistent buffers, as returned by `Module.stateDict()`.
///
///     let state = model.stateDict()
///     state.keys                  // ["hidden.weight", "hidden.bias", …]
///     state["hidden.weight"]      // Tensor?
///     for (name, tensor) in state { print(name, tensor.shape) }
///
/// The tensors of a model's state dict share storage with the model (detached from autograd),
/// as in PyTorch: clone them to keep a snapshot while training continues.
public struct StateDict: Sequence, ExpressibleByDictionaryLiteral {
    private var names: [String] = []
    private var tensors: [String: Tensor] = [:]

    /// An empty state dict.
    public init() {}

    /// A state dict holding `entries` in order (a repeated name keeps its last tensor, in
    /// the position of its first).
    ///
    ///     let state = StateDict([("weight", w), ("bias", b)])
    public init(_ entries: [(String, Tensor)]) {
        for (name, tensor) in entries { self[name] = tensor }
    }

    /// `["weight": w, "bias": b]`, in the order written.
    public init(dictionaryLiteral elements: (String, Tensor)...) { self.init(elements) }

    /// The names, in order.
    public var keys: [String] { names }
    /// The tensors, in the order of `keys`.
    public var values: [Tensor] { names.map { tensors[$0]! } }
    /// Number of entries.
    public var count: Int { names.count }
    /// True when there are no entries.
    public var isEmpty: Bool { names.isEmpty }

    /// The tensor named `name`; assigning nil removes the entry, assigning a new name appends it.
    ///
    ///     state["fc.bias"] = nil
    public subscript(name: String) -> Tensor? {
        get { tensors[name] }
        set {
            if let newValue {
                if tensors.updateValue(newValue, forKey: name) == nil { names.append(name) }
            } else if tensors.removeValue(forKey: name) != nil {
                names.removeAll { $0 == name }
            }
        }
    }

    /// The entries whose names start with `prefix + "."`, with that prefix removed: the state
    /// of one submodule.
    ///
    ///     try encoder.loadStateDict(checkpoint.withPrefixRemoved("encoder"))
    public func withPrefixRemoved(_ prefix: String) -> StateDict {
        let start = prefix + "."
        return StateDict(names.filter { $0.hasPrefix(start) }.map { (String($0.dropFirst(start.count)), tensors[$0]!) })
    }

    /// Iterates `(name, tensor)` pairs in order.
    ///
    ///     for (name, tensor) in state { print(name) }
    public func makeIterator() -> AnyIterator<(name: String, tensor: Tensor)> {
        var index = 0
        let names = self.names, tensors = self.tensors
        return AnyIterator {
            guard index < names.count else { return nil }
            defer { index += 1 }
            return (names[index], tensors[names[index]]!)
        }
    }
}

/// Why `Module.loadStateDict` refused a state dict: every missing key, unexpected key and shape
/// mismatch at once, in PyTorch's wording.
///
///     do { try model.loadStateDict(state) } catch let error as StateDictError { print(error) }
///     // Error(s) in loading state_dict for MLP:
///     //     Missing key(s) in state_dict: "output.bias".
///     //     size mismatch for hidden.weight: copying a param with shape [8, 3] from checkpoint, the shape in current model is [8, 4].
public struct StateDictError: Error, CustomStringConvertible, Sendable {
    /// One tensor whose shape differs between the checkpoint and the model.
    public struct ShapeMismatch: Sendable, Equatable {
        /// The state-dict name.
        public let key: String
        /// The shape in the model.
        public let expected: [Int]
        /// The shape in the state dict.
        public let actual: [Int]
    }

    /// The module type the state dict was loaded into.
    public let moduleName: String
    /// Names the model has and the state dict lacks (reported when `strict`).
    public let missingKeys: [String]
    /// Names the state dict has and the model lacks (reported when `strict`).
    public let unexpectedKeys: [String]
    /// Tensors present in both with different shapes (always reported).
    public let shapeMismatches: [ShapeMismatch]

    /// The message, one line per kind of problem, as PyTorch prints it.
    public var description: String {
        func quoted(_ keys: [String]) -> String { keys.map { "\"\($0)\"" }.joined(separator: ", ") }
        var lines = ["Error(s) in loading state_dict for \(moduleName):"]
        if !missingKeys.isEmpty { lines.append("    Missing key(s) in state_dict: \(quoted(missingKeys)).") }
        if !unexpectedKeys.isEmpty { lines.append("    Unexpected key(s) in state_dict: \(quoted(unexpectedKeys)).") }
        for mismatch in shapeMismatches {
            lines.append("    size mismatch for \(mismatch.key): copying a param with shape \(mismatch.actual) from checkpoint, the shape in current model is \(mismatch.expected).")
        }
        return lines.joined(separator: "\n")
    }
}

extension Module {
    /// The slots that make up the state dict, in PyTorch's order: each module's parameters,
    /// then its persistent buffers, then its children. Shared modules appear under every name.
    func stateSlots(prefix: String = "") -> [(name: String, slot: TensorSlot)] {
        var parameters: [(name: String, slot: TensorSlot)] = []
        walkModules(prefix: prefix, deduplicate: false) { moduleName, _, members in
            for (name, slot) in members.tensors where slot.isParameter && slot.tensor != nil {
                parameters.append((ModuleNaming.join(moduleName, name), slot))
            }
            for (name, slot) in members.tensors where !slot.isParameter && slot.isPersistent && slot.tensor != nil {
                parameters.append((ModuleNaming.join(moduleName, name), slot))
            }
        }
        return parameters
    }

    /// Parameters and persistent buffers by dotted name, sharing storage with the module
    /// (detached from autograd), in PyTorch's order.
    ///
    ///     let state = Linear(3, 2).stateDict()
    ///     state.keys   // ["weight", "bias"]
    public func stateDict(prefix: String = "") -> StateDict {
        StateDict(stateSlots(prefix: prefix).map { ($0.name, $0.slot.tensor!.detach()) })
    }

    /// Copies the tensors of `state` into this module's parameters and buffers, by name
    /// (values are converted to each slot's dtype; the slots keep their tensor objects, so
    /// optimizers holding them stay valid).
    ///
    /// Nothing is copied unless the whole state dict fits: it throws a `StateDictError` naming
    /// every shape mismatch, and, when `strict`, every missing and unexpected key. With
    /// `strict: false` the missing and unexpected keys are returned instead.
    ///
    ///     try model.loadStateDict(checkpoint)
    ///     let (missing, unexpected) = try model.loadStateDict(partial, strict: false)
    @discardableResult
    public func loadStateDict(_ state: StateDict, strict: Bool = true) throws -> (missingKeys: [String], unexpectedKeys: [String]) {
        let slots = stateSlots()
        let expectedNames = Set(slots.map(\.name))
        var missing: [String] = []
        var mismatches: [StateDictError.ShapeMismatch] = []
        var copies: [(target: Tensor, source: Tensor)] = []
        for (name, slot) in slots {
            guard let source = state[name] else { missing.append(name); continue }
            let target = slot.tensor!
            if source.shape != target.shape {
                mismatches.append(.init(key: name, expected: target.shape, actual: source.shape))
            } else {
                copies.append((target, source))
            }
        }
        let unexpected = state.keys.filter { !expectedNames.contains($0) }
        if !mismatches.isEmpty || (strict && (!missing.isEmpty || !unexpected.isEmpty)) {
            let moduleName = String(describing: type(of: self)).split(separator: "<").first.map(String.init) ?? "Module"
            throw StateDictError(moduleName: moduleName, missingKeys: strict ? missing : [],
                                 unexpectedKeys: strict ? unexpected : [], shapeMismatches: mismatches)
        }
        withNoGrad {
            for (target, source) in copies where target !== source { target.copy_(source) }
        }
        return (missing, unexpected)
    }
}

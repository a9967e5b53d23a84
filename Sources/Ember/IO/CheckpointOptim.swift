/// Optimizer and scheduler states in a `Checkpoint`, flattened to names:
/// `state.<position>.<buffer>` tensors, `param_groups.<group>.<option>` and
/// `param_groups.<group>.params` numbers, and scheduler values with `children.<k>.` prefixes.
extension Checkpoint {
    /// A checkpoint of a model, its optimizer and (optionally) its scheduler.
    ///
    ///     let checkpoint = Checkpoint(model: model.stateDict(), optimizer: optimizer.stateDict(),
    ///                                 scheduler: scheduler.stateDict(), epoch: epoch)
    public init(model: StateDict, optimizer: OptimizerState, scheduler: SchedulerState? = nil, epoch: Int = 0,
                randomState: [UInt64]? = RandomGenerator.default.stateWords, metadata: [String: String] = [:]) {
        var tensors = StateDict()
        for position in optimizer.state.keys.sorted() {
            for (name, tensor) in optimizer.state[position]!.sorted(by: { $0.key < $1.key }) {
                tensors["state.\(position).\(name)"] = tensor
            }
        }
        var values: [String: [Double]] = [:]
        for (index, group) in optimizer.paramGroups.enumerated() {
            for (option, value) in group.options { values["param_groups.\(index).\(option)"] = [value] }
            values["param_groups.\(index).params"] = group.params.map(Double.init)
        }
        self.init(model: model, optimizer: tensors, optimizerValues: values,
                  scheduler: scheduler.map { Checkpoint.flatten($0) } ?? [:], epoch: epoch,
                  randomState: randomState, metadata: metadata)
    }

    /// The optimizer state for `Optimizer.loadStateDict`, or nil when none was saved.
    public var optimizerState: OptimizerState? {
        guard !optimizer.isEmpty || !optimizerValues.isEmpty else { return nil }
        var state: [Int: [String: Tensor]] = [:]
        for (key, tensor) in optimizer {
            let parts = key.split(separator: ".", maxSplits: 2)
            guard parts.count == 3, parts[0] == "state", let position = Int(parts[1]) else { continue }
            state[position, default: [:]][String(parts[2])] = tensor
        }
        var groups: [Int: OptimizerState.Group] = [:]
        for (key, value) in optimizerValues {
            let parts = key.split(separator: ".", maxSplits: 2)
            guard parts.count == 3, parts[0] == "param_groups", let index = Int(parts[1]) else { continue }
            var group = groups[index] ?? OptimizerState.Group(options: [:], params: [])
            if parts[2] == "params" { group.params = value.map { Int($0) } } else if let first = value.first { group.options[String(parts[2])] = first }
            groups[index] = group
        }
        return OptimizerState(state: state, paramGroups: groups.keys.sorted().map { groups[$0]! })
    }

    /// The scheduler state for `LRScheduler.loadStateDict`, or nil when none was saved.
    public var schedulerState: SchedulerState? {
        scheduler.isEmpty ? nil : Checkpoint.unflatten(scheduler)
    }

    static func flatten(_ state: SchedulerState, prefix: String = "") -> [String: [Double]] {
        var result: [String: [Double]] = [:]
        for (key, value) in state.values { result[prefix + key] = value }
        for (index, child) in state.children.enumerated() {
            result.merge(flatten(child, prefix: prefix + "children.\(index)."), uniquingKeysWith: { a, _ in a })
        }
        return result
    }

    static func unflatten(_ values: [String: [Double]]) -> SchedulerState {
        var state = SchedulerState()
        var children: [Int: [String: [Double]]] = [:]
        for (key, value) in values {
            if key.hasPrefix("children.") {
                let parts = key.dropFirst(9).split(separator: ".", maxSplits: 1)
                if parts.count == 2, let index = Int(parts[0]) { children[index, default: [:]][String(parts[1])] = value; continue }
            }
            state.values[key] = value
        }
        state.children = children.keys.sorted().map { unflatten(children[$0]!) }
        return state
    }
}

import Foundation

/// Everything needed to resume training, saved as one safetensors file: the model's state,
/// the optimizer's tensors and numbers, the scheduler's numbers, the epoch and the random
/// generator's state.
///
///     var checkpoint = Checkpoint(model: model.stateDict(), epoch: epoch)
///     try checkpoint.save(to: URL(fileURLWithPath: "run/last.safetensors"))   // atomic
///     let resumed = try Checkpoint.load(from: url)
///     try model.loadStateDict(resumed.model)
///     resumed.restoreRandomState()
///
/// Layout of the file: tensors are named `model/<name>` and `optimizer/<name>`; safetensors'
/// string metadata holds `ember.checkpoint` (format version), `ember.epoch`, `ember.rng`
/// (four hex words), `ember.optimizer` and `ember.scheduler` (JSON objects of number lists)
/// and the caller's own `metadata` under `user.<key>`. Optimizers and schedulers are kept as
/// flat name → tensor and name → numbers maps so that any optimizer's `stateDict()` fits
/// (`state.0.exp_avg`, `param_groups.0.lr`, `children.0.lastEpoch`).
public struct Checkpoint {
    /// The model's `stateDict()`.
    public var model: StateDict
    /// The optimizer's per-parameter tensors (empty when not saved).
    public var optimizer: StateDict
    /// The optimizer's numbers (hyper-parameters per group, step counts…).
    public var optimizerValues: [String: [Double]]
    /// The scheduler's numbers.
    public var scheduler: [String: [Double]]
    /// The epoch the checkpoint was taken at.
    public var epoch: Int
    /// `RandomGenerator.stateWords` of the generator in use, when saved.
    public var randomState: [UInt64]?
    /// Free-form strings.
    public var metadata: [String: String]

    static let version = "1"

    public init(model: StateDict, optimizer: StateDict = StateDict(), optimizerValues: [String: [Double]] = [:],
                scheduler: [String: [Double]] = [:], epoch: Int = 0,
                randomState: [UInt64]? = RandomGenerator.default.stateWords, metadata: [String: String] = [:]) {
        self.model = model
        self.optimizer = optimizer
        self.optimizerValues = optimizerValues
        self.scheduler = scheduler
        self.epoch = epoch
        self.randomState = randomState
        self.metadata = metadata
    }

    /// Sets `generator`'s state to the saved one (no-op when none was saved).
    public func restoreRandomState(_ generator: RandomGenerator = .default) {
        if let randomState { generator.stateWords = randomState }
    }

    /// Writes the checkpoint atomically: a crash during the save leaves the previous file.
    public func save(to url: URL) throws {
        var tensors = StateDict()
        for (name, tensor) in model { tensors["model/" + name] = tensor }
        for (name, tensor) in optimizer { tensors["optimizer/" + name] = tensor }
        var strings: [String: String] = [
            "ember.checkpoint": Checkpoint.version,
            "ember.epoch": String(epoch),
            "ember.optimizer": Checkpoint.encodeNumbers(optimizerValues),
            "ember.scheduler": Checkpoint.encodeNumbers(scheduler),
        ]
        if let randomState { strings["ember.rng"] = randomState.map { String($0, radix: 16) }.joined(separator: ",") }
        for (key, value) in metadata { strings["user." + key] = value }
        try SafeTensors.save(tensors, to: url, metadata: strings)
    }

    /// Reads a checkpoint written by `save(to:)`.
    public static func load(from url: URL) throws -> Checkpoint {
        let contents = try SafeTensors.load(from: url)
        return try Checkpoint(contents: contents, name: url.lastPathComponent)
    }

    init(contents: SafeTensors.Contents, name: String) throws {
        func fail(_ message: String) -> SerializationError { .malformed(format: "checkpoint", message: "\(name): \(message)") }
        let strings = contents.metadata
        guard let version = strings["ember.checkpoint"] else { throw fail("not an Ember checkpoint (no ember.checkpoint metadata)") }
        guard version == Checkpoint.version else { throw fail("checkpoint version \(version) is newer than this Ember reads (\(Checkpoint.version))") }
        guard let epochText = strings["ember.epoch"], let epoch = Int(epochText) else { throw fail("missing or invalid ember.epoch") }
        var model = StateDict(), optimizer = StateDict()
        for (key, tensor) in contents.tensors {
            if key.hasPrefix("model/") { model[String(key.dropFirst(6))] = tensor }
            else if key.hasPrefix("optimizer/") { optimizer[String(key.dropFirst(10))] = tensor }
            else { throw fail("unexpected tensor '\(key)'") }
        }
        var randomState: [UInt64]?
        if let text = strings["ember.rng"] {
            let words = text.split(separator: ",").compactMap { UInt64($0, radix: 16) }
            guard words.count == 4, words.contains(where: { $0 != 0 }) else { throw fail("invalid ember.rng") }
            randomState = words
        }
        var user: [String: String] = [:]
        for (key, value) in strings where key.hasPrefix("user.") { user[String(key.dropFirst(5))] = value }
        self.init(model: model, optimizer: optimizer,
                  optimizerValues: try Checkpoint.decodeNumbers(strings["ember.optimizer"] ?? "{}", fail),
                  scheduler: try Checkpoint.decodeNumbers(strings["ember.scheduler"] ?? "{}", fail),
                  epoch: epoch, randomState: randomState, metadata: user)
    }

    /// `{"name":[1.5,2]}` with keys sorted; non-finite numbers as the strings "nan", "inf", "-inf".
    static func encodeNumbers(_ values: [String: [Double]]) -> String {
        func number(_ value: Double) -> String {
            if value.isNaN { return "\"nan\"" }
            if value.isInfinite { return value > 0 ? "\"inf\"" : "\"-inf\"" }
            return "\(value)"
        }
        let members = values.keys.sorted().map { key in
            JSONWriter.quoted(key) + ":[" + values[key]!.map(number).joined(separator: ",") + "]"
        }
        return "{" + members.joined(separator: ",") + "}"
    }

    static func decodeNumbers(_ text: String, _ fail: (String) -> SerializationError) throws -> [String: [Double]] {
        let bytes = Array(text.utf8)
        let value = try bytes.withUnsafeBytes { try JSONParser.parse($0, format: "checkpoint") }
        guard case let .object(members) = value else { throw fail("number table is not a JSON object") }
        var result: [String: [Double]] = [:]
        for (key, item) in members {
            guard case let .array(numbers) = item else { throw fail("'\(key)' is not a list of numbers") }
            result[key] = try numbers.map { number in
                switch number {
                case let .number(text): if let value = Double(text) { return value }
                case .string("nan"): return .nan
                case .string("inf"): return .infinity
                case .string("-inf"): return -.infinity
                default: break
                }
                throw fail("'\(key)' holds a value that is not a number")
            }
        }
        return result
    }
}

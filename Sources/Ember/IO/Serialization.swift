import Foundation

/// The file formats `save(_:to:)` and `load(from:)` pick from a URL's extension.
public enum SerializationFormat: String, Sendable, CaseIterable {
    /// `.safetensors`: read and write (the recommended format).
    case safetensors
    /// `.npz`: read and write (stored; use `NumPy.saveArchive(compressed:)` to deflate).
    case npz
    /// `.npy`: one tensor, read and write.
    case npy
    /// `.pt` / `.pth`: PyTorch's `torch.save` zip format, read only.
    case pytorch

    /// The format for `url`'s extension, or a `SerializationError.unsupportedFormat`.
    public static func forURL(_ url: URL) throws -> SerializationFormat {
        switch url.pathExtension.lowercased() {
        case "safetensors": return .safetensors
        case "npz": return .npz
        case "npy": return .npy
        case "pt", "pth", "ckpt": return .pytorch
        default:
            throw SerializationError.unsupportedFormat("\(url.lastPathComponent): unknown extension '\(url.pathExtension)' (expected .safetensors, .npz, .npy, or .pt/.pth to read)")
        }
    }
}

/// Saves named tensors, choosing the format from the extension (`.safetensors`, `.npz`, or
/// `.npy` for a single tensor). The file is written atomically: a crash part-way leaves any
/// previous file intact. `metadata` is kept only by safetensors.
///
///     try save(model.stateDict(), to: URL(fileURLWithPath: "model.safetensors"), metadata: ["epoch": "3"])
public func save(_ tensors: StateDict, to url: URL, metadata: [String: String]? = nil) throws {
    switch try SerializationFormat.forURL(url) {
    case .safetensors: try SafeTensors.save(tensors, to: url, metadata: metadata)
    case .npz: try NumPy.saveArchive(tensors, to: url)
    case .npy:
        guard tensors.count == 1, let tensor = tensors.values.first else {
            throw SerializationError.unsupportedFormat("\(url.lastPathComponent): .npy holds one tensor, got \(tensors.count); use .npz or .safetensors")
        }
        try NumPy.save(tensor, to: url)
    case .pytorch:
        throw SerializationError.unsupportedFormat("\(url.lastPathComponent): Ember reads PyTorch checkpoints but does not write them; save .safetensors (PyTorch reads it with safetensors.torch.load_file)")
    }
}

/// Loads named tensors, choosing the format from the extension. Safetensors, `.npy` and
/// stored `.npz` members are memory-mapped views of the file. A PyTorch checkpoint gives every
/// tensor it holds, named by its path (`model.fc.weight` for `{"model": state_dict}`); use
/// `TorchCheckpoint.load(from:)` for its other values. A `.npy` file gives one entry named
/// after the file.
///
///     let state = try load(from: URL(fileURLWithPath: "model.safetensors"))
public func load(from url: URL) throws -> StateDict {
    switch try SerializationFormat.forURL(url) {
    case .safetensors: return try SafeTensors.load(from: url).tensors
    case .npz: return try NumPy.loadArchive(from: url)
    case .npy: return StateDict([(url.deletingPathExtension().lastPathComponent, try NumPy.load(npy: url))])
    case .pytorch: return try TorchCheckpoint.load(from: url).flattenedTensors
    }
}

extension Module {
    /// Saves `stateDict()` (format from the extension; safetensors recommended), atomically.
    ///
    ///     try model.save(to: URL(fileURLWithPath: "mlp.safetensors"))
    public func save(to url: URL, metadata: [String: String]? = nil) throws {
        try Ember.save(stateDict(), to: url, metadata: metadata)
    }

    /// Loads a file written by `save(to:)` (or by PyTorch: `.safetensors`, `.pt`, `.pth`) into
    /// this module with `loadStateDict(_:strict:)`. A PyTorch checkpoint whose root is a dict
    /// holding a state dict under `"model"`, `"state_dict"` or `"model_state_dict"` is unwrapped.
    @discardableResult
    public func load(from url: URL, strict: Bool = true) throws -> (missingKeys: [String], unexpectedKeys: [String]) {
        if try SerializationFormat.forURL(url) == .pytorch {
            let root = try TorchCheckpoint.load(from: url)
            for key in ["model", "state_dict", "model_state_dict"] {
                if let nested = root[key]?.stateDict, !nested.isEmpty { return try loadStateDict(nested, strict: strict) }
            }
            return try loadStateDict(root.stateDict ?? root.flattenedTensors, strict: strict)
        }
        return try loadStateDict(try Ember.load(from: url), strict: strict)
    }
}

extension Tensor {
    /// Saves this tensor as `.npy` (or `.safetensors` under the name "tensor"), atomically.
    ///
    ///     try x.save(to: URL(fileURLWithPath: "x.npy"))   // np.load("x.npy") reads it
    public func save(to url: URL) throws {
        if url.pathExtension.lowercased() == "npy" {
            try NumPy.save(self, to: url)
        } else {
            try Ember.save(StateDict([("tensor", self)]), to: url)
        }
    }

    /// Loads a `.npy` file (memory-mapped).
    ///
    ///     let x = try Tensor.load(npy: URL(fileURLWithPath: "x.npy"))
    public static func load(npy url: URL) throws -> Tensor {
        try NumPy.load(npy: url)
    }
}

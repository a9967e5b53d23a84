import Foundation
import Testing
@testable import Ember

/// A case from scripts/fixtures/generate_seq.py (PyTorch references for the recurrent,
/// attention and transformer layers): named inputs and outputs, the state dict by PyTorch
/// name, and the gradients of the floating-point inputs and of every parameter for the loss
/// Σ (output * gradOutput).sum().
struct SequenceFixture: Decodable, CustomTestStringConvertible {
    let name: String
    let kind: String
    let args: [String: FixtureParameter]
    let dtype: String
    let training: Bool
    let state: [String: FixtureTensor]
    let inputs: [String: FixtureTensor]
    let outputs: [String: FixtureTensor]
    let gradOutputs: [String: FixtureTensor]
    let inputGrads: [String: FixtureTensor]
    let paramGrads: [String: FixtureTensor]
    var testDescription: String { name }

    var dataType: DType { dtype == "float64" ? .float64 : .float32 }
    func int(_ key: String) -> Int { args[key]!.int }
    func double(_ key: String) -> Double { args[key]!.number }
    func flag(_ key: String) -> Bool { args[key]!.flag }
    func text(_ key: String) -> String {
        if case .text(let value) = args[key]! { return value }
        fatalError("fixture argument \(key) is not a string")
    }

    static func load(_ names: String...) -> [SequenceFixture] {
        names.flatMap { name -> [SequenceFixture] in
            guard let url = Bundle.module.url(forResource: name, withExtension: "json", subdirectory: "Fixtures")
                    ?? Bundle.module.url(forResource: name, withExtension: "json") else {
                fatalError("fixture \(name).json is missing; run scripts/fixtures/generate_seq.py")
            }
            struct File: Decodable { let cases: [SequenceFixture] }
            do {
                return try JSONDecoder().decode(File.self, from: Data(contentsOf: url)).cases
            } catch {
                fatalError("fixture \(name).json is unreadable: \(error)")
            }
        }
    }

    /// The Ember module with the fixture's constructor arguments (nil for functions).
    func makeModule() -> Module? {
        let dtype = dataType
        let activation: TransformerActivation = args["activation"].map { _ in text("activation") == "gelu" ? .gelu : .relu } ?? .relu
        switch kind {
        case "RNN":
            return RNN(inputSize: int("inputSize"), hiddenSize: int("hiddenSize"), numLayers: int("numLayers"),
                       nonlinearity: text("nonlinearity") == "relu" ? .relu : .tanh, bias: flag("bias"),
                       batchFirst: flag("batchFirst"), dropout: double("dropout"), bidirectional: flag("bidirectional"), dtype: dtype)
        case "LSTM":
            return LSTM(inputSize: int("inputSize"), hiddenSize: int("hiddenSize"), numLayers: int("numLayers"), bias: flag("bias"),
                        batchFirst: flag("batchFirst"), dropout: double("dropout"), bidirectional: flag("bidirectional"), dtype: dtype)
        case "GRU":
            return GRU(inputSize: int("inputSize"), hiddenSize: int("hiddenSize"), numLayers: int("numLayers"), bias: flag("bias"),
                       batchFirst: flag("batchFirst"), dropout: double("dropout"), bidirectional: flag("bidirectional"), dtype: dtype)
        case "RNNCell":
            return RNNCell(inputSize: int("inputSize"), hiddenSize: int("hiddenSize"), bias: flag("bias"),
                           nonlinearity: text("nonlinearity") == "relu" ? .relu : .tanh, dtype: dtype)
        case "LSTMCell": return LSTMCell(inputSize: int("inputSize"), hiddenSize: int("hiddenSize"), bias: flag("bias"), dtype: dtype)
        case "GRUCell": return GRUCell(inputSize: int("inputSize"), hiddenSize: int("hiddenSize"), bias: flag("bias"), dtype: dtype)
        case "sdpa": return nil
        case "MultiheadAttention":
            return MultiheadAttention(embedDim: int("embedDim"), numHeads: int("numHeads"), dropout: double("dropout"),
                                      bias: flag("bias"), batchFirst: flag("batchFirst"), kdim: int("kdim"), vdim: int("vdim"),
                                      dtype: dtype)
        case "TransformerEncoderLayer", "TransformerEncoder":
            let layer = TransformerEncoderLayer(dModel: int("dModel"), nhead: int("nhead"), dimFeedforward: int("dimFeedforward"),
                                                dropout: double("dropout"), activation: activation, batchFirst: flag("batchFirst"),
                                                normFirst: flag("normFirst"), dtype: dtype)
            guard kind == "TransformerEncoder" else { return layer }
            return TransformerEncoder(layer: layer, numLayers: int("numLayers"),
                                      norm: flag("finalNorm") ? LayerNorm(normalizedShape: [int("dModel")], dtype: dtype) : nil)
        case "TransformerDecoderLayer":
            return TransformerDecoderLayer(dModel: int("dModel"), nhead: int("nhead"), dimFeedforward: int("dimFeedforward"),
                                           dropout: double("dropout"), activation: activation, batchFirst: flag("batchFirst"),
                                           normFirst: flag("normFirst"), dtype: dtype)
        default: fatalError("no sequence module named \(kind)")
        }
    }

    /// Runs the module (or function) on named inputs; returns named outputs as PyTorch's.
    func forward(_ module: Module?, _ x: [String: Tensor]) -> [String: Tensor] {
        switch module {
        case let m as LSTM:
            let (output, (h, c)) = m(x["input"]!, x["h0"].map { ($0, x["c0"]!) })
            return ["output": output, "hN": h, "cN": c]
        case let m as RNN:
            let (output, h) = m(x["input"]!, x["h0"])
            return ["output": output, "hN": h]
        case let m as GRU:
            let (output, h) = m(x["input"]!, x["h0"])
            return ["output": output, "hN": h]
        case let m as RNNCell: return ["hN": m(x["input"]!, x["h0"])]
        case let m as GRUCell: return ["hN": m(x["input"]!, x["h0"])]
        case let m as LSTMCell:
            let (h, c) = m(x["input"]!, x["h0"].map { ($0, x["c0"]!) })
            return ["hN": h, "cN": c]
        case let m as MultiheadAttention:
            let query = x["query"]!
            let (output, weights) = m(query: query, key: x["key"] ?? query, value: x["value"] ?? query,
                                      keyPaddingMask: x["keyPaddingMask"], needWeights: flag("needWeights"),
                                      attnMask: x["attnMask"], averageAttnWeights: flag("average"), isCausal: flag("causal"))
            return weights.map { ["output": output, "weights": $0] } ?? ["output": output]
        case let m as TransformerEncoderLayer:
            return ["output": m(x["src"]!, srcMask: x["srcMask"], srcKeyPaddingMask: x["srcKeyPaddingMask"])]
        case let m as TransformerEncoder:
            return ["output": m(x["src"]!, mask: x["srcMask"], srcKeyPaddingMask: x["srcKeyPaddingMask"])]
        case let m as TransformerDecoderLayer:
            return ["output": m(x["tgt"]!, memory: x["memory"]!, tgtMask: x["tgtMask"], memoryKeyPaddingMask: x["memoryKeyPaddingMask"])]
        case nil:
            let scale = double("scale")
            return ["output": Functional.scaledDotProductAttention(query: x["query"]!, key: x["key"]!, value: x["value"]!,
                                                                   attnMask: x["attnMask"], isCausal: flag("causal"),
                                                                   scale: scale == 0 ? nil : scale)]
        default: fatalError("no forward for \(String(describing: module))")
        }
    }

    /// Loads the state by name, runs forward and backward, and compares outputs, input
    /// gradients, parameter names and parameter gradients with PyTorch's.
    func check() throws {
        let module = makeModule()
        if let module {
            try module.loadStateDict(StateDict(state.map { ($0.key, $0.value.tensor) }))
            module.train(training)
        }
        let x = inputs.mapValues { fixture -> Tensor in
            let tensor = fixture.tensor
            return tensor.dtype.isFloatingPoint ? tensor.requiresGrad_() : tensor
        }
        for (key, input) in x where inputGrads[key] == nil && input.dtype.isFloatingPoint { input.requiresGrad = false }
        let result = forward(module, x)
        #expect(Set(result.keys) == Set(outputs.keys), "\(name): outputs \(result.keys.sorted())")
        let tolerance: (Double, Double) = dataType == .float64 ? (1e-10, 1e-11) : (1e-4, 1e-5)
        var loss: Tensor? = nil
        for (key, expected) in outputs {
            guard let actual = result[key] else { continue }
            expectClose(actual, expected.tensor, relative: tolerance.0, absolute: tolerance.1, "\(name) \(key)")
            let term = (actual * gradOutputs[key]!.tensor).sum()
            loss = loss.map { $0 + term } ?? term
        }
        loss!.backward()
        for (key, expected) in inputGrads {
            guard let grad = x[key]!.grad else { Issue.record("\(name): no gradient for input \(key)"); continue }
            expectClose(grad, expected.tensor, relative: tolerance.0, absolute: tolerance.1, "\(name) grad of input \(key)")
        }
        let parameters = Dictionary(uniqueKeysWithValues: (module?.namedParameters() ?? []).map { ($0.name, $0.tensor) })
        #expect(Set(parameters.keys) == Set(paramGrads.keys), "\(name): parameter names \(parameters.keys.sorted())")
        for (key, expected) in paramGrads {
            guard let grad = parameters[key]?.grad else { Issue.record("\(name): no gradient for \(key)"); continue }
            expectClose(grad, expected.tensor, relative: tolerance.0, absolute: tolerance.1, "\(name) grad of \(key)")
        }
    }
}

/// gradcheck of `outputs` (flattened and joined) with respect to `inputs` and the module's
/// parameters, in float64.
func gradcheckModule(_ module: Module?, inputs: [Tensor], _ outputs: @escaping ([Tensor]) -> [Tensor],
                     sourceLocation: SourceLocation = #_sourceLocation) {
    let differentiable = inputs.map { $0.dtype.isFloatingPoint ? $0.requiresGrad_() : $0 }
    let all = differentiable + (module?.parameters() ?? [])
    let result = gradcheck({ _ in Tensor.cat(outputs(differentiable).map { $0.reshaped([-1]) }) }, inputs: all)
    #expect(result.passed, "\(result.report)", sourceLocation: sourceLocation)
}

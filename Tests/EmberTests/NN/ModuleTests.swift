import Foundation
import Testing
@testable import Ember

/// Module discovery, names, state dicts, modes and bulk changes.
@Suite struct ModuleTests {
    final class Block: Module, Layer {
        let conv1 = Linear(3, 3)
        var downsample: Linear?
        @Buffer var runningMean: Tensor
        @Buffer(persistent: false) var scratch: Tensor
        @Parameter var layerScale: Tensor
        @Parameter var optionalGain: Tensor?

        init(downsample: Bool) {
            self.downsample = downsample ? Linear(3, 3, bias: false) : nil
            self.runningMean = Tensor.zeros([3])
            self.layerScale = Tensor.ones([3])
            self.optionalGain = nil
            super.init()
            self.scratch = Tensor.zeros([1])
        }
        func callAsFunction(_ input: Tensor) -> Tensor {
            var x = conv1(input) * layerScale
            if let downsample { x = x + downsample(input) }
            return x
        }
    }

    final class Net: Module, Layer {
        let stem = Linear(2, 3)
        let layer1 = ModuleList([Block(downsample: true), Block(downsample: false)])
        let heads = ModuleDict<Module>([("class", Linear(3, 4)), ("box", Sequential { Linear(3, 2); ReLU() })])
        @Parameter("in_proj_weight") var inProjectionWeight: Tensor
        let activation = ReLU()

        override init() {
            super.init()
            inProjectionWeight = Tensor.zeros([2, 2])
        }
        func callAsFunction(_ input: Tensor) -> Tensor {
            var x = stem(input)
            for block in layer1 { x = block(x) }
            return (heads["class"] as! Linear)(activation(x))
        }
    }

    /// A subclass adds properties after its superclass's.
    class Base: Module {
        @Parameter var baseWeight: Tensor
        override init() { self.baseWeight = Tensor.zeros([1]); super.init() }
    }
    final class Derived: Base {
        @Parameter var derivedWeight: Tensor
        override init() { self.derivedWeight = Tensor.zeros([2]); super.init() }
    }

    @Test func namesFollowPyTorch() {
        let net = Net()
        #expect(net.namedParameters().map(\.name) == [
            "in_proj_weight", "stem.weight", "stem.bias",
            "layer1.0.layer_scale", "layer1.0.conv1.weight", "layer1.0.conv1.bias", "layer1.0.downsample.weight",
            "layer1.1.layer_scale", "layer1.1.conv1.weight", "layer1.1.conv1.bias",
            "heads.class.weight", "heads.class.bias", "heads.box.0.weight", "heads.box.0.bias",
        ])
        #expect(net.namedBuffers().map(\.name) == ["layer1.0.running_mean", "layer1.0.scratch", "layer1.1.running_mean", "layer1.1.scratch"])
        #expect(net.namedChildren().map(\.name) == ["stem", "layer1", "heads", "activation"])
        #expect(net.namedModules().map(\.name) == [
            "", "stem", "layer1", "layer1.0", "layer1.0.conv1", "layer1.0.downsample", "layer1.1", "layer1.1.conv1",
            "heads", "heads.class", "heads.box", "heads.box.0", "heads.box.1", "activation",
        ])
        #expect(Derived().namedParameters().map(\.name) == ["base_weight", "derived_weight"])
        #expect(net.parameters(recurse: false).count == 1)
    }

    @Test func stateDictOrderAndPersistence() {
        let block = Block(downsample: false)
        // Parameters first, then persistent buffers, then children (PyTorch's order).
        #expect(block.stateDict().keys == ["layer_scale", "running_mean", "conv1.weight", "conv1.bias"])
    }

    @Test func snakeCase() {
        let cases = ["runningMean": "running_mean", "numBatchesTracked": "num_batches_tracked", "_weight": "weight",
                     "layer1": "layer1", "conv1Weight": "conv1_weight", "URLTable": "url_table", "qkv": "qkv",
                     "already_snake": "already_snake"]
        for (swift, torch) in cases { #expect(ModuleNaming.pytorchName(forProperty: swift) == torch) }
    }

    @Test func stateDictRoundTrip() throws {
        manualSeed(1)
        let source = Net()
        let target = Net()
        #expect(source.stateDict()["stem.weight"]!.scalars(as: Float.self) != target.stateDict()["stem.weight"]!.scalars(as: Float.self))
        let weightBefore = target.stem.weight
        try target.loadStateDict(source.stateDict())
        for ((name, a), (_, b)) in zip(source.stateDict(), target.stateDict()) {
            #expect(a.scalars(as: Double.self) == b.scalars(as: Double.self), "\(name)")
        }
        // Loading copies into the existing tensors: optimizers holding them stay valid.
        #expect(target.stem.weight === weightBefore)
        #expect(target.stem.weight.requiresGrad)
    }

    @Test func loadStateDictReportsEveryProblem() {
        let model = Linear(3, 2)
        var state = model.stateDict()
        state["bias"] = nil
        state["weight"] = Tensor.zeros([3, 2])
        state["extra.weight"] = Tensor.zeros([1])
        do {
            try model.loadStateDict(state)
            Issue.record("expected an error")
        } catch let error as StateDictError {
            #expect(error.missingKeys == ["bias"])
            #expect(error.unexpectedKeys == ["extra.weight"])
            #expect(error.shapeMismatches == [.init(key: "weight", expected: [2, 3], actual: [3, 2])])
            #expect(error.description == """
                Error(s) in loading state_dict for Linear:
                    Missing key(s) in state_dict: "bias".
                    Unexpected key(s) in state_dict: "extra.weight".
                    size mismatch for weight: copying a param with shape [3, 2] from checkpoint, the shape in current model is [2, 3].
                """)
        } catch {
            Issue.record("unexpected error \(error)")
        }
        // Nothing was copied.
        #expect(model.weight.scalars(as: Float.self).contains { $0 != 0 })
    }

    @Test func nonStrictLoadReturnsKeys() throws {
        let model = Linear(2, 2)
        let (missing, unexpected) = try model.loadStateDict(["weight": Tensor.ones([2, 2]), "other": Tensor.ones([1])], strict: false)
        #expect(missing == ["bias"])
        #expect(unexpected == ["other"])
        #expect(model.weight.scalars(as: Float.self) == [1, 1, 1, 1])
        // Shape mismatches are errors even when not strict.
        #expect(throws: StateDictError.self) { try model.loadStateDict(["weight": Tensor.ones([3])], strict: false) }
    }

    @Test func trainEvalPropagates() {
        let net = Net()
        #expect(net.modules().allSatisfy { $0.isTraining })
        net.eval()
        #expect(net.modules().allSatisfy { !$0.isTraining })
        net.layer1.train()
        #expect(net.layer1.modules().allSatisfy { $0.isTraining })
        #expect(!net.isTraining && !net.stem.isTraining)
    }

    @Test func zeroGradAndFreezing() {
        let model = Sequential { Linear(3, 2); Tanh(); Linear(2, 1) }
        model(Tensor.randn([4, 3])).sum().backward()
        #expect(model.parameters().allSatisfy { $0.grad != nil })
        model.zeroGrad(setToNil: false)
        #expect(model.parameters().allSatisfy { $0.grad!.scalars(as: Float.self).allSatisfy { $0 == 0 } })
        model.zeroGrad()
        #expect(model.parameters().allSatisfy { $0.grad == nil })

        model[0].requiresGrad_(false)
        model(Tensor.randn([4, 3])).sum().backward()
        #expect(model[0].parameters().allSatisfy { $0.grad == nil && !$0.requiresGrad })
        #expect(model[2].parameters().allSatisfy { $0.grad != nil })
    }

    @Test func toDTypeConvertsFloatingSlots() {
        let block = Block(downsample: true)
        let tied = Sequential([block.conv1, block.conv1])
        block.to(dtype: .float64)
        #expect(block.parameters().allSatisfy { $0.dtype == .float64 && $0.requiresGrad })
        #expect(block.buffers().allSatisfy { $0.dtype == .float64 })
        #expect(tied[0] === tied[1])
        let output = block(Tensor.randn([2, 3], dtype: .float64))
        #expect(output.dtype == .float64)
    }

    @Test func sharedModulesAndTiedWeightsAppearOnce() {
        let shared = Linear(2, 2)
        let model = Sequential([shared, ReLU(), shared])
        #expect(model.parameters().count == 2)
        #expect(model.modules().count == 3)
        #expect(model.stateDict().keys == ["0.weight", "0.bias", "2.weight", "2.bias"])
    }

    @Test func sequentialBuilder() {
        let useDropout = false
        let model = Sequential {
            Linear(4, 8)
            ReLU()
            if useDropout { Dropout(p: 0.5) }
            for _ in 0..<2 { Linear(8, 8) }
            Linear(8, 2)
        }
        #expect(model.count == 5)
        #expect(model.namedChildren().map(\.name) == ["0", "1", "2", "3", "4"])
        #expect(model(Tensor.randn([3, 4])).shape == [3, 2])
        #expect(Sequential([Linear(2, 3), Tanh()]).description == """
            Sequential(
              (0): Linear(in_features=2, out_features=3, bias=true)
              (1): Tanh()
            )
            """)
    }

    @Test func parametersRequireGradAndAreLeaves() {
        let layer = Linear(2, 2)
        #expect(layer.weight.requiresGrad && layer.bias!.requiresGrad)
        layer.bias = nil
        #expect(layer.parameters().count == 1)
        layer.bias = Tensor.zeros([2])
        #expect(layer.bias!.requiresGrad)
    }

    /// Discovery reflects each class's fields once and reuses that schema (timing it would make
    /// CI depend on the machine's load, so the cache itself is checked).
    @Test func discoveryIsCachedPerClass() {
        let model = Sequential((0..<50).map { _ in Linear(2, 2) as any Layer })
        #expect(model.parameters().count == 100)
        #expect(FieldSchema.isCached(Linear.self))
        #expect(model.parameters().count == 100)
    }

    @Test func childSetAfterFirstDiscoveryIsFound() {
        // The per-class field schema is built from the first instance seen, where the
        // optional child is nil: it must still be found once set.
        let block = Block(downsample: false)
        #expect(!block.namedParameters().map(\.name).contains("downsample.weight"))
        block.downsample = Linear(3, 3, bias: false)
        #expect(block.namedParameters().map(\.name).contains("downsample.weight"))
        block.downsample = nil
        #expect(!block.stateDict().keys.contains("downsample.weight"))
    }

    @Test func containersNameAndOrderTheirChildren() throws {
        let list = ModuleList<Linear>()
        list.append(Linear(1, 1))
        list.append(contentsOf: [Linear(1, 2), Linear(2, 1)])
        list.insert(Linear(1, 1), at: 0)
        #expect(list.count == 4)
        #expect(list.stateDict().keys.prefix(4) == ["0.weight", "0.bias", "1.weight", "1.bias"])
        let dict = ModuleDict<Linear>(["b": Linear(1, 1), "a": Linear(1, 1)])
        dict["c"] = Linear(1, 1)
        dict["b"] = nil
        #expect(dict.keys == ["a", "c"])
        #expect(dict.stateDict().keys == ["a.weight", "a.bias", "c.weight", "c.bias"])

        let sub = Sequential { Linear(2, 2) }
        let outer = Sequential { sub; ReLU() }
        let state = outer.stateDict()
        let copy = Sequential { Linear(2, 2) }
        try copy.loadStateDict(state.withPrefixRemoved("0"))
        #expect(copy[0].parameters()[0].scalars(as: Float.self) == sub[0].parameters()[0].scalars(as: Float.self))
    }

    @Test func tiedWeightsByAssignment() {
        let encoder = Embedding(numEmbeddings: 5, embeddingDim: 3)
        let decoder = Linear(3, 5, bias: false)
        decoder.weight = encoder.weight
        let model = Sequential([encoder, decoder])
        #expect(model.parameters().count == 1)
        #expect(model.stateDict().keys == ["0.weight", "1.weight"])
        model.to(dtype: .float64)
        #expect(encoder.weight === decoder.weight)
    }
}

import Foundation
import Testing
@testable import Ember

/// A case from scripts/fixtures/generate_conv.py: one layer with PyTorch's state, input,
/// output, gradOutput and gradients (float64).
struct WindowLayerFixture: Decodable, CustomTestStringConvertible {
    let name: String
    let layer: String
    let args: [String: FixtureParameter?]
    let state: [String: FixtureTensor]
    let input: FixtureTensor
    let output: FixtureTensor
    let gradOutput: FixtureTensor
    let inputGrad: FixtureTensor
    let paramGrads: [String: FixtureTensor]
    let indices: FixtureTensor?
    var testDescription: String { name }

    func int(_ key: String) -> Int { args[key]!!.int }
    func ints(_ key: String) -> [Int] { args[key]!!.ints }
    func flag(_ key: String) -> Bool { args[key]!!.flag }
    func size(_ key: String) -> SpatialSize { SpatialSize(ints(key)) }
    func optionalSize(_ key: String) -> SpatialSize? { (args[key] ?? nil).map { SpatialSize($0.ints) } }

    var padding: ConvolutionPadding {
        if case .text(let text)? = args["padding"] ?? nil { return text == "same" ? .same : .valid }
        return .explicit(size("padding"))
    }

    static func load(_ name: String) -> [WindowLayerFixture] {
        guard let url = Bundle.module.url(forResource: name, withExtension: "json", subdirectory: "Fixtures")
                ?? Bundle.module.url(forResource: name, withExtension: "json") else {
            fatalError("fixture \(name).json is missing; run scripts/fixtures/generate_conv.py")
        }
        struct File: Decodable { let cases: [WindowLayerFixture] }
        do { return try JSONDecoder().decode(File.self, from: Data(contentsOf: url)).cases } catch {
            fatalError("fixture \(name).json is unreadable: \(error)")
        }
    }

    /// The Ember layer with the fixture's arguments (weights come from `state`).
    func makeModule() -> Module & Layer {
        switch layer {
        case "Conv2d":
            return Conv2d(int("in"), int("out"), kernelSize: size("kernel"), stride: size("stride"), padding: padding,
                          dilation: size("dilation"), groups: int("groups"), bias: flag("bias"), dtype: .float64)
        case "Conv1d":
            return Conv1d(int("in"), int("out"), kernelSize: ints("kernel")[0], stride: ints("stride")[0], padding: padding,
                          dilation: ints("dilation")[0], groups: int("groups"), bias: flag("bias"), dtype: .float64)
        case "ConvTranspose2d":
            return ConvTranspose2d(int("in"), int("out"), kernelSize: size("kernel"), stride: size("stride"), padding: size("padding"),
                                   outputPadding: size("outputPadding"), groups: int("groups"), bias: flag("bias"),
                                   dilation: size("dilation"), dtype: .float64)
        case "MaxPool2d":
            return MaxPool2d(kernelSize: size("kernel"), stride: optionalSize("stride"), padding: size("padding"),
                             dilation: size("dilation"), ceilMode: flag("ceil"))
        case "MaxPool1d":
            return MaxPool1d(kernelSize: ints("kernel")[0], stride: optionalSize("stride")?.values[0], padding: ints("padding")[0],
                             dilation: ints("dilation")[0], ceilMode: flag("ceil"))
        case "AvgPool2d":
            return AvgPool2d(kernelSize: size("kernel"), stride: optionalSize("stride"), padding: size("padding"), ceilMode: flag("ceil"),
                             countIncludePad: flag("countIncludePad"), divisorOverride: (args["divisor"] ?? nil).map(\.int))
        case "AvgPool1d":
            return AvgPool1d(kernelSize: ints("kernel")[0], stride: optionalSize("stride")?.values[0], padding: ints("padding")[0],
                             ceilMode: flag("ceil"), countIncludePad: flag("countIncludePad"))
        case "AdaptiveAvgPool2d":
            return AdaptiveAvgPool2d(ints("size").map { Optional($0) })
        case "Upsample":
            var mode = InterpolationMode.nearest
            if case .text(let text)? = args["mode"] ?? nil, text != "nearest" { mode = .bilinear }
            let align = (args["alignCorners"] ?? nil).map(\.flag)
            if let scale = args["scale"] ?? nil { return Upsample(scaleFactor: scale.number, mode: mode, alignCorners: align) }
            return Upsample(size: ints("size"), mode: mode, alignCorners: align)
        default: fatalError("no layer named \(layer)")
        }
    }

    /// Forward, input gradient and parameter gradients against PyTorch, through a module
    /// loaded by name; then the same forward on non-contiguous layouts of the input.
    func check() throws {
        let module = makeModule()
        try module.loadStateDict(StateDict(state.map { ($0.key, $0.value.tensor) }))
        let x = input.tensor.requiresGrad_()
        let y = module(x)
        expectClose(y, output.tensor, relative: 1e-9, absolute: 1e-10, "\(name) output")
        (y * gradOutput.tensor).sum().backward()
        if let grad = x.grad { expectClose(grad, inputGrad.tensor, relative: 1e-9, absolute: 1e-10, "\(name) input grad") }
        else { Issue.record("\(name): no input gradient") }
        let parameters = Dictionary(uniqueKeysWithValues: module.namedParameters().map { ($0.name, $0.tensor) })
        #expect(Set(parameters.keys) == Set(paramGrads.keys), "\(name): parameter names")
        for (key, expected) in paramGrads {
            guard let grad = parameters[key]?.grad else { Issue.record("\(name): no gradient for \(key)"); continue }
            expectClose(grad, expected.tensor, relative: 1e-9, absolute: 1e-10, "\(name) grad of \(key)")
        }
        for variant in nonContiguousVariants(of: input.tensor) {
            expectClose(withNoGrad { module(variant.tensor) }, output.tensor, relative: 1e-9, absolute: 1e-10,
                        "\(name) output on \(variant.name) input")
        }
        if let indices {
            let x = input.tensor
            let result = layer == "MaxPool2d"
                ? Functional.maxPool2dWithIndices(x, kernelSize: size("kernel"), stride: optionalSize("stride"), padding: size("padding"),
                                                  dilation: size("dilation"), ceilMode: flag("ceil"))
                : Functional.maxPool1dWithIndices(x, kernelSize: size("kernel"), stride: optionalSize("stride"), padding: size("padding"),
                                                  dilation: size("dilation"), ceilMode: flag("ceil"))
            #expect(result.indices.dtype == .int64)
            #expect(result.indices.scalars(as: Int64.self) == indices.tensor.scalars(as: Int64.self), "\(name) indices")
        }
    }
}

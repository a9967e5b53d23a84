// swift-tools-version:6.0
import PackageDescription

// Ember is layered like PyTorch: stateless C kernels at the bottom (CEmberKernels),
// their Swift drivers (EmberKernels: thread pool, allocator, GEMM blocking), and the
// engine plus user API on top (Ember). No unsafeFlags: Ember must be usable as a
// versioned dependency, so instruction sets are chosen at run time inside the C target.
let package = Package(
    name: "Ember",
    products: [
        .library(name: "Ember", targets: ["Ember"]),
        .library(name: "EmberONNX", targets: ["EmberONNX"]),
        .executable(name: "ember-bench", targets: ["ember-bench"]),
        .executable(name: "ember-example", targets: ["ember-example"]),
        .executable(name: "custom-op-example", targets: ["custom-op-example"]),
        .executable(name: "ember", targets: ["ember"]),
        .executable(name: "ember-fuzz", targets: ["ember-fuzz"]),
    ],
    dependencies: [
        // Documentation only (nothing links it): `swift package generate-documentation --target Ember`
        // builds the DocC catalog in Sources/Ember/Ember.docc.
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
        // The `ember` command line's argument parsing.
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        // ONNX files are protobuf; EmberONNX links only the runtime library (its generated code
        // is committed, so no build runs the protoc plugin).
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
    ],
    targets: [
        .target(name: "CEmberKernels"),
        // dl: the optional platform BLAS is opened at run time (PlatformBLAS); nothing links one.
        .target(name: "EmberKernels", dependencies: ["CEmberKernels"],
                linkerSettings: [.linkedLibrary("dl", .when(platforms: [.linux]))]),
        // The bundled digits dataset (Datasets.digits()) is a resource of the library.
        .target(name: "Ember", dependencies: ["EmberKernels"], resources: [.copy("Resources/digits.csv.gz")]),
        // ONNX export (and, later, import) over the graph IR; its own target so that Ember itself
        // needs no protobuf.
        .target(name: "EmberONNX", dependencies: ["Ember", .product(name: "SwiftProtobuf", package: "swift-protobuf")]),
        // The `ember` command line (train, eval, predict); the training loop itself is in Ember.
        .executableTarget(name: "ember", dependencies: ["Ember", "EmberONNX", .product(name: "ArgumentParser", package: "swift-argument-parser")]),
        .executableTarget(name: "ember-bench", dependencies: ["Ember", "EmberKernels", "EmberONNX"]),
        .executableTarget(name: "ember-example", dependencies: ["Ember"]),
        // Worked examples built only on Ember's public API (the hexagonal convolution custom op),
        // the executable that runs it, and the README's example compiled verbatim.
        .target(name: "EmberExamples", dependencies: ["Ember"]),
        .executableTarget(name: "custom-op-example", dependencies: ["Ember", "EmberExamples"]),
        .executableTarget(name: "readme-example", dependencies: ["Ember"]),
        // The DocC article TrainingYourFirstModel.md's code, compiled verbatim.
        .executableTarget(name: "first-model-example", dependencies: ["Ember"]),
        // Mutation fuzzer for the file readers over the seed corpus in Tests/Fuzz/corpus.
        .executableTarget(name: "ember-fuzz", dependencies: ["Ember", "EmberONNX"]),
        // Writes one file per format for scripts/interop/check_numpy_reads_ember.py.
        .executableTarget(name: "ember-interop-writer", dependencies: ["Ember"]),
        // Exports the models of scripts/onnx/check_onnxruntime.py's check, with inputs and outputs.
        .executableTarget(name: "ember-onnx-cases", dependencies: ["Ember", "EmberONNX"]),
        // Runs ONNX's backend node tests (scripts/onnx/generate_node_tests.py) and prints how many pass.
        .executableTarget(name: "ember-onnx-conformance", dependencies: ["Ember", "EmberONNX"]),
        .testTarget(name: "EmberKernelsTests", dependencies: ["EmberKernels", "CEmberKernels"]),
        .testTarget(name: "EmberTests", dependencies: ["Ember", "EmberONNX"], resources: [.copy("Fixtures")]),
        .testTarget(name: "EmberExamplesTests", dependencies: ["Ember", "EmberExamples"]),
        .testTarget(name: "EmberONNXTests", dependencies: ["Ember", "EmberONNX"]),
    ],
    swiftLanguageModes: [.v6]
)

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
        .executable(name: "ember-bench", targets: ["ember-bench"]),
        .executable(name: "ember-example", targets: ["ember-example"]),
    ],
    targets: [
        .target(name: "CEmberKernels"),
        .target(name: "EmberKernels", dependencies: ["CEmberKernels"]),
        .target(name: "Ember", dependencies: ["EmberKernels"]),
        .executableTarget(name: "ember-bench", dependencies: ["Ember", "EmberKernels"]),
        .executableTarget(name: "ember-example", dependencies: ["Ember"]),
        .testTarget(name: "EmberKernelsTests", dependencies: ["EmberKernels", "CEmberKernels"]),
        .testTarget(name: "EmberTests", dependencies: ["Ember"], resources: [.copy("Fixtures")]),
    ],
    swiftLanguageModes: [.v6]
)

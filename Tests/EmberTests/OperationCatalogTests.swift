import Foundation
import Testing
@testable import Ember

/// The catalogue of operations drives coverage: every op it lists must have a reference case
/// in the committed fixtures, and every differentiable op a gradcheck that some suite runs.
/// Adding an op to the library without either fails here, with the list of what is missing.
@Suite struct OperationCatalogTests {
    /// Catalogue names whose fixture cases are filed under other names: one op with several
    /// argument forms (split by size or by sizes), an op named after its subscript, and the
    /// layer fixtures of conv.json and pooling.json, which name the PyTorch module.
    static let fixtureNames: [String: [String]] = [
        "max": ["maxDim"], "min": ["minDim"],
        "split": ["splitSize", "splitSizes"], "scatter": ["scatter", "scatterValue"], "index": ["maskSubscript"],
        "maxPool1d": ["MaxPool1d"], "maxPool2d": ["MaxPool2d"], "avgPool1d": ["AvgPool1d"], "avgPool2d": ["AvgPool2d"],
        "adaptiveAvgPool2d": ["AdaptiveAvgPool2d"], "interpolate": ["Upsample"],
    ]

    static func fixtureNames(of entry: OperationCatalogEntry) -> [String] { fixtureNames[entry.name] ?? [entry.name] }

    /// The op of every committed fixture case: the `op` of each case in Fixtures/*.json, and for
    /// the layer fixtures of the convolution and pooling ops the part of the case name before "/"
    /// (their cases name a layer, such as "MaxPool2d/k2").
    static let fixtureOps: Set<String> = {
        struct NamedCase: Decodable { let op: String? }
        struct File: Decodable { let cases: [NamedCase] }
        guard let directory = Bundle.module.url(forResource: "Fixtures", withExtension: nil),
              let files = try? FileManager.default.contentsOfDirectory(at: directory, includingPropertiesForKeys: nil) else {
            fatalError("the Fixtures folder is missing from the test bundle")
        }
        var ops = Set<String>()
        for file in files where file.pathExtension == "json" {
            // Files that are not lists of cases (creation.json, promotion.json) name no ops.
            guard let data = try? Data(contentsOf: file), let decoded = try? JSONDecoder().decode(File.self, from: data) else { continue }
            ops.formUnion(decoded.cases.compactMap(\.op))
        }
        for layerCase in WindowLayerFixture.load("conv") + WindowLayerFixture.load("pooling") {
            ops.insert(String(layerCase.name.prefix { $0 != "/" }))
        }
        return ops
    }()

    /// The ops that some suite gradchecks: the argument lists of the fixture-driven gradcheck
    /// tests (by fixture op name) and the named gradchecks on random inputs.
    static let gradcheckedOps: Set<String> = {
        let fixtureCases = UnaryOperationTests.gradcheckCases + BinaryOperationTests.gradcheckCases
            + ReductionTests.gradcheckCases + SoftmaxTests.gradcheckCases + ViewTests.cases
            + ShapeOpTable.gradcheckCases(indexing: false) + ShapeOpTable.gradcheckCases(indexing: true)
            + LinearAlgebraTests.gradcheckCases
        let named = ConvolutionTests.gradcheckCases + PoolingTests.gradcheckCases
        return Set(fixtureCases.map(\.op)).union(named.map(\.op))
    }()

    @Test func everyOperationHasAReferenceFixture() {
        let missing = OperationCatalog.entries.filter { entry in !Self.fixtureNames(of: entry).contains(where: Self.fixtureOps.contains) }
        #expect(missing.isEmpty, "no reference fixture case for: \(missing.map(\.name).joined(separator: ", "))")
    }

    @Test func everyDifferentiableOperationHasAGradcheck() {
        let missing = OperationCatalog.entries.filter { entry in
            entry.isDifferentiable && !([entry.name] + Self.fixtureNames(of: entry)).contains(where: Self.gradcheckedOps.contains)
        }
        #expect(missing.isEmpty, "differentiable, but no gradcheck case for: \(missing.map(\.name).joined(separator: ", "))")
    }

    @Test func namesAreUniqueAndTheMappingIsCurrent() {
        let names = OperationCatalog.entries.map(\.name)
        let repeated = Dictionary(grouping: names, by: { $0 }).filter { $0.value.count > 1 }.keys.sorted()
        #expect(repeated.isEmpty, "listed more than once: \(repeated)")
        let stale = Self.fixtureNames.keys.filter { OperationCatalog.entry(named: $0) == nil }.sorted()
        #expect(stale.isEmpty, "fixtureNames maps ops the catalogue does not list: \(stale)")
        #expect(Set(OperationCatalog.entries.map(\.family)) == Set(OperationFamily.allCases), "a family with no ops")
    }
}

import Foundation
import Testing

/// The README's example is compiled as the `readme-example` target; this keeps the two texts
/// identical, so an example that stops compiling breaks the build rather than the docs.
@Suite struct ReadmeExampleTests {
    static let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    @Test func readmeSnippetIsTheCompiledExample() throws {
        let readme = try String(contentsOf: Self.root.appendingPathComponent("README.md"), encoding: .utf8)
        let source = try String(contentsOf: Self.root.appendingPathComponent("Sources/readme-example/main.swift"), encoding: .utf8)
        // The first ```swift block of the README.
        let afterFence = try #require(readme.range(of: "```swift\n")).upperBound
        let end = try #require(readme.range(of: "```", range: afterFence..<readme.endIndex)).lowerBound
        let snippet = String(readme[afterFence..<end])
        // main.swift is the snippet after its leading comment lines.
        let code = source.split(separator: "\n", omittingEmptySubsequences: false)
            .drop { $0.hasPrefix("//") }
            .joined(separator: "\n")
        #expect(snippet == code, "README.md's example and Sources/readme-example/main.swift differ")
    }
}

/// The DocC article TrainingYourFirstModel.md walks through `Sources/first-model-example/main.swift`;
/// its first ```swift block must be that program, so the article's code always compiles.
@Suite struct FirstModelArticleTests {
    @Test func articleCodeIsTheCompiledExample() throws {
        let root = ReadmeExampleTests.root
        let article = try String(contentsOf: root.appendingPathComponent("Sources/Ember/Ember.docc/TrainingYourFirstModel.md"), encoding: .utf8)
        let source = try String(contentsOf: root.appendingPathComponent("Sources/first-model-example/main.swift"), encoding: .utf8)
        let afterFence = try #require(article.range(of: "```swift\n")).upperBound
        let end = try #require(article.range(of: "```", range: afterFence..<article.endIndex)).lowerBound
        let snippet = String(article[afterFence..<end])
        let code = source.split(separator: "\n", omittingEmptySubsequences: false)
            .drop { $0.hasPrefix("//") }
            .joined(separator: "\n")
        #expect(snippet == code, "TrainingYourFirstModel.md's example and Sources/first-model-example/main.swift differ")
        // "under 50 lines of user code"
        #expect(code.split(separator: "\n").filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty && !$0.hasPrefix("//") }.count < 50)
    }
}

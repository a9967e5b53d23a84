import Foundation
import Testing
@testable import Ember

/// The parsers on the tiny files of Fixtures/data (written by scripts/fixtures/generate_data.py).
@Suite struct DatasetParserTests {
    static let root = Bundle.module.resourceURL!.appendingPathComponent("Fixtures/data")
    static func url(_ path: String) -> URL { root.appendingPathComponent(path) }

    /// The error's text, or "no error".
    func failure(_ body: () throws -> Any) -> String {
        do { _ = try body(); return "no error" } catch { return "\(error)" }
    }

    @Test func mnistPlainAndGzipped() throws {
        for train in [true, false] {   // the test split is gzipped
            let data = try Datasets.mnist(directory: Self.url("mnist"), train: train)
            #expect(data.count == 3 && data.sampleShape == [1, 2, 3])
            #expect(data.labels.scalars(as: Int.self) == [7, 0, 9])
            let (image, label) = data[1]
            #expect(label.item(as: Int.self) == 0)
            #expect(image.scalars(as: Float.self).map { ($0 * 255).rounded() } == [10, 11, 12, 13, 14, 15])
        }
        #expect(try Datasets.fashionMNIST(directory: Self.url("mnist")).classes[9] == "Ankle boot")
    }

    @Test func brokenIDXFilesThrowNamingTheFile() {
        let truncated = failure { try Datasets.mnist(directory: Self.url("broken_truncated")) }
        #expect(truncated.contains("broken_truncated/train-images-idx3-ubyte") && truncated.contains("truncated"))
        let magic = failure { try Datasets.mnist(directory: Self.url("broken_magic")) }
        #expect(magic.contains("train-images-idx3-ubyte") && magic.contains("not an IDX file"))
        let count = failure { try Datasets.mnist(directory: Self.url("broken_count")) }
        #expect(count.contains("train-labels-idx1-ubyte") && count.contains("2 labels for 3 images"))
        let gzip = failure { try Datasets.mnist(directory: Self.url("broken_gzip"), train: false) }
        #expect(gzip.contains("t10k-images-idx3-ubyte.gz") && gzip.contains("gzip"))
        let missing = failure { try Datasets.mnist(directory: Self.url("nowhere")) }
        #expect(missing.contains("nowhere/train-images-idx3-ubyte") && missing.contains("not found"))
        #expect(throws: DatasetError.self) { try Datasets.mnist(directory: Self.url("broken_magic")) }
    }

    @Test func cifarBatch() throws {
        let data = try Datasets.cifar10(directory: Self.url("cifar"), train: false)
        #expect(data.count == 2 && data.sampleShape == [3, 32, 32])
        #expect(data.labels.scalars(as: Int.self) == [3, 4])
        let pixels = data[1].0.scalars(as: Float.self)
        #expect((pixels[0] * 255).rounded() == 1 && (pixels[1024] * 255).rounded() == Float(1025 % 256))
        let truncated = failure { try Datasets.cifar10(directory: Self.url("cifar_truncated"), train: false) }
        #expect(truncated.contains("cifar_truncated/test_batch.bin") && truncated.contains("not a multiple"))
        let missing = failure { try Datasets.cifar10(directory: Self.url("cifar"), train: true) }
        #expect(missing.contains("data_batch_1.bin") && missing.contains("not found"))
    }

    @Test func csvTables() throws {
        let table = try Datasets.csv(Self.url("table.csv"))
        #expect(table.classes == ["setosa", "virginica"])
        #expect(table.labels.scalars(as: Int.self) == [0, 1, 0])
        #expect(table.inputs.shape == [3, 2] && table.inputs.scalars(as: Float.self) == [1.5, 2, 3, 4.25, -1, 0])
        let numeric = try Datasets.csv(Self.url("table_numeric_labels.csv"))
        #expect(numeric.labels.scalars(as: Int.self) == [2, 0] && numeric.classes == ["0", "1", "2"])
        let first = try Datasets.csv(Self.url("table_numeric_labels.csv"), labelColumn: 0)
        #expect(first.inputs.scalars(as: Float.self) == [1, 2, 2, 0])
        #expect(try Datasets.csvMatrix(Self.url("table_numeric_labels.csv")).shape == [2, 3])
        let bad = failure { try Datasets.csv(Self.url("table_bad_number.csv")) }
        #expect(bad.contains("table_bad_number.csv") && bad.contains("line 3, column 2: 'oops' is not a number"))
        let ragged = failure { try Datasets.csv(Self.url("table_ragged.csv")) }
        #expect(ragged.contains("table_ragged.csv") && ragged.contains("line 2 has 2 fields, expected 3"))
    }

    @Test func bundledDigits() throws {
        let digits = try Datasets.digits()
        #expect(digits.count == 1797 && digits.sampleShape == [1, 8, 8] && digits.classes.count == 10)
        let pixels = digits.inputs.scalars(as: Float.self)
        #expect(pixels.min()! == 0 && pixels.max()! == 1)
        #expect(Set(digits.labels.scalars(as: Int.self)) == Set(0...9))
    }

    @Test func gzipRoundTripAndCorruption() throws {
        let plain = try DataFile.read(Self.url("mnist/train-images-idx3-ubyte"))
        let unzipped = try DataFile.read(Self.url("mnist/t10k-images-idx3-ubyte.gz"))
        #expect(plain == unzipped)
        var corrupt = try [UInt8](Data(contentsOf: Self.url("mnist/t10k-images-idx3-ubyte.gz")))
        corrupt[corrupt.count - 8] ^= 0xFF   // CRC-32
        #expect(throws: DatasetError.self) { try DataFile.gunzip(corrupt, path: "x.gz") }
    }
}

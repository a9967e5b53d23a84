import Foundation

/// Ready-made datasets: the bundled digits, MNIST and Fashion-MNIST (IDX files), CIFAR-10
/// (binary batches) and tabular CSV files. Each returns a `LabeledDataset` of float32 inputs
/// scaled to 0…1 and int64 labels; a missing or malformed file throws a `DatasetError` that
/// names it.
///
///     let digits = try Datasets.digits()                                   // 1,797 images [1, 8, 8]
///     let mnist = try Datasets.mnist(directory: URL(fileURLWithPath: "data/mnist"), train: true)
public enum Datasets {
    /// The handwritten digits bundled with Ember (UCI "Optical Recognition of Handwritten
    /// Digits", CC BY 4.0, as distributed with scikit-learn): 1,797 images `[1, 8, 8]` with
    /// pixels 0…16 scaled to 0…1, labels 0…9. There is no official split: use `randomSplit`.
    public static func digits(transform: (any Transform)? = nil) throws -> LabeledDataset {
        guard let url = Bundle.module.url(forResource: "digits.csv", withExtension: "gz") else {
            throw DatasetError.missingFile(path: "digits.csv.gz", message: "resource missing from Ember's bundle")
        }
        let table = try CSVTable.read(url, hasHeader: false)
        guard table.columnCount == 65 else {
            throw DatasetError.malformed(path: url.path, message: "expected 65 columns (64 pixels and a label), found \(table.columnCount)")
        }
        let parsed = try table.features(labelColumn: 64, path: url.path)
        let images = Tensor(shape: [table.rows.count, 1, 8, 8], scalars: parsed.features) / 16
        return LabeledDataset(inputs: images, labels: Tensor(parsed.labels), classes: (0...9).map(String.init), transform: transform)
    }

    /// The class names of MNIST.
    public static let mnistClasses = (0...9).map(String.init)
    /// The class names of Fashion-MNIST.
    public static let fashionMNISTClasses = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
    /// The class names of CIFAR-10.
    public static let cifar10Classes = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]

    /// MNIST from the four IDX files (`train-images-idx3-ubyte`, `train-labels-idx1-ubyte`,
    /// `t10k-…`, gzipped or not) in `directory`: images `[1, 28, 28]` in 0…1.
    public static func mnist(directory: URL, train: Bool = true, transform: (any Transform)? = nil) throws -> LabeledDataset {
        try idxPair(directory: directory, train: train, classes: mnistClasses, transform: transform)
    }

    /// Fashion-MNIST: the same file names and format as MNIST, with clothing classes.
    public static func fashionMNIST(directory: URL, train: Bool = true, transform: (any Transform)? = nil) throws -> LabeledDataset {
        try idxPair(directory: directory, train: train, classes: fashionMNISTClasses, transform: transform)
    }

    static func idxPair(directory: URL, train: Bool, classes: [String], transform: (any Transform)?) throws -> LabeledDataset {
        let prefix = train ? "train" : "t10k"
        let imagesURL = try DataFile.locate(["\(prefix)-images-idx3-ubyte", "\(prefix)-images.idx3-ubyte"], in: directory)
        let labelsURL = try DataFile.locate(["\(prefix)-labels-idx1-ubyte", "\(prefix)-labels.idx1-ubyte"], in: directory)
        let images = try IDXFile.read(imagesURL)
        let labels = try IDXFile.read(labelsURL)
        guard images.shape.count == 3 else {
            throw DatasetError.malformed(path: imagesURL.path, message: "expected 3 dimensions (images, rows, columns), found \(images.shape.count)")
        }
        guard labels.shape.count == 1 else {
            throw DatasetError.malformed(path: labelsURL.path, message: "expected 1 dimension (labels), found \(labels.shape.count)")
        }
        guard images.shape[0] == labels.shape[0] else {
            throw DatasetError.malformed(path: labelsURL.path, message: "\(labels.shape[0]) labels for \(images.shape[0]) images in \(imagesURL.lastPathComponent)")
        }
        if let bad = labels.values.first(where: { Int($0) >= classes.count }) {
            throw DatasetError.malformed(path: labelsURL.path, message: "label \(bad) is out of range 0..<\(classes.count)")
        }
        let inputs = Tensor(shape: [images.shape[0], 1, images.shape[1], images.shape[2]], scalars: images.values).to(.float32) / 255
        return LabeledDataset(inputs: inputs, labels: Tensor(shape: [labels.shape[0]], scalars: labels.values).to(.int64),
                              classes: classes, transform: transform)
    }

    /// CIFAR-10 from its binary batches (`data_batch_1.bin` … `data_batch_5.bin` for training,
    /// `test_batch.bin` for testing) in `directory` or its `cifar-10-batches-bin` folder: each
    /// record is a label byte and 3,072 pixel bytes (red, green, blue planes of 32×32).
    /// Images `[3, 32, 32]` in 0…1.
    public static func cifar10(directory: URL, train: Bool = true, transform: (any Transform)? = nil) throws -> LabeledDataset {
        var folder = directory
        let nested = directory.appendingPathComponent("cifar-10-batches-bin")
        if FileManager.default.fileExists(atPath: nested.path) { folder = nested }
        let names = train ? (1...5).map { "data_batch_\($0).bin" } : ["test_batch.bin"]
        var pixels: [UInt8] = [], labels: [Int64] = []
        let recordSize = 1 + 3 * 32 * 32
        for name in names {
            let url = try DataFile.locate([name], in: folder)
            let bytes = try DataFile.read(url)
            guard !bytes.isEmpty && bytes.count % recordSize == 0 else {
                throw DatasetError.malformed(path: url.path, message: "size \(bytes.count) is not a multiple of the \(recordSize)-byte record (truncated file?)")
            }
            pixels.reserveCapacity(pixels.count + bytes.count)
            for start in stride(from: 0, to: bytes.count, by: recordSize) {
                guard bytes[start] < 10 else {
                    throw DatasetError.malformed(path: url.path, message: "record \(start / recordSize) has label \(bytes[start]), expected 0…9")
                }
                labels.append(Int64(bytes[start]))
                pixels += bytes[(start + 1)..<(start + recordSize)]
            }
        }
        let inputs = Tensor(shape: [labels.count, 3, 32, 32], scalars: pixels).to(.float32) / 255
        return LabeledDataset(inputs: inputs, labels: Tensor(labels), classes: cifar10Classes, transform: transform)
    }

    /// A tabular dataset from a CSV file (gzipped or not): every column but `labelColumn` is a
    /// float32 feature; the label column holds class indices (integers from 0) or class names
    /// (sorted to give indices). A header line is detected when its first field is not a number.
    ///
    ///     let iris = try Datasets.csv(URL(fileURLWithPath: "iris.csv"), labelColumn: -1)
    public static func csv(_ url: URL, labelColumn: Int = -1, hasHeader: Bool? = nil, delimiter: Character = ",") throws -> LabeledDataset {
        let table = try CSVTable.read(url, hasHeader: hasHeader, delimiter: delimiter)
        let column = labelColumn < 0 ? table.columnCount + labelColumn : labelColumn
        guard column >= 0 && column < table.columnCount else {
            throw DatasetError.malformed(path: url.path, message: "label column \(labelColumn) is out of range for \(table.columnCount) columns")
        }
        let parsed = try table.features(labelColumn: column, path: url.path)
        let inputs = Tensor(shape: [table.rows.count, table.columnCount - 1], scalars: parsed.features)
        return LabeledDataset(inputs: inputs, labels: Tensor(parsed.labels), classes: parsed.classes)
    }
}

extension Datasets {
    /// Every column of a numeric CSV file (gzipped or not) as a float32 `[rows, columns]` tensor.
    ///
    ///     let inputs = try Datasets.csvMatrix(URL(fileURLWithPath: "inputs.csv"))
    public static func csvMatrix(_ url: URL, hasHeader: Bool? = nil, delimiter: Character = ",") throws -> Tensor {
        let table = try CSVTable.read(url, hasHeader: hasHeader, delimiter: delimiter)
        let parsed = try table.features(labelColumn: -1, path: url.path)
        return Tensor(shape: [table.rows.count, table.columnCount], scalars: parsed.features)
    }
}

/// An IDX file (the MNIST format): a magic number whose third byte is the element type and
/// fourth the number of dimensions, the big-endian 32-bit sizes, then the data. Only unsigned
/// bytes (type 0x08), the type of every MNIST-family file, are read.
public struct IDXFile {
    public let shape: [Int]
    public let values: [UInt8]

    public static func read(_ url: URL) throws -> IDXFile {
        try parse(DataFile.read(url), path: url.path)
    }

    static func parse(_ bytes: [UInt8], path: String) throws -> IDXFile {
        func fail(_ message: String) -> DatasetError { .malformed(path: path, message: message) }
        guard bytes.count >= 4 else { throw fail("file of \(bytes.count) bytes is too short for an IDX header") }
        guard bytes[0] == 0 && bytes[1] == 0 else {
            throw fail("not an IDX file (magic number starts with \(bytes[0]), \(bytes[1]); expected 0, 0)")
        }
        guard bytes[2] == 0x08 else { throw fail("element type 0x\(String(bytes[2], radix: 16)) is not supported (only unsigned bytes, 0x08)") }
        let rank = Int(bytes[3])
        guard rank >= 1 else { throw fail("IDX file with no dimensions") }
        guard bytes.count >= 4 + 4 * rank else { throw fail("header truncated: \(rank) dimension sizes need \(4 + 4 * rank) bytes, file has \(bytes.count)") }
        let shape = (0..<rank).map { d in (0..<4).reduce(0) { $0 << 8 | Int(bytes[4 + 4 * d + $1]) } }
        let expected = shape.reduce(1, *)
        let available = bytes.count - 4 - 4 * rank
        guard available == expected else {
            throw fail(available < expected ? "truncated: shape \(shape) needs \(expected) bytes of data, found \(available)"
                                            : "\(available - expected) unexpected bytes after the data of shape \(shape)")
        }
        return IDXFile(shape: shape, values: Array(bytes[(4 + 4 * rank)...]))
    }
}

/// A CSV file read into rows of fields (no quoting: numeric tables).
struct CSVTable {
    var header: [String]?
    var rows: [[Substring]]
    var columnCount: Int

    static func read(_ url: URL, hasHeader: Bool?, delimiter: Character = ",") throws -> CSVTable {
        let bytes = try DataFile.read(url)
        guard let text = String(bytes: bytes, encoding: .utf8) else {
            throw DatasetError.malformed(path: url.path, message: "not UTF-8 text")
        }
        var lines = text.split(whereSeparator: \.isNewline).filter { !$0.allSatisfy(\.isWhitespace) }
        guard !lines.isEmpty else { throw DatasetError.malformed(path: url.path, message: "empty CSV file") }
        var header: [String]?
        let firstField = lines[0].split(separator: delimiter, omittingEmptySubsequences: false).first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
        if hasHeader ?? (Double(firstField) == nil) {
            header = lines[0].split(separator: delimiter, omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            lines.removeFirst()
        }
        guard !lines.isEmpty else { throw DatasetError.malformed(path: url.path, message: "CSV file has a header but no rows") }
        let rows = lines.map { $0.split(separator: delimiter, omittingEmptySubsequences: false) }
        let columnCount = header?.count ?? rows[0].count
        for (i, row) in rows.enumerated() where row.count != columnCount {
            throw DatasetError.malformed(path: url.path, message: "line \(i + 1 + (header == nil ? 0 : 1)) has \(row.count) fields, expected \(columnCount)")
        }
        return CSVTable(header: header, rows: rows, columnCount: columnCount)
    }

    /// Float features of every column but `labelColumn`, and class indices from it.
    func features(labelColumn: Int, path: String) throws -> (features: [Float], labels: [Int64], classes: [String]) {
        var features: [Float] = []
        features.reserveCapacity(rows.count * (columnCount - 1))
        var rawLabels: [Substring] = []
        for (i, row) in rows.enumerated() {
            for (j, field) in row.enumerated() {
                if j == labelColumn { rawLabels.append(field); continue }
                guard let value = Float(field.trimmingCharacters(in: .whitespaces)) else {
                    throw DatasetError.malformed(path: path, message: "line \(i + 1 + (header == nil ? 0 : 1)), column \(j + 1): '\(field)' is not a number")
                }
                features.append(value)
            }
        }
        if labelColumn < 0 { return (features, [], []) }
        let trimmed = rawLabels.map { $0.trimmingCharacters(in: .whitespaces) }
        if trimmed.allSatisfy({ Int($0).map { $0 >= 0 } ?? false }) {
            let labels = trimmed.map { Int64($0)! }
            let classCount = Int(labels.max() ?? 0) + 1
            return (features, labels, (0..<classCount).map(String.init))
        }
        let classes = Array(Set(trimmed)).sorted()
        let index = Dictionary(uniqueKeysWithValues: classes.enumerated().map { ($1, Int64($0)) })
        return (features, trimmed.map { index[$0]! }, classes)
    }
}

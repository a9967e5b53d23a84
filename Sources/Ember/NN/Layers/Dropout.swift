/// Randomly zeroes elements while training, like `torch.nn.Dropout`; the identity in
/// evaluation mode. The mask comes from the default `RandomGenerator` (seed it with
/// `manualSeed`) unless another is given.
///
///     let dropout = Dropout(p: 0.1)
///     dropout(x)            // training: about 10% zeros, the rest scaled by 1/0.9
///     dropout.eval()(x)     // x
public final class Dropout: Module, Layer {
    /// Probability of zeroing an element.
    public let p: Double
    /// Source of the masks.
    public let generator: RandomGenerator

    /// Drops each element with probability `p`.
    public init(p: Double = 0.5, generator: RandomGenerator = .default) {
        emberPrecondition(p >= 0 && p <= 1, "Dropout: dropout probability has to be between 0 and 1, but got \(p)")
        self.p = p
        self.generator = generator
        super.init()
    }

    /// Drops elements in training mode; returns `input` in evaluation mode.
    public func callAsFunction(_ input: Tensor) -> Tensor {
        Functional.dropout(input, p: p, training: isTraining, generator: generator)
    }

    public override var extraDescription: String { "p=\(p)" }
}

/// A lookup table of `numEmbeddings` vectors of size `embeddingDim`, like `torch.nn.Embedding`;
/// `weight` starts standard normal. The row at `paddingIndex` starts at zero and receives no
/// gradient.
///
///     let embedding = Embedding(numEmbeddings: 10, embeddingDim: 4, paddingIndex: 0)
///     embedding(Tensor([[1, 2], [0, 3]] as [[Int]])).shape   // [2, 2, 4]
public final class Embedding: Module, Layer {
    /// [numEmbeddings, embeddingDim].
    @Parameter public var weight: Tensor
    /// The row that starts at zero and gets no gradient (normalised to be non-negative).
    public let paddingIndex: Int?

    /// A table with PyTorch's default initialisation (N(0, 1), padding row zero).
    public init(numEmbeddings: Int, embeddingDim: Int, paddingIndex: Int? = nil, dtype: DType = .float32) {
        if let paddingIndex {
            emberPrecondition(paddingIndex >= -numEmbeddings && paddingIndex < numEmbeddings,
                              "Embedding: paddingIndex must be within num_embeddings (\(numEmbeddings)), got \(paddingIndex)")
        }
        self.paddingIndex = paddingIndex.map { $0 < 0 ? $0 + numEmbeddings : $0 }
        self.weight = Tensor.zeros([numEmbeddings, embeddingDim], dtype: dtype)
        super.init()
        resetParameters()
    }

    /// Draws a new table as at construction.
    public func resetParameters() {
        Initializers.normal_(weight)
        if let paddingIndex { withNoGrad { _ = weight[paddingIndex].zero_() } }
    }

    /// Looks up the rows for integer `input`; the result has shape `input.shape + [embeddingDim]`.
    public func callAsFunction(_ input: Tensor) -> Tensor {
        Functional.embedding(input, weight: weight, paddingIndex: paddingIndex)
    }

    public override var extraDescription: String {
        "\(weight.shape[0]), \(weight.shape[1])" + (paddingIndex.map { ", padding_idx=\($0)" } ?? "")
    }
}

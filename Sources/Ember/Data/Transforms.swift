import Foundation

/// A function applied to each sample as it is read, like torchvision's transforms. Images are
/// `[C, H, W]` float tensors. Random transforms draw from `DataRandom.generator`, which the data
/// loader seeds per batch, so augmentation is reproducible with any number of workers.
///
///     let augment = Compose([RandomCrop(size: 8, padding: 1), RandomHorizontalFlip(), Normalize(mean: [0.5], std: [0.5])])
public protocol Transform: Sendable {
    func callAsFunction(_ input: Tensor) -> Tensor
}

/// Transforms applied one after the other.
public struct Compose: Transform {
    public let transforms: [any Transform]
    public init(_ transforms: [any Transform]) { self.transforms = transforms }
    public func callAsFunction(_ input: Tensor) -> Tensor { transforms.reduce(input) { $1($0) } }
}

/// `(x - mean[c]) / std[c]` per channel of a `[C, H, W]` (or `[C, …]`) tensor.
///
///     Normalize(mean: [0.4914, 0.4822, 0.4465], std: [0.247, 0.243, 0.261])
public struct Normalize: Transform {
    public let mean: [Double]
    public let std: [Double]

    public init(mean: [Double], std: [Double]) {
        emberPrecondition(mean.count == std.count && !mean.isEmpty, "Normalize: mean and std must have the same, non-zero length")
        emberPrecondition(std.allSatisfy { $0 != 0 }, "Normalize: std evaluated to zero, leading to division by zero")
        self.mean = mean
        self.std = std
    }

    public func callAsFunction(_ input: Tensor) -> Tensor {
        emberPrecondition(input.rank >= 1 && (mean.count == 1 || input.shape[0] == mean.count),
                          "Normalize: \(mean.count) channel statistics for an input of shape \(input.shape)")
        let trailing = [Int](repeating: 1, count: input.rank - 1)
        let meanTensor = Tensor(shape: [mean.count] + trailing, scalars: mean).to(input.dtype)
        let stdTensor = Tensor(shape: [std.count] + trailing, scalars: std).to(input.dtype)
        return (input - meanTensor) / stdTensor
    }
}

/// Pads the image by `padding` zeros on each side, then crops a random `size`×`size` window.
///
///     RandomCrop(size: 32, padding: 4)   // CIFAR-10's usual augmentation
public struct RandomCrop: Transform {
    public let size: [Int]
    public let padding: Int

    public init(size: Int, padding: Int = 0) { self.init(size: [size, size], padding: padding) }
    public init(size: [Int], padding: Int = 0) {
        emberPrecondition(size.count == 2 && size.allSatisfy { $0 > 0 } && padding >= 0, "RandomCrop: invalid size \(size) or padding \(padding)")
        self.size = size
        self.padding = padding
    }

    public func callAsFunction(_ input: Tensor) -> Tensor {
        let padded = padding > 0 ? input.pad([padding, padding, padding, padding]) : input
        let height = padded.shape[padded.rank - 2], width = padded.shape[padded.rank - 1]
        emberPrecondition(height >= size[0] && width >= size[1],
                          "RandomCrop: required crop size \(size) is larger than the padded input image size [\(height), \(width)]")
        let offsets = DataRandom.generator.generate(2) { $0() }
        let top = Int(offsets[0] % UInt64(height - size[0] + 1)), left = Int(offsets[1] % UInt64(width - size[1] + 1))
        return padded.narrow(dim: padded.rank - 2, start: top, length: size[0])
            .narrow(dim: padded.rank - 1, start: left, length: size[1]).contiguous()
    }
}

/// Mirrors the image left–right with probability `p`.
public struct RandomHorizontalFlip: Transform {
    public let p: Double
    public init(p: Double = 0.5) { self.p = p }
    public func callAsFunction(_ input: Tensor) -> Tensor {
        let draw = DataRandom.generator.generate(1) { RandomGenerator.unitDouble($0()) }[0]
        return draw < p ? input.flip(dims: [input.rank - 1]) : input
    }
}

/// Resizes `[C, H, W]` to `size` (bilinear by default).
///
///     Resize(size: [28, 28])
public struct Resize: Transform {
    public let size: [Int]
    public let mode: InterpolationMode
    public init(size: [Int], mode: InterpolationMode = .bilinear) {
        self.size = size
        self.mode = mode
    }
    public func callAsFunction(_ input: Tensor) -> Tensor {
        let batched = input.unsqueezed(0)
        return Functional.interpolate(batched, size: size, mode: mode, alignCorners: mode == .bilinear ? false : nil).squeezed(0)
    }
}

/// Converts an image to float32 `[C, H, W]` in 0…1: `uint8` values are divided by 255 (or by
/// `maximum`), and `[H, W, C]` layouts (`channelsLast`) are permuted. A `[H, W]` image gets one channel.
///
///     ToTensor()                        // uint8 HWC → float CHW / 255
///     ToTensor(maximum: 16, channelsLast: false)   // the digits' 0…16 pixels
public struct ToTensor: Transform {
    public let maximum: Double
    public let channelsLast: Bool
    public init(maximum: Double = 255, channelsLast: Bool = true) {
        self.maximum = maximum
        self.channelsLast = channelsLast
    }
    public func callAsFunction(_ input: Tensor) -> Tensor {
        var image = input.to(.float32) / maximum
        if image.rank == 2 { image = image.unsqueezed(0) } else if channelsLast && image.rank == 3 { image = image.permuted([2, 0, 1]) }
        return image.contiguous()
    }
}

/// Any function as a transform.
///
///     Lambda { $0.flattened() }
public struct Lambda: Transform {
    public let body: @Sendable (Tensor) -> Tensor
    public init(_ body: @escaping @Sendable (Tensor) -> Tensor) { self.body = body }
    public func callAsFunction(_ input: Tensor) -> Tensor { body(input) }
}

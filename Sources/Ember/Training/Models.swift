import Foundation

/// Small image classifiers for the training job and the examples. Inputs are `[N, C, H, W]`.
///
///     let model = ClassifierModels.cnn(inputShape: [1, 8, 8], classes: 10)
public enum ClassifierModels {
    /// The architectures `ember train --model` accepts.
    public static let names = ["mlp", "cnn", "resnet-small"]

    /// The model called `name` (one of `names`), or nil.
    public static func make(_ name: String, inputShape: [Int], classes: Int) -> (any Layer)? {
        switch name {
        case "mlp": return mlp(inputShape: inputShape, classes: classes)
        case "cnn": return cnn(inputShape: inputShape, classes: classes)
        case "resnet-small": return resnetSmall(inputShape: inputShape, classes: classes)
        default: return nil
        }
    }

    /// Flatten, two hidden layers of `hidden` units with ReLU, then the classes.
    public static func mlp(inputShape: [Int], classes: Int, hidden: Int = 128) -> Sequential {
        let features = inputShape.reduce(1, *)
        return Sequential {
            Flatten()
            Linear(features, hidden)
            ReLU()
            Linear(hidden, hidden)
            ReLU()
            Linear(hidden, classes)
        }
    }

    /// Two 3×3 convolutions (16 and 32 channels) each followed by ReLU and 2×2 max pooling,
    /// then a linear classifier.
    public static func cnn(inputShape: [Int], classes: Int) -> Sequential {
        let (channels, height, width) = (inputShape[0], inputShape[1], inputShape[2])
        return Sequential {
            Conv2d(channels, 16, kernelSize: 3, padding: 1)
            ReLU()
            MaxPool2d(kernelSize: 2)
            Conv2d(16, 32, kernelSize: 3, padding: 1)
            ReLU()
            MaxPool2d(kernelSize: 2)
            Flatten()
            Linear(32 * (height / 4) * (width / 4), classes)
        }
    }

    /// A small residual network: a 16-channel stem, three residual blocks (16, 32 and 64
    /// channels, the last two halving the resolution), global average pooling, linear.
    public static func resnetSmall(inputShape: [Int], classes: Int) -> Sequential {
        Sequential {
            Conv2d(inputShape[0], 16, kernelSize: 3, padding: 1, bias: false)
            BatchNorm2d(16)
            ReLU()
            ResidualBlock(16, 16)
            ResidualBlock(16, 32, stride: 2)
            ResidualBlock(32, 64, stride: 2)
            AdaptiveAvgPool2d(1)
            Flatten()
            Linear(64, classes)
        }
    }
}

/// ResNet's basic block: two 3×3 convolutions with batch norm, added to the input (through a
/// 1×1 convolution when the shape changes), then ReLU.
public final class ResidualBlock: Module, Layer {
    let conv1: Conv2d
    let bn1: BatchNorm2d
    let conv2: Conv2d
    let bn2: BatchNorm2d
    let shortcut: Sequential?

    public init(_ inChannels: Int, _ outChannels: Int, stride: Int = 1) {
        conv1 = Conv2d(inChannels, outChannels, kernelSize: 3, stride: SpatialSize(stride), padding: 1, bias: false)
        bn1 = BatchNorm2d(outChannels)
        conv2 = Conv2d(outChannels, outChannels, kernelSize: 3, padding: 1, bias: false)
        bn2 = BatchNorm2d(outChannels)
        shortcut = stride != 1 || inChannels != outChannels
            ? Sequential { Conv2d(inChannels, outChannels, kernelSize: 1, stride: SpatialSize(stride), bias: false); BatchNorm2d(outChannels) }
            : nil
        super.init()
    }

    public func callAsFunction(_ input: Tensor) -> Tensor {
        let residual = shortcut.map { $0(input) } ?? input
        return (bn2(conv2(bn1(conv1(input)).relu())) + residual).relu()
    }
}

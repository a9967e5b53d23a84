import CEmberKernels

/// The instruction set the C kernels use on this machine.
public enum KernelInstructionSet: Int, Sendable, CustomStringConvertible {
    case generic = 0, avx2 = 1, avx512 = 2

    /// The level detected (or forced) at run time.
    public static var current: KernelInstructionSet {
        KernelInstructionSet(rawValue: Int(ember_cpu_level())) ?? .generic
    }

    public var description: String {
        switch self {
        case .generic: return "generic C"
        case .avx2: return "AVX2+FMA"
        case .avx512: return "AVX-512"
        }
    }
}

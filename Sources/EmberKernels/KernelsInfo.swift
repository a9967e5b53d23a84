import CEmberKernels

/// The instruction set the C kernels use on this machine.
public enum KernelInstructionSet: Int, Sendable, CustomStringConvertible {
    /// Raw values are `ember_cpu_level()`'s: 1 and 2 exist on x86_64 only, 3 on aarch64 only.
    case generic = 0, avx2 = 1, avx512 = 2, neon = 3

    /// The level detected (or forced) at run time.
    public static var current: KernelInstructionSet {
        KernelInstructionSet(rawValue: Int(ember_cpu_level())) ?? .generic
    }

    public var description: String {
        switch self {
        case .generic: return "generic C"
        case .avx2: return "AVX2+FMA"
        case .avx512: return "AVX-512"
        case .neon: return "NEON"
        }
    }
}

/// The one point every op with one output passes through.
///
/// An op hands `Dispatch.apply` its inputs, the ``Primitive`` it computes and its eager CPU
/// kernel. The dispatch runs the kernel; while `compile` traces on this thread it records the
/// primitive into the trace (`Tracing.record`); when grad mode is on and an input requires
/// grad it records the autograd node as that op value plus the forward values its rule reads
/// (`BackwardRule`), never a closure; in anomaly mode the node keeps its call stack. It is
/// also where a device backend will take over the kernel call. When nothing traces and
/// nothing requires grad, its cost is one load of a process-wide counter and the
/// `requiresGrad` checks.
///
///     // Inside Ember, an op is its checks, its primitive and its kernel:
///     Dispatch.apply(self, { _ in .flip(axes) }) { flipKernel(axes) }
enum Dispatch {
    /// An op of one input whose autograd rule is its primitive.
    @inline(__always)
    static func apply(_ input: Tensor, _ primitive: (Tensor) -> Primitive?, name: String? = nil,
                      _ kernel: () -> Tensor) -> Tensor {
        apply(input, primitive, name: name, rule: { primitive($0).map { .primitive($0) } }, kernel)
    }

    /// An op of one input. `rule` gives the autograd rule (a table entry; nil: the op records
    /// no node); `name` is what `gradFunction` shows when it differs from the rule's name.
    /// (The closures are not optional: an optional closure escapes, and its context would be
    /// allocated on every call.)
    @inline(__always)
    static func apply(_ input: Tensor, _ primitive: (Tensor) -> Primitive?, name: String? = nil,
                      rule: (Tensor) -> BackwardRule?, _ kernel: () -> Tensor) -> Tensor {
        Tracing.record([input], primitive) {
            let output = kernel()
            if GraphRecorder.shouldRecord(input), wantsNode(output), output !== input, let rule = rule(output) {
                GraphRecorder.record(name ?? rule.name, rule, inputs: [input], output: output)
            }
            return output
        }
    }

    /// An op of two inputs whose autograd rule is its primitive.
    @inline(__always)
    static func apply(_ a: Tensor, _ b: Tensor, _ primitive: (Tensor) -> Primitive?, name: String? = nil,
                      _ kernel: () -> Tensor) -> Tensor {
        apply(a, b, primitive, name: name, rule: { primitive($0).map { .primitive($0) } }, kernel)
    }

    /// An op of two inputs.
    @inline(__always)
    static func apply(_ a: Tensor, _ b: Tensor, _ primitive: (Tensor) -> Primitive?, name: String? = nil,
                      rule: (Tensor) -> BackwardRule?, _ kernel: () -> Tensor) -> Tensor {
        Tracing.record([a, b], primitive) {
            let output = kernel()
            if GraphRecorder.shouldRecord(a, b), wantsNode(output), output !== a, output !== b, let rule = rule(output) {
                GraphRecorder.record(name ?? rule.name, rule, inputs: [a, b], output: output)
            }
            return output
        }
    }

    /// An op of any number of inputs, whose autograd rule is its primitive.
    @inline(__always)
    static func apply(_ inputs: [Tensor], _ primitive: (Tensor) -> Primitive?, name: String? = nil,
                      _ kernel: () -> Tensor) -> Tensor {
        Tracing.record(inputs, primitive) {
            let output = kernel()
            if GraphRecorder.shouldRecord(inputs), wantsNode(output), !inputs.contains(where: { $0 === output }), let primitive = primitive(output) {
                GraphRecorder.record(name ?? primitive.name, .primitive(primitive), inputs: inputs, output: output)
            }
            return output
        }
    }

    /// Whether a result gets a node: not when the kernel built it from recorded ops (a reshape
    /// that had to copy), nor when it is not floating point (comparisons, arg-reductions). The
    /// callers also skip a result that is one of the inputs (a reshape to the same shape).
    @inline(__always)
    static func wantsNode(_ output: Tensor) -> Bool {
        output.dtype.isFloatingPoint && output.autograd?.gradFunction == nil
    }
}

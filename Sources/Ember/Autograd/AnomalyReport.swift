/// Anomaly mode's checks and messages.
enum AnomalyReport {
    /// Stops when a backward rule produced NaN or infinity, naming the forward op and where
    /// it was called.
    static func check(_ gradient: Tensor, producedBy node: Node, inputIndex: Int) {
        guard gradient.dtype.isFloatingPoint else { return }
        let finite = withoutGrad { gradient.isFinite().all().item(as: Bool.self) }
        if finite { return }
        emberFailure("anomaly: function '\(node.name)Backward' returned nan or inf values in its \(inputIndex)th output. The forward operation '\(node.name)' was called\(location(of: node))")
    }

    /// " at <frames>" when anomaly mode recorded where the node was created.
    static func location(of node: Node) -> String {
        guard let stack = node.callStack else { return " (enable anomaly detection to see where)" }
        let frames = CallStack.describe(stack)
        if frames.isEmpty { return " (no symbols available)" }
        return " from:\n  " + frames.joined(separator: "\n  ")
    }
}

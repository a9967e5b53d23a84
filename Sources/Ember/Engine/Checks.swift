/// Programming errors (bad shapes, dims, dtypes) stop the program with a message that names
/// the op, the values and what was expected, in every build configuration.
///
/// Why not `precondition`: in optimised builds it traps without printing its message, so a
/// user running a release build would see a bare "illegal instruction". `fatalError` always
/// prints. The message is an autoclosure, so the happy path builds no string.
@inline(__always)
func emberPrecondition(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String,
                       file: StaticString = #fileID, line: UInt = #line) {
    if !condition() { fatalError(message(), file: file, line: line) }
}

/// Stops with `message` (see `emberPrecondition`).
func emberFailure(_ message: @autoclosure () -> String, file: StaticString = #fileID, line: UInt = #line) -> Never {
    fatalError(message(), file: file, line: line)
}

import Foundation

/// Return addresses of a forward call and their translation to Swift source lines.
///
/// Anomaly mode needs the user's source line for operators like `a * b`, which cannot take
/// `#fileID`/`#line` default arguments, so the call stack is captured instead (a few
/// microseconds per op, only while anomaly mode is on) and symbolised only when a report is
/// printed: function names from the runtime, file:line from `addr2line` where the system has
/// it and the binary carries debug information.
enum CallStack {
    static func capture() -> [UInt] {
        Thread.callStackReturnAddresses.map { $0.uintValue }
    }

    /// Up to six frames outside Ember, as "function (file:line)".
    static func describe(_ addresses: [UInt]) -> [String] {
        let maps = MemoryMaps.load()
        var frames: [String] = []
        for address in addresses {
            guard let region = maps.first(where: { $0.range.contains(address) }) else { continue }
            guard let (function, location) = symbolize(address - region.range.lowerBound + region.fileOffset,
                                                       in: region.path) else { continue }
            if function.hasPrefix("__libc_start") || function == "_start" { break }
            if function.hasPrefix("Ember.") || function.contains("(extension in Ember)") || function.hasPrefix("static Ember.")
                || function.contains("Foundation.") || function.hasPrefix("closure #") && function.contains(" in Ember.") { continue }
            frames.append(location.map { "\(function) at \($0)" } ?? function)
            if frames.count >= 6 { break }
        }
        return frames
    }

    /// (demangled function, "file:line") via addr2line; nil when the tool is missing.
    private static func symbolize(_ offset: UInt, in path: String) -> (String, String?)? {
        let tools = ["/usr/bin/addr2line", "/usr/bin/llvm-addr2line", "/opt/swift/usr/bin/llvm-addr2line"]
        guard let tool = tools.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else { return nil }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        // Return addresses point after the call; step back one byte to land inside it.
        process.arguments = ["-f", "-C", "-e", path, String(offset - 1, radix: 16)]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        do { try process.run() } catch { return nil }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let lines = String(decoding: data, as: UTF8.self).split(separator: "\n").map(String.init)
        guard lines.count >= 2, lines[0] != "??" else { return nil }
        let function = demangle(lines[0])
        let location = lines[1].hasPrefix("??") ? nil : lines[1].split(separator: "/").suffix(2).joined(separator: "/")
        return (function, location)
    }

    private static func demangle(_ symbol: String) -> String {
        typealias Demangle = @convention(c) (UnsafePointer<CChar>?, Int, UnsafeMutablePointer<CChar>?,
                                             UnsafeMutablePointer<Int>?, UInt32) -> UnsafeMutablePointer<CChar>?
        guard let handle = dlopen(nil, RTLD_NOW), let raw = dlsym(handle, "swift_demangle") else { return symbol }
        let demangle = unsafeBitCast(raw, to: Demangle.self)
        guard let result = symbol.withCString({ demangle($0, strlen($0), nil, nil, 0) }) else { return symbol }
        defer { free(result) }
        return String(cString: result)
    }
}

/// Executable mappings of this process, from /proc/self/maps (Linux).
struct MemoryMaps {
    let range: Range<UInt>
    let fileOffset: UInt
    let path: String

    static func load() -> [MemoryMaps] {
        guard let text = try? String(contentsOfFile: "/proc/self/maps", encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 6, fields[1].contains("x") else { return nil }
            let bounds = fields[0].split(separator: "-")
            guard bounds.count == 2, let low = UInt(bounds[0], radix: 16), let high = UInt(bounds[1], radix: 16),
                  let offset = UInt(fields[2], radix: 16) else { return nil }
            return MemoryMaps(range: low..<high, fileOffset: offset, path: String(fields[5]))
        }
    }
}

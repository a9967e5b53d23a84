import Testing
@testable import EmberKernels

@Suite struct PackedPanelsTests {
    /// Products by a kept B read its packed panels from the cache: the same bits as packing it
    /// afresh, on the first call and the next, with B transposed (a weight times x).
    @Test func cachedPanelsGiveTheSameProducts() {
        let m = 64, n = 200, k = 300
        var a = [Float](repeating: 0, count: m * k), b = [Float](repeating: 0, count: k * n)
        for i in a.indices { a[i] = Float((i * 7919) % 101) / 50 - 1 }
        for i in b.indices { b[i] = Float((i * 104_729) % 97) / 48 - 1 }
        var expected = [Float](repeating: 0, count: m * n), actual = expected
        let panels = PackedPanels()
        // B element (p, j) at b[j * k + p]: row stride 1, column stride k.
        GEMM.multiply(m: m, n: n, k: k, alpha: 1, a: a, aRowStride: k, aColumnStride: 1,
                      b: b, bRowStride: 1, bColumnStride: k, beta: 0, c: &expected, cRowStride: n)
        for call in 0..<2 {
            GEMM.multiply(m: m, n: n, k: k, alpha: 1, a: a, aRowStride: k, aColumnStride: 1,
                          b: b, bRowStride: 1, bColumnStride: k, beta: 0, c: &actual, cRowStride: n, packedPanels: panels)
            #expect(actual == expected, "call \(call)")
            #expect(panels.count > 0)
        }
        panels.removeAll()
        #expect(panels.count == 0)
    }
}

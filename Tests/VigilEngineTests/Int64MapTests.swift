import Testing
@testable import VigilEngine

struct Int64MapTests {
    /// 50,000 random sets, updates and removals over a small key space (long probe runs, many
    /// backward shifts) and a wide one, checked against Dictionary after every operation.
    @Test(arguments: [64, 1 << 40])
    func agreesWithDictionary(keySpace: Int64) {
        var map = Int64Map()
        var reference: [Int64: Int64] = [:]
        var rng = SystemRandomNumberGenerator()
        for step in 0..<50_000 {
            // Keys shaped like the engine's (rule << 32 | labels), and negative ones.
            let key = Int64.random(in: -keySpace..<keySpace, using: &rng) << (step % 2 == 0 ? 32 : 0)
            if key == .min { continue } // the empty mark: the engine's keys never are
            if Int.random(in: 0..<3, using: &rng) == 0 {
                map[key] = nil
                reference[key] = nil
            } else {
                map[key] = Int64(step)
                reference[key] = Int64(step)
            }
            #expect(map[key] == reference[key])
            if step % 1000 == 0 {
                #expect(map.count == reference.count)
                for (k, v) in reference { #expect(map[k] == v) }
            }
        }
        for (k, v) in reference { #expect(map[k] == v) }
        #expect(map.count == reference.count)
    }
}

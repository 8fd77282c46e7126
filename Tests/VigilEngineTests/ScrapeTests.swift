import Foundation
import Testing
@testable import VigilEngine
@testable import VigilRules

/// Scrapes through the engine: one answer is one instant, a series that leaves the answer is
/// stale at once, a failed scrape applies nothing and ends the target's series.
struct ScrapeTests {
    func answer(_ text: String, contentType: String = "text/plain; version=0.0.4") -> ScrapeResult {
        ScrapeResult(target: "trader", duration: 2_000_000, answer: .answered(status: 200, contentType: contentType, body: Array(text.utf8)))
    }

    func at(_ s: Int64) -> Instant { Instant(nanoseconds: s * second) }

    @Test func aScrapeIsOneInstantAndAVanishedSeriesIsStaleAtOnce() {
        let rig = Rig("""
            metric orders_sent
            metric orders_acked
            metric active_positions labels venue
            alert unacked { when orders_sent - orders_acked > 0; severity warning; notify slack }
            alert many { when active_positions > 3; severity warning; notify slack }
            """)
        let e = rig.engine
        #expect(e.applyScrape(answer("orders_sent 5\norders_acked 5\nactive_positions{venue=\"kalshi\"} 4\nactive_positions{venue=\"poly\"} 4\n"), at: at(1))
                == ScrapeState(target: "trader", up: true, error: nil))
        #expect(rig.log == ["1s many{venue=kalshi} firing 4.0", "1s many{venue=poly} firing 4.0"])
        // poly leaves the answer: its alert resolves now, not after stale_after (5 min).
        #expect(e.applyScrape(answer("orders_sent 6\norders_acked 6\nactive_positions{venue=\"kalshi\"} 4\n"), at: at(2)) == nil)
        #expect(rig.log.last == "2s many{venue=poly} resolved 4.0")
        #expect(rig.log.count == 3)
        // Back again: it is fresh.
        _ = e.applyScrape(answer("orders_sent 7\norders_acked 7\nactive_positions{venue=\"kalshi\"} 4\nactive_positions{venue=\"poly\"} 5\n"), at: at(3))
        #expect(rig.log.last == "3s many{venue=poly} firing 5.0")
    }

    @Test func aFailedScrapeAppliesNothingEndsTheTargetsSeriesAndIsDown() throws {
        let rig = Rig("metric active_positions\nalert many { when active_positions > 3; severity warning; notify slack }\nalert down { when scrape_up == 0; severity critical; notify pager }")
        let e = rig.engine
        _ = e.applyScrape(answer("active_positions 4\n"), at: at(1))
        #expect(rig.log == ["1s many{} firing 4.0"])
        let garbage = e.applyScrape(answer("active_positions 4\nactive_positions{ 9\n"), at: at(2))
        #expect(garbage == ScrapeState(target: "trader", up: false, error: #"the answer is not the Prometheus text format: line 2: a label name must match [a-zA-Z_][a-zA-Z0-9_]*"#))
        #expect(rig.log == ["1s many{} firing 4.0", "2s many{} resolved 4.0", "2s down{scrape=trader} firing 0.0"])
        // Down again, for the same cause or another, is no new state: logged once.
        #expect(e.applyScrape(answer("active_positions{ 9\n"), at: at(3)) == nil)
        let refused = ScrapeResult(target: "trader", duration: 1_000_000, answer: .failed("cannot connect (refused or unreachable)"))
        #expect(e.applyScrape(refused, at: at(4)) == nil)
        let status = ScrapeResult(target: "trader", duration: 1_000_000, answer: .answered(status: 503, contentType: nil, body: []))
        #expect(e.applyScrape(status, at: at(5)) == nil)
        #expect(e.scrapeCounts["trader"]?.failed == 4)
        #expect(e.applyScrape(answer("active_positions 4\n"), at: at(6)) == ScrapeState(target: "trader", up: true, error: nil))
        #expect(rig.log.suffix(2) == ["6s many{} firing 4.0", "6s down{scrape=trader} resolved 1.0"])
    }

    @Test func theHealthSeriesSayWhatTheScrapeGave() throws {
        let rig = Rig("""
            alert slow { when scrape_duration_seconds > 1s; severity warning; notify slack }
            alert empty { when scrape_samples < 1; severity warning; notify slack }
            """)
        let e = rig.engine
        _ = e.applyScrape(ScrapeResult(target: "trader", duration: 1_500_000_000, answer: .answered(status: 200, contentType: nil, body: [])), at: at(1))
        #expect(rig.log == ["1s slow{scrape=trader} firing 1.5", "1s empty{scrape=trader} firing 0.0"])
        #expect(e.secondsSinceLastMessage > 0, "an empty answer carried no trader message")
    }

    @Test func openMetricsIsChosenByContentType() {
        let rig = Rig("metric trades_total\nalert traded { when trades_total > 0; severity info; notify slack }")
        let om = answer("# TYPE trades counter\ntrades_total 3\ntrades_created 1.7e9\n# EOF\n", contentType: "application/openmetrics-text; version=1.0.0; charset=utf-8")
        #expect(rig.engine.applyScrape(om, at: at(1))?.up == true)
        #expect(rig.log == ["1s traded{} firing 3.0"])
        #expect(rig.engine.symbols.metricID("trades_created") == nil, "an OpenMetrics start time is not a series")
    }

    @Test func aTargetNoLongerConfiguredEndsItsSeries() {
        let rig = Rig("metric active_positions\nalert many { when active_positions > 3; severity warning; notify slack }")
        _ = rig.engine.applyScrape(answer("active_positions 4\n"), at: at(1))
        rig.engine.keepScrapeTargets(["other"], at: at(2))
        #expect(rig.log == ["1s many{} firing 4.0", "2s many{} resolved 4.0"])
    }
}

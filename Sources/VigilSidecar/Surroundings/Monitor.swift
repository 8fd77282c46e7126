import Foundation
import Glibc
import Synchronization
import VigilEngine
import VigilRules

/// Watches the trader's surroundings (SPEC §7): `probe`s of its dependencies, `watch`es of its
/// process, and the `system`. One thread runs every check on its own schedule. TCP connects
/// are non-blocking and polled, HTTP probes run on libcurl, and host name lookups run off the
/// thread, so a target that never answers costs one pending check and delays nothing else.
/// Results leave through `emit` as readings, which the sidecar applies as series; they never
/// count as stream messages.
public final class Monitor: Sendable {
    /// One measured value, for a series the rules can name.
    public struct Reading: Sendable, Equatable {
        public let metric: String
        public let labels: [Label]
        public let value: Value

        public enum Value: Sendable, Equatable {
            case number(Double)
            case string(String)
        }

        public init(_ metric: String, _ labels: [Label], _ value: Value) {
            self.metric = metric
            self.labels = labels
            self.value = value
        }
    }

    /// What `/health/detailed` shows of a probe.
    public struct ProbeStatus: Sendable, Equatable {
        public let name: String
        public let kind: String
        public let target: String
        public let critical: Bool
        /// nil until the first check finishes.
        public var up: Bool?
        public var lastCheck: Date?
        public var lastDuration: Double?
        public var lastError: String?
        public var nextCheck: Date?

        init(_ p: Surroundings.Probe) {
            (name, kind, target, critical) = (p.name, p.kindName, p.displayTarget, p.critical)
        }
    }

    /// What `/health/detailed` shows of a watched process.
    public struct WatchStatus: Sendable, Equatable {
        public let name: String
        public var pid: Int32?
        public var up: Bool?
        public var lastCheck: Date?
        public var lastError: String?
    }

    enum Message: Sendable {
        case reconfigure(Surroundings)
        case httpDone(key: String, generation: Int, ProbeAnswer, at: Int64)
        case scrapeDone(key: String, generation: Int, ScrapeResult.Answer, at: Int64)
        /// A heartbeat's turn: sent (and what came of it), or held because vigil is not well.
        case heartbeatDone(key: String, generation: Int, Heartbeat)
        case resolved(key: String, generation: Int, TCPConnect.Resolution)
        case stop
    }

    private let mailbox = Mutex<[Message]>([])
    /// Wakes the thread for a message; without a pipe it sees one at its next check.
    private let wakePipe = WakePipe()
    private let status = Mutex<(probes: [ProbeStatus], watches: [WatchStatus])>(([], []))
    private let done = DispatchSemaphore(value: 0)
    private let started = Mutex(false)
    private let loop: Loop

    /// `clock` schedules the checks and times them (the sidecar's clock: virtual in tests).
    /// What a heartbeat's turn came to.
    enum Heartbeat: Sendable, Equatable {
        case sent
        case failed(String)
        /// Not sent: the core did not answer, or the stream was not read within the interval.
        case held(String)
    }

    /// `scraped` gets each scrape's answer, on the monitor thread (the core parses it).
    /// `healthy(interval)` says whether a heartbeat may go: why not, or nil when vigil is well.
    public init(_ config: Surroundings, clock: any Clock = WallClock(), log: LogSink, emit: @escaping @Sendable ([Reading]) -> Void,
                scraped: @escaping @Sendable (ScrapeResult) -> Void = { _ in },
                healthy: @escaping @Sendable (Int64) -> String? = { _ in nil }) {
        loop = Loop(clock: clock, log: log, emit: emit, scraped: scraped, healthy: healthy)
        // Known before the first check, so `/ready` never sees an empty list and says ready.
        status.withLock { $0 = (config.probes.map(ProbeStatus.init), config.watches.map { WatchStatus(name: $0.name) }) }
        post(.reconfigure(config))
        clock.whenMoved { [weak self] in self?.wakeUp() }
    }

    /// Starts the checks (once).
    public func start() {
        guard started.withLock({ s in defer { s = true }; return !s }) else { return }
        let thread = Thread { [self] in
            loop.run(self)
            done.signal()
        }
        thread.name = "vigil-monitor"
        thread.start()
    }

    /// Stops the checks; returns when the thread has closed its sockets (at most 2 s). Once.
    public func stop() {
        guard started.withLock({ s in defer { s = false }; return s }) else { return }
        post(.stop)
        _ = done.wait(timeout: .now() + 2)
    }

    /// New blocks after a reload: unchanged checks keep their state and schedule.
    public func reconfigure(_ config: Surroundings) { post(.reconfigure(config)) }

    public var probes: [ProbeStatus] { status.withLock { $0.probes } }
    public var watches: [WatchStatus] { status.withLock { $0.watches } }

    /// Critical probes that are not known to be up (down, or not checked yet).
    public var criticalNotUp: [String] { probes.filter { $0.critical && $0.up != true }.map(\.name) }

    func post(_ m: Message) {
        mailbox.withLock { $0.append(m) }
        wakeUp()
    }

    private func wakeUp() { wakePipe.wake() }

    fileprivate func take() -> [Message] {
        wakePipe.drain()
        return mailbox.withLock { m in defer { m.removeAll() }; return m }
    }

    fileprivate func publish(_ probes: [ProbeStatus], _ watches: [WatchStatus]) {
        status.withLock { $0 = (probes, watches) }
    }

    fileprivate func setProbe(_ i: Int, _ s: ProbeStatus) {
        status.withLock { if i < $0.probes.count { $0.probes[i] = s } }
    }

    fileprivate func setWatch(_ i: Int, _ s: WatchStatus) {
        status.withLock { if i < $0.watches.count { $0.watches[i] = s } }
    }

    fileprivate var wakeFD: Int32 { wakePipe.readFD }
}

/// The checks and their state, touched only by the monitor thread.
private final class Loop: @unchecked Sendable {
    let log: Logger
    let emit: @Sendable ([Monitor.Reading]) -> Void
    let scraped: @Sendable (ScrapeResult) -> Void
    let healthy: @Sendable (Int64) -> String?
    /// In config order: probes, watches, system, scrapes.
    var checks: [Check] = []
    /// Readings of this turn of the loop, handed over together at its end (one wake-up of the
    /// core for all the checks that finished together).
    var pending: [Monitor.Reading] = []
    /// Checks due this close together run in one turn: fewer wake-ups, at most this much early.
    static let slack: Int64 = 20_000_000
    var byKey: [String: Check] = [:]

    let clock: any Clock

    init(clock: any Clock, log: LogSink, emit: @escaping @Sendable ([Monitor.Reading]) -> Void,
         scraped: @escaping @Sendable (ScrapeResult) -> Void, healthy: @escaping @Sendable (Int64) -> String?) {
        self.clock = clock
        self.log = log.logger("monitor")
        self.emit = emit
        self.scraped = scraped
        self.healthy = healthy
    }

    final class Check {
        enum Kind {
            case probe(Surroundings.Probe)
            case watch(Surroundings.Watch)
            case system(Surroundings.System)
            case scrape(Surroundings.Scrape)
            case heartbeat(Surroundings.Heartbeat)
        }
        /// `probe NAME`, `watch NAME` or `system`: what a reload matches on.
        let key: String
        let kind: Kind
        var due: Int64
        /// Its entry in the probe or watch status list.
        var statusIndex = 0
        /// Bumped at each run: a late answer to an earlier run is ignored.
        var generation = 0
        var inFlight: InFlight?
        var probeStatus: Monitor.ProbeStatus?
        var watchStatus: Monitor.WatchStatus?
        /// The last heartbeat outcome, logged when it changes.
        var lastBeat: Monitor.Heartbeat?
        // watch
        var pid: Int32?
        var startTicks: Int?
        var cpu = CPUSampler()
        var lastReading: Int64?
        // system
        var hostCPU = CPUSampler()
        /// Host name lookups and HTTP GETs block, so a probe runs them here: a serial queue of
        /// its own gets a thread even when the global pool is busy, and a slow resolver or a
        /// hung target holds back only this probe (its checks never overlap).
        lazy var queue = DispatchQueue(label: "vigil-probe")

        init(key: String, kind: Kind, due: Int64) {
            self.key = key
            self.kind = kind
            self.due = due
        }

        var interval: Int64 {
            switch kind {
            case .probe(let p): p.interval
            case .watch(let w): w.interval
            case .system(let s): s.interval
            case .scrape(let s): s.interval
            case .heartbeat(let h): h.interval
            }
        }
    }

    struct InFlight {
        let started: Int64
        let deadline: Int64
        var fd: Int32 = -1
        var addresses: [TCPConnect.Address] = []
        var lastError: String?
        var cancel: (@Sendable () -> Void)?
    }

    func run(_ monitor: Monitor) {
        var pollSet: [pollfd] = []
        var polled: [Check] = []
        while true {
            for m in monitor.take() {
                switch m {
                case .stop:
                    for check in checks { cancel(check) }
                    return
                case .reconfigure(let config): reconfigure(config, monitor)
                case .httpDone(let key, let generation, let result, let at):
                    guard let check = byKey[key], check.generation == generation, check.inFlight != nil,
                          case .probe(let p) = check.kind else { continue }
                    httpFinished(check, p, result, at: at, monitor)
                case .scrapeDone(let key, let generation, let answer, let at):
                    guard let check = byKey[key], check.generation == generation, let f = check.inFlight,
                          case .scrape(let s) = check.kind else { continue }
                    check.inFlight = nil
                    scraped(ScrapeResult(target: s.name, duration: max(0, at - f.started), answer: answer))
                case .heartbeatDone(let key, let generation, let beat):
                    guard let check = byKey[key], check.generation == generation, check.inFlight != nil else { continue }
                    check.inFlight = nil
                    if beat != check.lastBeat {
                        switch beat {
                        case .sent: log.info("heartbeat sent", [:])
                        case .failed(let why): log.warning("heartbeat failed", ["error": why])
                        case .held(let why): log.warning("heartbeat held: vigil is not well", ["reason": why])
                        }
                        check.lastBeat = beat
                    }
                case .resolved(let key, let generation, let resolution):
                    guard let check = byKey[key], check.generation == generation, check.inFlight != nil,
                          case .probe(let p) = check.kind else { continue }
                    connect(check, p, resolution, monitor)
                }
            }
            var now = clock.ticks()
            for check in checks where check.due <= now + Loop.slack {
                if check.inFlight == nil { runCheck(check, now: now, monitor) }
                // A check still waiting skips this turn; the schedule keeps its phase.
                check.due += check.interval * max(1, (now - check.due) / check.interval + 1)
                push(check, monitor)
            }
            now = clock.ticks()
            for check in checks {
                guard let f = check.inFlight, f.deadline <= now else { continue }
                f.cancel?() // stops a GET still running; its late answer is dropped by generation
                switch check.kind {
                case .probe(let p):
                    finish(check, p, up: false, at: now, error: "timed out after \(seconds(p.timeout))", monitor)
                case .scrape(let s):
                    check.inFlight = nil
                    check.generation += 1
                    scraped(ScrapeResult(target: s.name, duration: now - f.started, answer: .failed("no answer after \(seconds(now - f.started))")))
                case .heartbeat:
                    check.inFlight = nil
                    check.generation += 1
                case .watch, .system:
                    break
                }
            }

            if !pending.isEmpty {
                emit(pending)
                pending.removeAll(keepingCapacity: true)
            }

            pollSet.removeAll(keepingCapacity: true)
            polled.removeAll(keepingCapacity: true)
            pollSet.append(pollfd(fd: monitor.wakeFD, events: Int16(POLLIN), revents: 0))
            var wakeAt = Int64.max
            for check in checks {
                wakeAt = min(wakeAt, check.due)
                if let f = check.inFlight {
                    wakeAt = min(wakeAt, f.deadline)
                    if f.fd >= 0 {
                        pollSet.append(pollfd(fd: f.fd, events: Int16(POLLOUT), revents: 0))
                        polled.append(check)
                    }
                }
            }
            // In real time; a manual clock's waits end when it is moved (its wake-up reaches the pipe).
            let waitNs = wakeAt == .max || clock.movesByHand ? 3_600_000_000_000 : max(0, wakeAt - clock.ticks())
            let waitMs = Int32(min((waitNs + 999_999) / 1_000_000, 3_600_000))
            let n = poll(&pollSet, nfds_t(pollSet.count), waitMs)
            guard n > 0 else { continue }
            let at = clock.ticks()
            for (i, check) in polled.enumerated() where pollSet[i + 1].revents != 0 {
                guard var f = check.inFlight, f.fd == pollSet[i + 1].fd, case .probe(let p) = check.kind else { continue }
                let error = TCPConnect.outcome(f.fd)
                close(f.fd)
                f.fd = -1
                check.inFlight = f
                if let error {
                    check.inFlight?.lastError = error
                    tryNextAddress(check, p, monitor)
                } else {
                    finish(check, p, up: true, at: at, error: nil, monitor)
                }
            }
        }
    }

    // MARK: - Configuration

    func reconfigure(_ config: Surroundings, _ monitor: Monitor) {
        var next: [Check] = []
        var nextByKey: [String: Check] = [:]
        let now = clock.ticks()
        func place(_ key: String, _ kind: Check.Kind, interval: Int64, same: (Check.Kind) -> Bool) {
            let check: Check
            if let old = byKey[key], same(old.kind) {
                check = old
            } else {
                // The first check comes soon, spread over up to a second so probes do not fire together.
                check = Check(key: key, kind: kind, due: now + Int64.random(in: 0..<max(1, min(interval, 1_000_000_000))))
                if case .probe(let p) = kind { check.probeStatus = Monitor.ProbeStatus(p) }
                if case .watch(let w) = kind { check.watchStatus = Monitor.WatchStatus(name: w.name) }
            }
            next.append(check)
            nextByKey[key] = check
        }
        for p in config.probes {
            place("probe " + p.name, .probe(p), interval: p.interval) { if case .probe(let o) = $0 { o == p } else { false } }
        }
        for w in config.watches {
            place("watch " + w.name, .watch(w), interval: w.interval) { if case .watch(let o) = $0 { o == w } else { false } }
        }
        if let s = config.system {
            place("system", .system(s), interval: s.interval) { if case .system(let o) = $0 { o == s } else { false } }
        }
        for s in config.scrapes {
            place("scrape " + s.name, .scrape(s), interval: s.interval) { if case .scrape(let o) = $0 { o == s } else { false } }
        }
        if let h = config.heartbeat {
            place("heartbeat", .heartbeat(h), interval: h.interval) { if case .heartbeat(let o) = $0 { o == h } else { false } }
        }
        for check in checks where nextByKey[check.key] !== check { cancel(check) }
        checks = next
        byKey = nextByKey
        // The status lists, rebuilt whole; from here on each check updates its own entry.
        var probes: [Monitor.ProbeStatus] = [], watches: [Monitor.WatchStatus] = []
        for check in checks {
            if var s = check.probeStatus {
                check.statusIndex = probes.count
                s.nextCheck = wall(check.due)
                probes.append(s)
            } else if let s = check.watchStatus {
                check.statusIndex = watches.count
                watches.append(s)
            }
        }
        monitor.publish(probes, watches)
    }

    func cancel(_ check: Check) {
        if let f = check.inFlight {
            if f.fd >= 0 { close(f.fd) }
            f.cancel?()
        }
        check.inFlight = nil
        check.generation += 1
    }

    /// Updates the check's entry in the status lists.
    func push(_ check: Check, _ monitor: Monitor) {
        if var s = check.probeStatus {
            s.nextCheck = wall(check.due)
            monitor.setProbe(check.statusIndex, s)
        } else if let s = check.watchStatus {
            monitor.setWatch(check.statusIndex, s)
        }
    }

    func wall(_ mono: Int64) -> Date { Date().addingTimeInterval(Double(mono - clock.ticks()) / 1e9) }

    // MARK: - Running checks

    func runCheck(_ check: Check, now: Int64, _ monitor: Monitor) {
        let key = check.key
        check.generation += 1
        switch check.kind {
        case .probe(let p):
            check.inFlight = InFlight(started: now, deadline: now + p.timeout)
            switch p.target {
            case .http(let url):
                let generation = check.generation, clock = self.clock
                check.inFlight?.cancel = HTTPClient.get(url, timeout: p.timeout, on: check.queue) { result in
                    monitor.post(.httpDone(key: key, generation: generation, result, at: clock.ticks()))
                }
            case .tcp(let host, let port):
                let resolution = TCPConnect.resolveNumeric(p.target)
                if resolution == .needsLookup {
                    let generation = check.generation
                    check.queue.async {
                        monitor.post(.resolved(key: key, generation: generation, TCPConnect.lookup(host: host, port: port, numericOnly: false)))
                    }
                } else {
                    connect(check, p, resolution, monitor)
                }
            case .unix:
                connect(check, p, TCPConnect.resolveNumeric(p.target), monitor)
            }
        case .watch(let w):
            watch(check, w, now: now)
        case .system(let s):
            system(check, s, now: now)
        case .heartbeat(let h):
            beat(check, h, now: now, monitor)
        case .scrape(let s):
            // libcurl holds the timeout; the deadline only keeps a lost answer from blocking the schedule.
            check.inFlight = InFlight(started: now, deadline: now.addingSaturated(s.timeout).addingSaturated(5_000_000_000))
            let generation = check.generation, clock = self.clock
            let flag = CancelFlag()
            check.inFlight?.cancel = { flag.set() }
            check.queue.async {
                let answer: ScrapeResult.Answer
                switch HTTPClient.request("GET", s.url, headers: [Loop.scrapeAccept], timeout: s.timeout, maxBody: Loop.maxScrapeBytes, cancel: flag) {
                case .success(let a): answer = .answered(status: a.status, contentType: a.contentType, body: a.body)
                case .failure(let f): answer = .failed(f.result == .timeout ? "timed out after \(seconds(s.timeout))" : f.result.description)
                }
                monitor.post(.scrapeDone(key: key, generation: generation, answer, at: clock.ticks()))
            }
        }
    }

    /// A heartbeat's turn, off the monitor thread: asks the core whether vigil is well (it may
    /// not answer: that is the point), then GETs the ping URL.
    func beat(_ check: Check, _ h: Surroundings.Heartbeat, now: Int64, _ monitor: Monitor) {
        check.inFlight = InFlight(started: now, deadline: now.addingSaturated(h.timeout).addingSaturated(5_000_000_000))
        let key = check.key, generation = check.generation, healthy = self.healthy
        let flag = CancelFlag()
        check.inFlight?.cancel = { flag.set() }
        check.queue.async {
            let beat: Monitor.Heartbeat
            if let why = healthy(h.interval) {
                beat = .held(why)
            } else {
                switch HTTPClient.request("GET", h.url, timeout: h.timeout, cancel: flag) {
                case .success(let a) where (200..<300).contains(a.status): beat = .sent
                case .success(let a): beat = .failed("HTTP \(a.status)")
                case .failure(let f): beat = .failed(f.result.description)
                }
            }
            monitor.post(.heartbeatDone(key: key, generation: generation, beat))
        }
    }

    /// OpenMetrics first, then the text format, as Prometheus asks.
    static let scrapeAccept = "Accept: application/openmetrics-text;version=1.0.0;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
    /// The most of a scrape's answer read; a larger one fails the scrape.
    static let maxScrapeBytes = 16 << 20

    func connect(_ check: Check, _ p: Surroundings.Probe, _ resolution: TCPConnect.Resolution, _ monitor: Monitor) {
        switch resolution {
        case .addresses(let a):
            check.inFlight?.addresses = a
            tryNextAddress(check, p, monitor)
        case .failed(let why):
            finish(check, p, up: false, at: clock.ticks(), error: why, monitor)
        case .needsLookup:
            finish(check, p, up: false, at: clock.ticks(), error: "cannot resolve the host", monitor)
        }
    }

    /// Connects to the next address of the target; out of addresses, the probe is down with the
    /// last error.
    func tryNextAddress(_ check: Check, _ p: Surroundings.Probe, _ monitor: Monitor) {
        while var f = check.inFlight, !f.addresses.isEmpty {
            let address = f.addresses.removeFirst()
            check.inFlight = f
            switch TCPConnect.start(address) {
            case .connected(let fd):
                close(fd)
                finish(check, p, up: true, at: clock.ticks(), error: nil, monitor)
                return
            case .inProgress(let fd):
                check.inFlight?.fd = fd
                return
            case .failed(let why):
                check.inFlight?.lastError = why
            }
        }
        finish(check, p, up: false, at: clock.ticks(), error: check.inFlight?.lastError ?? "no address to connect to", monitor)
    }

    func httpFinished(_ check: Check, _ p: Surroundings.Probe, _ result: ProbeAnswer, at: Int64, _ monitor: Monitor) {
        switch result {
        case .status(let code):
            let up = p.expect.map { code == $0 } ?? (200...299).contains(code)
            finish(check, p, up: up, at: at, error: up ? nil : "HTTP \(code) (expected \(p.expect.map(String.init) ?? "2xx"))", monitor)
        case .timeout:
            finish(check, p, up: false, at: at, error: "timed out after \(seconds(p.timeout))", monitor)
        case .failed(let why):
            finish(check, p, up: false, at: at, error: why, monitor)
        }
    }

    func finish(_ check: Check, _ p: Surroundings.Probe, up: Bool, at: Int64, error: String?, _ monitor: Monitor) {
        guard let f = check.inFlight else { return }
        if f.fd >= 0 { close(f.fd) }
        check.inFlight = nil
        let duration = Double(max(0, at - f.started)) / 1e9
        let labels = [Label("probe", p.name)]
        pending.append(contentsOf: [
            Monitor.Reading("probe_up", labels, .number(up ? 1 : 0)),
            Monitor.Reading("probe_duration_seconds", labels, .number(duration)),
            Monitor.Reading("service_status", [Label("service", p.name)], .string(up ? "healthy" : "down")),
        ])
        let was = check.probeStatus?.up
        check.probeStatus?.up = up
        check.probeStatus?.lastCheck = Date()
        check.probeStatus?.lastDuration = duration
        check.probeStatus?.lastError = error
        var data = ["probe": p.name]
        if let error { data["cause"] = error }
        if was != up {
            var change = data
            change["target"] = check.probeStatus?.target
            change["critical"] = "\(p.critical)"
            log.log(up ? .info : .warning, up ? "probe up" : "probe down", change)
        }
        data["seconds"] = formatNumber(duration)
        log.debug("probe checked", data)
        push(check, monitor)
    }

    // MARK: - Watch and system

    func watch(_ check: Check, _ w: Surroundings.Watch, now: Int64) {
        let labels = [Label("process", w.name)]
        var found: (pid: Int32, process: ProcFS.Process)?
        var why: String?
        switch w.selector {
        case .pid(let pid):
            found = ProcFS.process(pid).map { (pid, $0) }
            if found == nil { why = "no process has pid \(pid)" }
        case .pidFile(let path):
            if let text = ProcFS.read(path), let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)), pid > 0 {
                found = ProcFS.process(pid).map { (pid, $0) }
                if found == nil { why = "no process has pid \(pid) (from \(path))" }
            } else {
                why = "cannot read a pid from \(path)"
            }
        case .command(let text):
            // The process seen last time, if it is still the same one; else a new search.
            if let pid = check.pid, let p = ProcFS.process(pid), p.startTicks == check.startTicks {
                found = (pid, p)
            } else if let pid = ProcFS.oldestProcess(commandContaining: text), let p = ProcFS.process(pid) {
                found = (pid, p)
            } else {
                why = "no process runs a command containing \"\(text)\""
            }
        }
        let wasUp = check.watchStatus?.up
        check.watchStatus?.lastCheck = Date()
        check.watchStatus?.lastError = why
        guard let (pid, p) = found else {
            check.watchStatus?.up = false
            check.watchStatus?.pid = nil
            if wasUp != false {
                log.warning("watched process is gone", ["watch": w.name, "pid": check.pid.map(String.init) ?? "", "cause": why ?? ""])
            }
            check.pid = nil
            check.startTicks = nil
            pending.append(Monitor.Reading("process_up", labels, .number(0)))
            return
        }
        if check.pid != pid || check.startTicks != p.startTicks {
            if let old = check.pid {
                log.warning("watched process restarted", ["watch": w.name, "old_pid": "\(old)", "pid": "\(pid)"])
            } else {
                log.info("watching a process", ["watch": w.name, "pid": "\(pid)"])
            }
            check.cpu = CPUSampler()
            check.lastReading = nil
        }
        check.pid = pid
        check.startTicks = p.startTicks
        check.watchStatus?.pid = pid
        check.watchStatus?.up = true
        let elapsed = check.lastReading.map { Double(now - $0) / 1e9 } ?? 0
        let cpu = check.cpu.percent(ticks: p.cpuTicks, elapsedSeconds: elapsed)
        check.lastReading = now
        var readings = [
            Monitor.Reading("process_up", labels, .number(1)),
            Monitor.Reading("process_rss_mb", labels, .number(Double(p.rssBytes) / 1_048_576)),
            Monitor.Reading("process_vms_mb", labels, .number(Double(p.vmsBytes) / 1_048_576)),
            Monitor.Reading("process_threads", labels, .number(Double(p.threads))),
            Monitor.Reading("process_open_fds", labels, .number(Double(p.openFDs))),
            Monitor.Reading("process_connections", labels, .number(Double(p.connections))),
        ]
        if let cpu { readings.append(Monitor.Reading("process_cpu_percent", labels, .number(cpu))) }
        pending += readings
    }

    func system(_ check: Check, _ s: Surroundings.System, now: Int64) {
        var readings: [Monitor.Reading] = []
        if let times = ProcFS.cpuTimes(), let cpu = check.hostCPU.percent(times) {
            readings.append(Monitor.Reading("cpu_percent", [], .number(cpu)))
        }
        if let used = ProcFS.memoryUsedBytes() { readings.append(Monitor.Reading("memory_usage_mb", [], .number(Double(used) / 1_048_576))) }
        for mount in s.mounts {
            if let pct = ProcFS.diskUsagePercent(mount) { readings.append(Monitor.Reading("disk_usage_percent", [Label("mount", mount)], .number(pct))) }
        }
        if let load = ProcFS.loadAverage() { readings.append(Monitor.Reading("load_average", [], .number(load))) }
        pending += readings
    }
}

private func seconds(_ ns: Int64) -> String { formatNumber(Double(ns) / 1e9) + "s" }

extension Surroundings.Probe {
    var kindName: String {
        switch target {
        case .tcp, .unix: "tcp"
        case .http: "http"
        }
    }
}

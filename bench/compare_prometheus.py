"""Flips a gauge and times each system's first webhook for it (see compare-prometheus.sh).

Flip i sets `flipper{flip="i"} 1` on a prometheus_client exporter and writes the same sample
to vigil's socket, at one instant t0; each system's rule is `flipper > 0`, and the receiver
(bench/receiver.c) notes when each system's webhook for flip i arrives. Then the flip's series goes away (0 for
vigil), and the next flip starts once all three have reported (or after a timeout). Every
child runs on 127.0.0.1 and is stopped at the end, whatever happens.
"""
import argparse, json, os, random, re, signal, socket, subprocess, sys, tempfile, threading, time

import prometheus_client

SYSTEMS = ["vigil", "prometheus_100ms", "prometheus_1s"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Arrivals:
    def __init__(self):
        self.lock = threading.Condition()
        self.times = {s: {} for s in SYSTEMS}

    def note(self, system, flip, at):
        with self.lock:
            self.times[system].setdefault(flip, at)
            self.lock.notify_all()

    def wait_all(self, flip, timeout):
        end = time.monotonic() + timeout
        with self.lock:
            while not all(flip in self.times[s] for s in SYSTEMS):
                left = end - time.monotonic()
                if left <= 0:
                    return False
                self.lock.wait(left)
        return True


class Receiver:
    """The shared receiver (bench/receiver.c): it stamps each arrival itself, with the clock
    time.monotonic() reads, so python's scheduling is in no system's latency."""

    def __init__(self, binary, arrivals, children):
        self.proc = subprocess.Popen([binary], stdout=subprocess.PIPE, text=True)
        children.append(self.proc)
        self.server_port = int(self.proc.stdout.readline())
        threading.Thread(target=self.read, args=(arrivals,), daemon=True).start()

    def read(self, arrivals):
        for line in self.proc.stdout:
            system, flip, at = line.split()
            if system in SYSTEMS:
                arrivals.note(system, int(flip), int(at) / 1e9)


def rss_mb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def wait_http(port, path, timeout=30):
    """True once GET path answers 200 (within `timeout` seconds)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(f"GET {path} HTTP/1.0\r\nHost: x\r\n\r\n".encode())
                if s.recv(64).split(b" ")[1:2] == [b"200"]:
                    return True
        except (OSError, IndexError):
            pass
        time.sleep(0.1)
    return False


def start_prometheus(work, name, interval, exporter_port, receiver_port, children):
    d = os.path.join(work, name)
    os.makedirs(d)
    am_port, prom_port = free_port(), free_port()
    with open(os.path.join(d, "am.yml"), "w") as f:
        f.write(f"""route:
  receiver: hook
  group_by: [flip]
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: hook
    webhook_configs:
      - url: http://127.0.0.1:{receiver_port}/{name}
        send_resolved: false
""")
    with open(os.path.join(d, "rules.yml"), "w") as f:
        f.write("groups:\n  - name: flip\n    rules:\n      - alert: Flip\n        expr: flipper > 0\n")
    with open(os.path.join(d, "prometheus.yml"), "w") as f:
        f.write(f"""global:
  scrape_interval: {interval}
  scrape_timeout: {interval}
  evaluation_interval: {interval}
rule_files: [rules.yml]
alerting:
  alertmanagers:
    - static_configs:
        - targets: ['127.0.0.1:{am_port}']
scrape_configs:
  - job_name: trader
    static_configs:
      - targets: ['127.0.0.1:{exporter_port}']
""")
    quiet = subprocess.DEVNULL
    am = subprocess.Popen(["prometheus-alertmanager", f"--config.file={d}/am.yml", f"--storage.path={d}/am",
                           f"--web.listen-address=127.0.0.1:{am_port}", "--cluster.listen-address="], stdout=quiet, stderr=quiet)
    children.append(am)
    prom = subprocess.Popen(["prometheus", f"--config.file={d}/prometheus.yml", f"--storage.tsdb.path={d}/tsdb",
                             f"--web.listen-address=127.0.0.1:{prom_port}"], stdout=quiet, stderr=quiet)
    children.append(prom)
    for port, what in [(am_port, "alertmanager"), (prom_port, "prometheus")]:
        if not wait_http(port, "/-/ready"):
            raise SystemExit(f"compare-prometheus: {name}'s {what} did not become ready on 127.0.0.1:{port}")
    return prom, am


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vigil", required=True)
    ap.add_argument("--receiver", required=True)
    ap.add_argument("--flips", type=int, default=200)
    args = ap.parse_args()
    # The exporter's thread renders every scrape holding the GIL; at the default 5 ms switch
    # interval a flip that comes during one waits up to 5 ms before it is written at all.
    sys.setswitchinterval(0.0001)
    arrivals = Arrivals()
    gauge = prometheus_client.Gauge("flipper", "flips for the comparison", ["flip"])
    exporter_port = free_port()
    prometheus_client.start_http_server(exporter_port, addr="127.0.0.1")
    children = []
    with tempfile.TemporaryDirectory(prefix="vigil-compare-") as work:
        try:
            hook = Receiver(args.receiver, arrivals, children)
            proms = {name: start_prometheus(work, name, interval, exporter_port, hook.server_port, children)
                     for name, interval in [("prometheus_1s", "1s"), ("prometheus_100ms", "100ms")]}
            sock = os.path.join(work, "trader.sock")
            with open(os.path.join(work, "vigil.conf"), "w") as f:
                f.write(f'channel hook {{ type webhook url "http://127.0.0.1:{hook.server_port}/vigil" }}\n')
            with open(os.path.join(work, "flip.rules"), "w") as f:
                f.write("metric flipper labels flip\nalert Flip { when flipper > 0; severity warning; notify hook; repeat never }\n")
            vigil = subprocess.Popen([args.vigil, "run", "--rules", os.path.join(work, "flip.rules"), "--config", os.path.join(work, "vigil.conf"),
                                      "--listen", f"unix:{sock}", "--http", f"127.0.0.1:{free_port()}", "--log-level", "error"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            children.append(vigil)
            trader = socket.socket(socket.AF_UNIX)
            for _ in range(100):
                try:
                    trader.connect(sock)
                    break
                except OSError:
                    time.sleep(0.05)
            time.sleep(3)  # every Prometheus has scraped the exporter and evaluated once
            latencies = {s: [] for s in SYSTEMS}
            missed = {s: 0 for s in SYSTEMS}
            warm = 3  # the first flips warm every path up; not counted
            for i in range(args.flips + warm):
                # A random phase: waiting for the slowest system would otherwise lock every flip
                # to the same point of the 1 s scrape cycle and hide its spread.
                time.sleep(random.uniform(0, 1))
                line = json.dumps({"metric": "flipper", "labels": {"flip": str(i)}, "value": 1}).encode() + b"\n"
                child = gauge.labels(str(i))
                t0 = time.monotonic()
                child.set(1)
                trader.sendall(line)
                arrivals.wait_all(i, 10)
                with arrivals.lock:
                    for s in SYSTEMS if i >= warm else []:
                        if i in arrivals.times[s]:
                            latencies[s].append((arrivals.times[s][i] - t0) * 1000)
                        else:
                            missed[s] += 1
                gauge.remove(str(i))
                trader.sendall(json.dumps({"metric": "flipper", "labels": {"flip": str(i)}, "value": 0}).encode() + b"\n")
            rss = {"vigil": rss_mb(vigil.pid)}
            for name, (prom, am) in proms.items():
                rss[name] = rss_mb(prom.pid) + rss_mb(am.pid)
        finally:
            for c in children:
                c.send_signal(signal.SIGTERM)
            for c in children:
                try:
                    c.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    c.kill()
                    c.wait()
    def pct(xs, q):
        xs = sorted(xs)
        return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else float("nan")
    stats = {}
    for s in SYSTEMS:
        stats[s] = {"median": pct(latencies[s], 0.5), "p90": pct(latencies[s], 0.9), "p99": pct(latencies[s], 0.99)}
        print(json.dumps({"system": s, "flips": args.flips, "detected": len(latencies[s]), "missed": missed[s],
                          "median_ms": round(stats[s]["median"], 2), "p90_ms": round(stats[s]["p90"], 2), "p99_ms": round(stats[s]["p99"], 2),
                          "rss_mb": round(rss[s], 1)}))
    for other in SYSTEMS[1:]:
        print(json.dumps({"ratio": f"{other}/vigil", **{k: round(stats[other][k] / stats["vigil"][k], 1) for k in ("median", "p90", "p99")},
                          "rss": round(rss[other] / rss["vigil"], 1)}))


if __name__ == "__main__":
    main()

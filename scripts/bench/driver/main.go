// Command driver runs ccrelay's overhead benchmark and prints a markdown table of ratios to
// the floor (a bare httputil.ReverseProxy). scripts/bench/run.sh builds the binaries and calls it.
//
// It starts the fake upstream(s), the floor, and ccrelay (with a generated config), then runs
// the load generator against each target — direct (the upstream itself), floor, ccrelay —
// interleaved round by round (the order rotates every round) so that machine drift cancels.
// Every process it starts is on loopback, is killed when the driver exits, and every load is
// bounded by a request count and a time limit; the whole run is bounded by -max-time.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ---------------------------------------------------------------- options

type options struct {
	mode        string
	bin         string
	ccrelay     string
	ccrelayNote string
	ccrelayCfg  string
	selfcheck   bool
	fixture     string
	workdir     string
	out, raw    string
	maxTime     time.Duration

	rounds      int
	seqN        int
	tputN       int
	chunks      int
	loadD       time.Duration
	events      int
	eventBytes  int
	pacedGap    time.Duration
	pacedEvents int
	pacedN      int
	openN       int
	openEvents  int
	openGap     time.Duration

	// The body-size sweep (sweep.go): cost per request against body size.
	sweep      bool
	sizes      string
	configs    string
	sweepModes string
}

func main() {
	var o options
	flag.StringVar(&o.mode, "mode", "quick", "preset: quick (~1-2 min) or full (~5-10 min); other flags override it")
	flag.StringVar(&o.bin, "bin", "", "directory holding the upstream, floor and load binaries (required)")
	flag.StringVar(&o.ccrelay, "ccrelay", "", "ccrelay binary (empty: run direct and floor only)")
	flag.StringVar(&o.ccrelayNote, "ccrelay-note", "", "why ccrelay is absent (printed in the report)")
	flag.StringVar(&o.ccrelayCfg, "ccrelay-config", "", "ccrelay config template (YAML) with {{LISTEN}}, {{UPSTREAM}}, {{KEY}}; default: the minimal one-provider config")
	flag.BoolVar(&o.selfcheck, "selfcheck", false, "also run a second floor as a candidate (A/A test: its ratios show the harness noise)")
	flag.StringVar(&o.fixture, "fixture", "fixtures/real-traffic/claude-code/claude-code-2.1.332__02-tool-roundtrip-req1.messages.json", "Claude Code request fixture")
	flag.StringVar(&o.workdir, "workdir", "", "directory for configs and process logs (default: a new temp dir)")
	flag.StringVar(&o.out, "out", "", "also write the markdown report to this file")
	flag.StringVar(&o.raw, "raw", "", "write every load report (JSON) to this file")
	flag.DurationVar(&o.maxTime, "max-time", 0, "time budget of the whole run; phases not started by then are skipped (default: quick 170s, full 600s)")
	flag.IntVar(&o.rounds, "rounds", 0, "rounds of the main phases (default: quick 3, full 5)")
	flag.IntVar(&o.seqN, "seq-n", 0, "requests of the sequential latency phases (default: quick 300, full 1000)")
	flag.IntVar(&o.tputN, "tput-n", 0, "requests of each throughput phase (default: quick 1500, full 5000)")
	flag.IntVar(&o.chunks, "chunks", 0, "throughput phases: chunks per round that alternate between targets (default: quick 3, full 5)")
	flag.DurationVar(&o.loadD, "d", 0, "time limit of each load (default: quick 5s, full 15s)")
	flag.IntVar(&o.events, "events", 20, "content_block_delta events per stream (fast upstream)")
	flag.IntVar(&o.eventBytes, "event-bytes", 100, "bytes of text per delta (fast upstream)")
	flag.DurationVar(&o.pacedGap, "paced-gap", 50*time.Millisecond, "gap between events of the paced upstream (incremental-delivery test)")
	flag.IntVar(&o.pacedEvents, "paced-events", 20, "events per stream of the paced upstream")
	flag.IntVar(&o.pacedN, "paced-n", 0, "streams per target in the incremental-delivery test (default: quick 8, full 24)")
	flag.IntVar(&o.openN, "open", 1000, "concurrent open streams in the memory test (0: skip)")
	flag.IntVar(&o.openEvents, "open-events", 0, "events per stream of the slow upstream (default: quick 10, full 20)")
	flag.DurationVar(&o.openGap, "open-gap", 500*time.Millisecond, "gap between events of the slow upstream")
	flag.BoolVar(&o.sweep, "sweep", false, "run the body-size sweep instead of the main table (implied by -sizes and -configs)")
	flag.StringVar(&o.sizes, "sizes", "", "sweep: long-session body sizes, comma-separated: 49k (the recorded first turn as is), 250k, 1m or any size with a k/m suffix (default 49k,250k,1m)")
	flag.StringVar(&o.configs, "configs", "", "sweep: ccrelay configs, comma-separated: single (one provider), chain (the seed's anthropic, zai, ollama) or the path of a template (default single,chain)")
	flag.StringVar(&o.sweepModes, "sweep-modes", "stream", "sweep: request modes, comma-separated: stream (Claude Code's) and/or json")
	flag.Parse()
	if o.sizes != "" || o.configs != "" {
		o.sweep = true
	}

	switch o.mode {
	case "quick":
		def(&o.rounds, 3)
		def(&o.seqN, 300)
		def(&o.tputN, 1500)
		def(&o.chunks, 3)
		defD(&o.loadD, 5*time.Second)
		def(&o.pacedN, 8)
		def(&o.openEvents, 10)
		defD(&o.maxTime, 170*time.Second)
	case "full":
		def(&o.rounds, 5)
		def(&o.seqN, 1000)
		def(&o.tputN, 5000)
		def(&o.chunks, 5)
		defD(&o.loadD, 15*time.Second)
		def(&o.pacedN, 24)
		def(&o.openEvents, 20)
		defD(&o.maxTime, 600*time.Second)
	default:
		fatalf("-mode must be quick or full")
	}
	if o.bin == "" {
		fatalf("-bin is required (run scripts/bench/run.sh)")
	}
	if o.workdir == "" {
		dir, err := os.MkdirTemp("", "ccrelay-bench-")
		if err != nil {
			fatalf("%v", err)
		}
		o.workdir = dir
	}
	if err := os.MkdirAll(o.workdir, 0o755); err != nil {
		fatalf("%v", err)
	}

	d := &driver{o: o, start: time.Now(), deadline: time.Now().Add(o.maxTime)}
	if o.sweep {
		if err := d.parseSweep(); err != nil {
			fatalf("%v", err)
		}
	}
	// Safety: whatever happens, the children die with us, and we die shortly after the budget.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		s := <-sig
		d.killAll()
		fmt.Fprintf(os.Stderr, "driver: %v: stopped all processes\n", s)
		os.Exit(130)
	}()
	time.AfterFunc(o.maxTime+90*time.Second, func() {
		d.killAll()
		fmt.Fprintf(os.Stderr, "driver: hard time limit (%v) exceeded: stopped all processes\n", o.maxTime+90*time.Second)
		os.Exit(3)
	})

	run := d.run
	if o.sweep {
		run = d.runSweep
	}
	code := run()
	d.killAll()
	os.Exit(code)
}

func def(p *int, v int) {
	if *p == 0 {
		*p = v
	}
}

func defD(p *time.Duration, v time.Duration) {
	if *p == 0 {
		*p = v
	}
}

func fatalf(f string, a ...any) {
	fmt.Fprintf(os.Stderr, "driver: "+f+"\n", a...)
	os.Exit(2)
}

func logf(f string, a ...any) {
	fmt.Fprintf(os.Stderr, "[bench %s] "+f+"\n", append([]any{time.Now().Format("15:04:05")}, a...)...)
}

// ---------------------------------------------------------------- processes

type child struct {
	name string
	cmd  *exec.Cmd
	addr string
	log  string
	done chan struct{}
	err  error
}

type driver struct {
	o        options
	loadavg0 string
	start    time.Time
	deadline time.Time
	skipped  []string

	mu       sync.Mutex
	children []*child
	dropped  map[string]string // candidates dropped in an earlier environment

	raw []rawEntry

	sw sweepPlan
}

func (d *driver) bin(name string) string { return filepath.Join(d.o.bin, name) }

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// spawn starts a process whose listen address is addr and waits until it accepts connections.
func (d *driver) spawn(name, addr, path string, args ...string) (*child, error) {
	logPath := filepath.Join(d.o.workdir, name+".log")
	lf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(path, args...)
	cmd.Stdout = lf
	cmd.Stderr = lf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	c := &child{name: name, cmd: cmd, addr: addr, log: logPath, done: make(chan struct{})}
	runtime.LockOSThread() // Pdeathsig follows the thread that started the child
	err = cmd.Start()
	runtime.UnlockOSThread()
	if err != nil {
		lf.Close()
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	go func() {
		c.err = cmd.Wait()
		lf.Close()
		close(c.done)
	}()
	d.mu.Lock()
	d.children = append(d.children, c)
	d.mu.Unlock()

	limit := time.Now().Add(15 * time.Second)
	for {
		select {
		case <-c.done:
			return nil, fmt.Errorf("%s exited at startup (%v): %s", name, c.err, tail(logPath, 600))
		default:
		}
		conn, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			conn.Close()
			return c, nil
		}
		if time.Now().After(limit) {
			d.stop(c)
			return nil, fmt.Errorf("%s did not listen on %s within 15s: %s", name, addr, tail(logPath, 600))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (d *driver) stop(c *child) {
	if c == nil {
		return
	}
	select {
	case <-c.done:
		return
	default:
	}
	_ = syscall.Kill(c.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(3 * time.Second):
		_ = syscall.Kill(c.cmd.Process.Pid, syscall.SIGKILL)
		<-c.done
	}
}

func (d *driver) killAll() {
	d.mu.Lock()
	cs := append([]*child(nil), d.children...)
	d.mu.Unlock()
	for _, c := range cs {
		select {
		case <-c.done:
		default:
			_ = syscall.Kill(c.cmd.Process.Pid, syscall.SIGKILL)
		}
	}
}

func (c *child) pid() int { return c.cmd.Process.Pid }

func tail(path string, n int) string {
	b, _ := os.ReadFile(path)
	if len(b) > n {
		b = b[len(b)-n:]
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "(no output)"
	}
	return s
}

func memKB(pid int, key string) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && k == key {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return 0
}

// ---------------------------------------------------------------- targets

type target struct {
	name   string // direct, floor, ccrelay, floor-b
	kind   string // direct, floor, ccrelay
	url    string
	proc   *child // nil for direct
	broken string // why the target was dropped
}

func (t *target) pid() int {
	if t.proc == nil {
		return 0
	}
	return t.proc.pid()
}

// env is one upstream and the relays in front of it.
type env struct {
	name     string
	upstream *child
	targets  []*target
	fixture  string // the request record the loads send; "" means -fixture
	config   string // ccrelay's config template; "" means -ccrelay-config or the default
}

func (d *driver) startUpstream(name string, args ...string) (*child, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	return d.spawn(name, addr, d.bin("upstream"), append([]string{"-listen", addr, "-max-lifetime", (d.o.maxTime + 2*time.Minute).String()}, args...)...)
}

const defaultCcrelayConfig = `server:
  listen: "{{LISTEN}}"
providers:
  - name: "fake"
    type: "anthropic"
    base_url: "{{UPSTREAM}}"
    keys:
      - key: "{{KEY}}"
`

func (d *driver) startRelay(envName, kind, name string, up *child, cfgTmpl string) (*target, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	upURL := "http://" + up.addr
	pname := envName + "-" + name
	var c *child
	switch kind {
	case "floor":
		c, err = d.spawn(pname, addr, d.bin("floor"), "-listen", addr, "-upstream", upURL, "-key", "bench-key",
			"-max-lifetime", (d.o.maxTime + 2*time.Minute).String())
	case "ccrelay":
		tmpl := defaultCcrelayConfig
		if cfgTmpl != "" {
			tmpl = cfgTmpl
		} else if d.o.ccrelayCfg != "" {
			b, rerr := os.ReadFile(d.o.ccrelayCfg)
			if rerr != nil {
				return nil, rerr
			}
			tmpl = string(b)
		}
		cfg := strings.NewReplacer("{{LISTEN}}", addr, "{{UPSTREAM}}", upURL, "{{KEY}}", "bench-key").Replace(tmpl)
		cfgPath := filepath.Join(d.o.workdir, pname+".yaml")
		if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
			return nil, err
		}
		c, err = d.spawn(pname, addr, d.o.ccrelay, "serve", "--config", cfgPath, "--listen", addr)
	}
	if err != nil {
		return nil, err
	}
	return &target{name: name, kind: kind, url: "http://" + addr, proc: c}, nil
}

// startEnv starts an upstream with args and every target in front of it.
func (d *driver) startEnv(name string, upArgs ...string) (*env, error) {
	return d.startEnvWith(name, "", "", upArgs...)
}

// startEnvWith is startEnv with the request record the loads send and ccrelay's config
// template ("" for the defaults).
func (d *driver) startEnvWith(name, fixture, cfgTmpl string, upArgs ...string) (*env, error) {
	up, err := d.startUpstream(name+"-upstream", upArgs...)
	if err != nil {
		return nil, err
	}
	e := &env{name: name, upstream: up, fixture: fixture, config: cfgTmpl}
	e.targets = append(e.targets, &target{name: "direct", kind: "direct", url: "http://" + up.addr})
	for _, cand := range d.relays() {
		if why, ok := d.dropped[cand.name]; ok {
			e.targets = append(e.targets, &target{name: cand.name, kind: cand.kind, broken: why})
			continue
		}
		t, err := d.startRelay(name, cand.kind, cand.name, up, cfgTmpl)
		if err != nil {
			t = &target{name: cand.name, kind: cand.kind, broken: err.Error()}
			logf("%s: %s not started: %v", name, cand.name, err)
		}
		e.targets = append(e.targets, t)
	}
	return e, nil
}

func (d *driver) stopEnv(e *env) {
	for _, t := range e.targets {
		d.stop(t.proc)
	}
	d.stop(e.upstream)
}

type relaySpec struct{ kind, name string }

func (d *driver) relays() []relaySpec {
	rs := []relaySpec{{"floor", "floor"}}
	if d.o.ccrelay != "" {
		rs = append(rs, relaySpec{"ccrelay", "ccrelay"})
	}
	if d.o.selfcheck {
		rs = append(rs, relaySpec{"floor", "floor-b"})
	}
	return rs
}

// candidates are the targets compared to the floor.
func (d *driver) candidates() []string {
	var cs []string
	for _, r := range d.relays()[1:] {
		cs = append(cs, r.name)
	}
	if d.o.ccrelay == "" {
		cs = append([]string{"ccrelay"}, cs...)
	}
	return cs
}

// ---------------------------------------------------------------- load runs

// report is the part of the load generator's JSON report the driver uses.
type report struct {
	round       int            // set by the driver
	Label       string         `json:"label"`
	ElapsedSec  float64        `json:"elapsed_sec"`
	Mode        string         `json:"mode"`
	BodyBytes   int            `json:"body_bytes"`
	Concurrency int            `json:"concurrency"`
	Sent        int            `json:"sent"`
	OK          int            `json:"ok"`
	Errors      int            `json:"errors"`
	ErrorKinds  map[string]int `json:"error_kinds"`
	ErrorSample []string       `json:"error_samples"`
	StoppedBy   string         `json:"stopped_by"`
	RPS         float64        `json:"rps"`
	Latency     dist           `json:"latency"`
	TTFB        dist           `json:"ttfb"`
	FirstEvent  dist           `json:"first_event"`
	Gap         dist           `json:"gap"`
	GapsBunched int            `json:"gaps_bunched"`
	AllOpen     bool           `json:"all_open"`
	Procs       []procReport   `json:"procs"`
}

type dist struct {
	N   int     `json:"n"`
	P50 float64 `json:"p50_ms"`
	P90 float64 `json:"p90_ms"`
	P99 float64 `json:"p99_ms"`
	Max float64 `json:"max_ms"`
}

type procReport struct {
	Name          string  `json:"name"`
	CPUSec        float64 `json:"cpu_sec"`
	CPUPerReqUS   float64 `json:"cpu_per_req_us"`
	RSSBeforeKB   int64   `json:"rss_before_kb"`
	RSSPeakKB     int64   `json:"rss_peak_kb"`
	RSSAllOpenKB  int64   `json:"rss_all_open_kb"`
	HWMKB         int64   `json:"hwm_kb"`
	GrowthPerOpen float64 `json:"growth_per_open_kb"`
}

// merge sums the chunks of one target's throughput phase: req/s = requests / time and CPU per
// request = CPU / requests over all chunks; latency percentiles are the chunks' medians.
func merge(rs []*report) *report {
	if len(rs) == 1 {
		return rs[0]
	}
	m := *rs[0]
	m.ErrorKinds = map[string]int{}
	m.Sent, m.OK, m.Errors, m.ElapsedSec = 0, 0, 0, 0
	var p50, p99, max_ []float64
	cpu := map[string]float64{}
	for _, r := range rs {
		m.Sent += r.Sent
		m.OK += r.OK
		m.Errors += r.Errors
		m.ElapsedSec += r.ElapsedSec
		for k, v := range r.ErrorKinds {
			m.ErrorKinds[k] += v
		}
		if len(m.ErrorSample) < 5 {
			m.ErrorSample = append(m.ErrorSample, r.ErrorSample...)
		}
		if r.StoppedBy == "time" {
			m.StoppedBy = "time"
		}
		p50 = append(p50, r.Latency.P50)
		p99 = append(p99, r.Latency.P99)
		max_ = append(max_, r.Latency.Max)
		for _, p := range r.Procs {
			cpu[p.Name] += p.CPUSec
		}
	}
	if m.ElapsedSec > 0 {
		m.RPS = float64(m.OK) / m.ElapsedSec
	}
	m.Latency.P50, m.Latency.P99 = median(p50), median(p99)
	m.Latency.Max = slicesMax(max_)
	m.Procs = append([]procReport(nil), rs[len(rs)-1].Procs...)
	for i := range m.Procs {
		m.Procs[i].CPUSec = cpu[m.Procs[i].Name]
		if m.OK > 0 {
			m.Procs[i].CPUPerReqUS = m.Procs[i].CPUSec / float64(m.OK) * 1e6
		}
	}
	return &m
}

func slicesMax(v []float64) float64 {
	m := math.Inf(-1)
	for _, x := range v {
		m = math.Max(m, x)
	}
	return m
}

func (r *report) proc(name string) *procReport {
	for i := range r.Procs {
		if r.Procs[i].Name == name {
			return &r.Procs[i]
		}
	}
	return nil
}

type rawEntry struct {
	Env    string          `json:"env"`
	Phase  string          `json:"phase"`
	Round  int             `json:"round"`
	Target string          `json:"target"`
	Args   []string        `json:"args"`
	Report json.RawMessage `json:"report,omitempty"`
	Error  string          `json:"error,omitempty"`
}

type loadSpec struct {
	mode         string
	c, n, warmup int
	d            time.Duration
	expectEvents int
	expectGap    time.Duration
}

func (d *driver) load(e *env, t *target, phase string, round int, s loadSpec) (*report, error) {
	m, err := d.loadMany(e, []*target{t}, phase, round, s)
	if err != nil {
		return nil, err
	}
	return m[t.name], nil
}

// loadMany runs the load generator once. With several targets it alternates requests
// between them (the loader's interleaved mode) and the process statistics are not measured.
func (d *driver) loadMany(e *env, ts []*target, phase string, round int, s loadSpec) (map[string]*report, error) {
	grace := 5 * time.Second
	var urls, labels []string
	for _, t := range ts {
		urls = append(urls, t.url)
		labels = append(labels, t.name)
	}
	fixture := d.o.fixture
	if e.fixture != "" {
		fixture = e.fixture
	}
	args := []string{"-json", "-url", strings.Join(urls, ","), "-fixture", fixture, "-label", strings.Join(labels, ","),
		"-mode", s.mode, "-c", strconv.Itoa(s.c), "-n", strconv.Itoa(s.n), "-d", s.d.String(),
		"-grace", grace.String(), "-warmup", strconv.Itoa(s.warmup)}
	if s.expectEvents > 0 {
		args = append(args, "-expect-events", strconv.Itoa(s.expectEvents))
	}
	if s.expectGap > 0 {
		args = append(args, "-expect-gap", s.expectGap.String())
	}
	if len(ts) == 1 {
		pids := "upstream=" + strconv.Itoa(e.upstream.pid())
		if ts[0].proc != nil {
			pids = "relay=" + strconv.Itoa(ts[0].pid()) + "," + pids
		}
		args = append(args, "-pids", pids)
	}

	// The warm-up has its own -d, so the loader may take up to 2×(d+grace).
	ctx, cancel := context.WithTimeout(context.Background(), 2*(s.d+grace)+15*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, d.bin("load"), args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	entry := rawEntry{Env: e.name, Phase: phase, Round: round, Target: strings.Join(labels, ","), Args: args}
	var reps []*report
	if err == nil {
		out := bytes.TrimSpace(stdout.Bytes())
		if len(ts) == 1 {
			var r report
			err = json.Unmarshal(out, &r)
			reps = []*report{&r}
		} else {
			err = json.Unmarshal(out, &reps)
		}
		if err == nil && len(reps) != len(ts) {
			err = fmt.Errorf("%d reports for %d targets", len(reps), len(ts))
		}
	}
	if err != nil {
		err = fmt.Errorf("load %s/%s: %v: %s", phase, entry.Target, err, strings.TrimSpace(stderr.String()))
		entry.Error = err.Error()
		d.raw = append(d.raw, entry)
		return nil, err
	}
	entry.Report = json.RawMessage(bytes.TrimSpace(stdout.Bytes()))
	d.raw = append(d.raw, entry)
	m := map[string]*report{}
	for i, t := range ts {
		m[t.name] = reps[i]
	}
	return m, nil
}

func (d *driver) timeLeft() bool { return time.Now().Before(d.deadline) }

// ---------------------------------------------------------------- the run

// results holds, per phase and target, one report per round.
type results map[string]map[string][]*report

func (rs results) add(phase, target string, round int, r *report) {
	r.round = round
	if rs[phase] == nil {
		rs[phase] = map[string][]*report{}
	}
	rs[phase][target] = append(rs[phase][target], r)
}

type mainPhase struct {
	name        string
	spec        loadSpec
	interleaved bool // all targets in one loader run, requests alternated
}

func (d *driver) run() int {
	o := d.o
	d.loadavg0 = loadavg()
	if la, _ := strconv.ParseFloat(strings.Fields(d.loadavg0 + " 0")[0], 64); la > float64(runtime.NumCPU()) {
		logf("warning: load average %s is above the %d CPUs: other work on the machine will add noise", d.loadavg0, runtime.NumCPU())
	}
	logf("mode %s: %d rounds, seq %d req, throughput %d req, load limit %v, budget %v; workdir %s",
		o.mode, o.rounds, o.seqN, o.tputN, o.loadD, o.maxTime, o.workdir)
	if o.ccrelay == "" {
		logf("ccrelay: not measured (%s)", orDefault(o.ccrelayNote, "no binary given"))
	}

	res := results{}
	hwm := map[string]int64{}
	notes := []string{}
	var bodyBytes [2]int

	// ---- main environment: fast upstream.
	mainEnv, err := d.startEnv("main", "-events", strconv.Itoa(o.events), "-bytes", strconv.Itoa(o.eventBytes))
	if err != nil {
		logf("cannot start the upstream: %v", err)
		return 1
	}
	d.sanity(mainEnv, o.events)
	d.dropped = map[string]string{}
	for _, t := range mainEnv.targets {
		if t.broken != "" {
			d.dropped[t.name] = t.broken
			d.stop(t.proc)
		}
	}

	phases := []mainPhase{
		{"seq-json", loadSpec{mode: "json", c: 1, n: o.seqN, warmup: 20, d: o.loadD}, true},
		{"seq-stream", loadSpec{mode: "stream", c: 1, n: o.seqN, warmup: 20, d: o.loadD, expectEvents: o.events}, true},
		{"c10-json", loadSpec{mode: "json", c: 10, n: o.tputN, warmup: 40, d: o.loadD}, false},
		{"c64-json", loadSpec{mode: "json", c: 64, n: o.tputN, warmup: 128, d: o.loadD}, false},
		{"c64-stream", loadSpec{mode: "stream", c: 64, n: o.tputN, warmup: 128, d: o.loadD, expectEvents: o.events}, false},
	}
	live := liveTargets(mainEnv)
	// Keep time for the incremental-delivery and open-streams tests that follow.
	n := time.Duration(len(live))
	tail := time.Duration((o.pacedN+3)/4*o.pacedEvents)*o.pacedGap + 2*time.Second
	if o.openN > 0 {
		tail += n * (time.Duration(o.openEvents)*o.openGap + 4*time.Second)
	}
	mainDeadline := d.deadline.Add(-tail)
	d.runRounds(mainEnv, live, phases, mainDeadline, res, "main", "", &bodyBytes)
	for _, t := range mainEnv.targets {
		if t.proc != nil {
			hwm[t.name] = memKB(t.pid(), "VmHWM")
		}
	}
	d.stopEnv(mainEnv)

	// ---- incremental delivery: paced upstream.
	if d.timeLeft() {
		pe, err := d.startEnv("paced", "-events", strconv.Itoa(o.pacedEvents), "-bytes", strconv.Itoa(o.eventBytes), "-gap", o.pacedGap.String())
		if err != nil {
			logf("paced: %v", err)
			notes = append(notes, "paced test not run: "+err.Error())
		} else {
			// All targets at once (4 streams each, requests alternated): the load is light, and a
			// stall of the machine then hits every target alike.
			ts := liveTargets(pe)
			m, err := d.loadMany(pe, ts, "paced", 1, loadSpec{mode: "stream", c: 4 * len(ts), n: o.pacedN, warmup: 0,
				d: time.Duration(o.pacedN/4+2) * time.Duration(o.pacedEvents) * o.pacedGap * 2, expectEvents: o.pacedEvents, expectGap: o.pacedGap})
			if err != nil {
				logf("%v", err)
			}
			for _, t := range ts {
				r := m[t.name]
				if r == nil {
					continue
				}
				res.add("paced", t.name, 1, r)
				logf("paced      %s: gap p50 %.2fms p99 %.2fms max %.2fms bunched %d/%d, first event p50 %.2fms, errors %d",
					t.name, r.Gap.P50, r.Gap.P99, r.Gap.Max, r.GapsBunched, r.Gap.N, r.FirstEvent.P50, r.Errors)
			}
			d.stopEnv(pe)
		}
	} else {
		d.skipped = append(d.skipped, "incremental-delivery test (time budget)")
	}

	// ---- open streams: slow upstream, fresh relays.
	openHWM := map[string]int64{}
	if o.openN > 0 && d.timeLeft() {
		oe, err := d.startEnv("open", "-events", strconv.Itoa(o.openEvents), "-bytes", strconv.Itoa(o.eventBytes), "-gap", o.openGap.String())
		if err != nil {
			logf("open: %v", err)
			notes = append(notes, "open-streams test not run: "+err.Error())
		} else {
			hold := time.Duration(o.openEvents) * o.openGap
			for _, t := range liveTargets(oe) {
				if !d.timeLeft() {
					d.skipped = append(d.skipped, "open streams for "+t.name+" (time budget)")
					continue
				}
				r, err := d.load(oe, t, "open", 1, loadSpec{mode: "stream", c: o.openN, n: o.openN, warmup: 0,
					d: hold + 20*time.Second, expectEvents: o.openEvents})
				if err != nil {
					logf("%v", err)
					continue
				}
				res.add("open", t.name, 1, r)
				if t.proc != nil {
					openHWM[t.name] = memKB(t.pid(), "VmHWM")
				}
				msg := fmt.Sprintf("open       %s: %d streams ok %d errors %d, all open at once %v", t.name, o.openN, r.OK, r.Errors, r.AllOpen)
				if p := r.proc("relay"); p != nil {
					msg += fmt.Sprintf(", rss %d -> %d kB (%.1f kB/stream)", p.RSSBeforeKB, p.RSSAllOpenKB, p.GrowthPerOpen)
				}
				if r.Errors > 0 {
					msg += fmt.Sprintf(" %v %v", r.ErrorKinds, r.ErrorSample)
				}
				logf("%s", msg)
				// Let the upstream drain and the next relay start from a quiet machine.
				time.Sleep(500 * time.Millisecond)
			}
			d.stopEnv(oe)
		}
	} else if o.openN > 0 {
		d.skipped = append(d.skipped, "open-streams test (time budget)")
	}

	md := d.table(res, hwm, openHWM, bodyBytes, mainEnv, notes)
	fmt.Print(md)
	code := 0
	if d.o.out != "" {
		if err := os.WriteFile(d.o.out, []byte(md), 0o644); err != nil {
			logf("writing %s: %v", d.o.out, err)
			code = 1
		} else {
			logf("report written to %s", d.o.out)
		}
	}
	if d.o.raw != "" {
		b, _ := json.MarshalIndent(d.raw, "", " ")
		if err := os.WriteFile(d.o.raw, b, 0o644); err != nil {
			logf("writing %s: %v", d.o.raw, err)
		}
	}
	logf("done in %v", time.Since(d.start).Round(time.Second))
	if len(d.dropped) > 0 && code == 0 {
		code = 4 // a target that was started could not be measured
	}
	return code
}

// runRounds runs phases round by round against the live targets of e (the method of the main
// table: interleaved sequential phases, chunked throughput phases, the order rotating every
// round) and adds the reports to res. Rounds not started by deadline are skipped (and listed as
// "what rounds i..n").
func (d *driver) runRounds(e *env, live []*target, phases []mainPhase, deadline time.Time, res results, what, logPrefix string, bodyBytes *[2]int) {
	o := d.o
rounds:
	for round := 1; round <= o.rounds; round++ {
		for _, ph := range phases {
			if time.Now().After(deadline) {
				d.skipped = append(d.skipped, fmt.Sprintf("%s rounds %d..%d (time budget)", what, round, o.rounds))
				break rounds
			}
			order := rotate(live, round-1)
			got := map[string]*report{}
			if ph.interleaved {
				m, err := d.loadMany(e, order, ph.name, round, ph.spec)
				if err != nil {
					logf("%v", err)
				}
				got = m
			} else {
				// Throughput: the targets cannot share the machine at the same time, so each
				// round's requests are split into chunks that alternate between targets (in a
				// rotating order), and the chunks of a target are summed.
				chunks := map[string][]*report{}
				spec := ph.spec
				spec.n = max(1, ph.spec.n/o.chunks)
				spec.warmup = ph.spec.c // open the connections
				for k := 0; k < o.chunks; k++ {
					for _, t := range rotate(order, k) {
						r, err := d.load(e, t, ph.name, round, spec)
						if err != nil {
							logf("%v", err)
							continue
						}
						chunks[t.name] = append(chunks[t.name], r)
					}
				}
				for name, rs := range chunks {
					got[name] = merge(rs)
				}
			}
			var line []string
			for _, t := range order {
				r := got[t.name]
				if r == nil {
					continue
				}
				res.add(ph.name, t.name, round, r)
				if ph.spec.mode == "json" {
					bodyBytes[0] = r.BodyBytes
				} else {
					bodyBytes[1] = r.BodyBytes
				}
				s := fmt.Sprintf("%s p50 %.3fms %.0f/s", t.name, r.Latency.P50, r.RPS)
				if r.Errors > 0 {
					s += fmt.Sprintf(" ERR %d %v", r.Errors, r.ErrorKinds)
				}
				line = append(line, s)
			}
			logf("%sround %d/%d %-10s %s", logPrefix, round, o.rounds, ph.name, strings.Join(line, " | "))
		}
	}
}

// sanity sends a few requests through every relay and drops those that do not answer like
// the upstream (and checks that they really reached it).
func (d *driver) sanity(e *env, events int) {
	for _, t := range e.targets {
		if t.broken != "" || t.proc == nil {
			continue
		}
		before := upstreamRequests(e.upstream.addr)
		var problems []string
		for _, mode := range []string{"json", "stream"} {
			r, err := d.load(e, t, "sanity", 0, loadSpec{mode: mode, c: 1, n: 3, d: 10 * time.Second, expectEvents: events})
			switch {
			case err != nil:
				problems = append(problems, err.Error())
			case r.Errors > 0 || r.OK != 3:
				problems = append(problems, fmt.Sprintf("%s: %d/3 ok, errors %v %v", mode, r.OK, r.ErrorKinds, r.ErrorSample))
			}
		}
		if after := upstreamRequests(e.upstream.addr); len(problems) == 0 && after-before < 6 {
			problems = append(problems, fmt.Sprintf("only %d of 6 requests reached the fake upstream", after-before))
		}
		if len(problems) > 0 {
			t.broken = strings.Join(problems, "; ")
			logf("%s fails the sanity check, dropped: %s (log: %s)", t.name, t.broken, t.proc.log)
		}
	}
}

func upstreamRequests(addr string) int64 {
	c := &http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get("http://" + addr + "/_bench/stats")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	var st map[string]int64
	b, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(b, &st)
	return st["requests"]
}

func liveTargets(e *env) []*target {
	var ts []*target
	for _, t := range e.targets {
		if t.broken == "" {
			ts = append(ts, t)
		}
	}
	return ts
}

func rotate(ts []*target, k int) []*target {
	if len(ts) == 0 {
		return nil
	}
	k %= len(ts)
	return append(append([]*target(nil), ts[k:]...), ts[:k]...)
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// ---------------------------------------------------------------- the table

func median(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// perRound returns f(report) of a target for each round.
func perRound(res results, phase, tgt string, f func(*report) (float64, bool)) []float64 {
	var out []float64
	for _, r := range res[phase][tgt] {
		if v, ok := f(r); ok {
			out = append(out, v)
		}
	}
	return out
}

// added returns the median over rounds of (target − direct) of a statistic. Each round's
// target run is paired with the same round's direct run.
func added(res results, phase, tgt string, f func(*report) float64) float64 {
	var v []float64
	for _, p := range pairs(res, phase, "direct", tgt) {
		v = append(v, f(p[1])-f(p[0]))
	}
	return median(v)
}

// pairs returns the (a, b) reports of the rounds in which both targets were measured.
func pairs(res results, phase, a, b string) [][2]*report {
	byRound := map[int]*report{}
	for _, r := range res[phase][a] {
		byRound[r.round] = r
	}
	var out [][2]*report
	for _, r := range res[phase][b] {
		if ra, ok := byRound[r.round]; ok {
			out = append(out, [2]*report{ra, r})
		}
	}
	return out
}

func absMedian(res results, phase, tgt string, f func(*report) float64) float64 {
	return median(perRound(res, phase, tgt, func(r *report) (float64, bool) { return f(r), true }))
}

type row struct {
	metric string
	direct string
	vals   map[string]float64 // target -> value (NaN: none)
	unit   string
	// ratio computes the comparison cell and the verdict for a candidate.
	judge  func(cand, floor float64) (cell string, ok, applicable bool)
	target string
	format string
	// paired, when set, gives the candidate ÷ floor ratio as the median over rounds of the
	// per-round ratios (used where the rounds differ more than the targets within a round).
	paired func(cand string) float64
}

// pairedRatio is the median over rounds of f(candidate) / f(floor) of the same round.
func pairedRatio(res results, phase, cand string, f func(*report) float64) float64 {
	var v []float64
	for _, p := range pairs(res, phase, "floor", cand) {
		if a, b := f(p[1]), f(p[0]); b > 0 && !math.IsNaN(a) {
			v = append(v, a/b)
		}
	}
	return median(v)
}

func (d *driver) table(res results, hwm, openHWM map[string]int64, bodyBytes [2]int, mainEnv *env, notes []string) string {
	o := d.o
	cands := d.candidates()
	all := append([]string{"floor"}, cands...)
	present := func(t string) bool {
		for _, m := range res {
			if len(m[t]) > 0 {
				return true
			}
		}
		return false
	}

	ratioLE := func(lim float64) func(c, f float64) (string, bool, bool) {
		return func(c, f float64) (string, bool, bool) {
			if math.IsNaN(c) || math.IsNaN(f) {
				return "—", false, false
			}
			if f <= 0 {
				return fmt.Sprintf("n/a (floor %+.3g: noise)", f), false, false
			}
			return fmt.Sprintf("%.2f×", c/f), c/f <= lim, true
		}
	}
	ratioGE := func(lim float64) func(c, f float64) (string, bool, bool) {
		return func(c, f float64) (string, bool, bool) {
			if math.IsNaN(c) || math.IsNaN(f) || f <= 0 {
				return "—", false, false
			}
			return fmt.Sprintf("%.2f×", c/f), c/f >= lim, true
		}
	}
	info := func(c, f float64) (string, bool, bool) {
		if math.IsNaN(c) || math.IsNaN(f) || f <= 0 {
			return "—", false, false
		}
		return fmt.Sprintf("%.2f×", c/f), true, false
	}

	vals := func(f func(t string) float64) map[string]float64 {
		m := map[string]float64{}
		for _, t := range all {
			if present(t) {
				m[t] = f(t)
			} else {
				m[t] = math.NaN()
			}
		}
		return m
	}
	p50 := func(r *report) float64 { return r.Latency.P50 }
	p99 := func(r *report) float64 { return r.Latency.P99 }
	rps := func(r *report) float64 { return r.RPS }
	ttfb := func(r *report) float64 { return r.TTFB.P50 }
	fev := func(r *report) float64 { return r.FirstEvent.P50 }
	cpu := func(r *report) float64 {
		if p := r.proc("relay"); p != nil {
			return p.CPUPerReqUS
		}
		return math.NaN()
	}
	directAbs := func(phase string, f func(*report) float64, format string) string {
		v := absMedian(res, phase, "direct", f)
		if math.IsNaN(v) {
			return "—"
		}
		return fmt.Sprintf("("+format+" abs)", v)
	}
	directVal := func(phase string, f func(*report) float64, format string) string {
		v := absMedian(res, phase, "direct", f)
		if math.IsNaN(v) {
			return "—"
		}
		return fmt.Sprintf(format, v)
	}

	var rows []row
	addRow := func(metric, phase string, f func(*report) float64, unit string) {
		rows = append(rows, row{metric: metric, direct: directAbs(phase, f, "%.3f"), unit: unit, format: "%+.3f",
			vals: vals(func(t string) float64 { return added(res, phase, t, f) }), judge: ratioLE(1.2), target: "≤ 1.2× floor"})
	}
	addRow("added latency p50, JSON (sequential)", "seq-json", p50, "ms")
	addRow("added latency p99, JSON (sequential)", "seq-json", p99, "ms")
	addRow(fmt.Sprintf("added latency p50, stream (%d×%d B events, sequential)", o.events, o.eventBytes), "seq-stream", p50, "ms")
	addRow("added latency p99, stream (sequential)", "seq-stream", p99, "ms")

	tput := func(metric, phase string, j func(c, f float64) (string, bool, bool), tgt string) {
		rows = append(rows, row{metric: metric, direct: directVal(phase, rps, "%.0f"), unit: "req/s", format: "%.0f",
			vals: vals(func(t string) float64 { return absMedian(res, phase, t, rps) }), judge: j, target: tgt,
			paired: func(c string) float64 { return pairedRatio(res, phase, c, rps) }})
	}
	tput("req/s, c=1 (JSON; 1 / mean sequential latency)", "seq-json", info, "info")
	tput("req/s, c=10 (JSON)", "c10-json", info, "info")
	tput("req/s, c=64 (JSON)", "c64-json", ratioGE(0.85), "≥ 0.85× floor")
	tput("req/s, c=64 (stream)", "c64-stream", ratioGE(0.85), "≥ 0.85× floor")

	withinDirect := func(lim float64) func(c, f float64) (string, bool, bool) {
		return func(c, f float64) (string, bool, bool) {
			if math.IsNaN(c) {
				return "—", false, false
			}
			return fmt.Sprintf("%+.3f ms vs direct", c), c <= lim, true
		}
	}
	rows = append(rows, row{metric: "stream TTFB p50 (sequential)", direct: directVal("seq-stream", ttfb, "%.3f"), unit: "ms", format: "%+.3f",
		vals: vals(func(t string) float64 { return added(res, "seq-stream", t, ttfb) }), judge: withinDirect(1.0), target: "≤ direct + 1 ms"})
	rows = append(rows, row{metric: "stream time to first event p50", direct: directVal("seq-stream", fev, "%.3f"), unit: "ms", format: "%+.3f",
		vals: vals(func(t string) float64 { return added(res, "seq-stream", t, fev) }), judge: withinDirect(1.0), target: "≤ direct + 1 ms"})

	// Incremental delivery.
	gapRow := row{metric: fmt.Sprintf("SSE inter-event gap p50 / p99, upstream %v apart (bunched = gaps < %v)", o.pacedGap, o.pacedGap/4), unit: "ms",
		target: "unchanged: 0 bunched, p50 within 2 ms of direct"}
	gapCell := map[string]string{}
	gapOK := map[string]bool{}
	directGap := math.NaN()
	disturbed := false // the direct path itself did not keep the timing: the machine stalled
	if rs := res["paced"]["direct"]; len(rs) > 0 {
		directGap = rs[0].Gap.P50
		gapRow.direct = fmt.Sprintf("%.1f / %.1f, %d bunched", rs[0].Gap.P50, rs[0].Gap.P99, rs[0].GapsBunched)
		disturbed = rs[0].GapsBunched > 0 || math.Abs(directGap-float64(o.pacedGap)/float64(time.Millisecond)) > 2
	} else {
		gapRow.direct = "—"
	}
	for _, t := range all {
		rs := res["paced"][t]
		if len(rs) == 0 {
			continue
		}
		r := rs[0]
		gapCell[t] = fmt.Sprintf("%.1f / %.1f, %d bunched", r.Gap.P50, r.Gap.P99, r.GapsBunched)
		if r.Errors > 0 {
			gapCell[t] += fmt.Sprintf(", %d errors", r.Errors)
		}
		gapOK[t] = r.GapsBunched == 0 && r.Errors == 0 && r.Gap.N > 0 && math.Abs(r.Gap.P50-directGap) <= 2
	}

	cpuRow := func(metric, phase string) {
		rows = append(rows, row{metric: metric, direct: "—", unit: "µs", format: "%.0f",
			vals: vals(func(t string) float64 { return absMedian(res, phase, t, cpu) }), judge: ratioLE(1.3), target: "≤ 1.3× floor",
			paired: func(c string) float64 { return pairedRatio(res, phase, c, cpu) }})
	}
	cpuRow("CPU per request, c=64 JSON (utime+stime / requests)", "c64-json")
	cpuRow("CPU per request, c=64 stream", "c64-stream")
	rows = append(rows, row{metric: "peak RSS (VmHWM) after the main phases", direct: "—", unit: "MB", format: "%.1f",
		vals: vals(func(t string) float64 {
			if v, ok := hwm[t]; ok && v > 0 {
				return float64(v) / 1024
			}
			return math.NaN()
		}), judge: ratioLE(1.5), target: "≤ 1.5× floor"})

	// Errors over the main phases.
	errs := func(t string) (int, int) {
		var e, n int
		for ph, m := range res {
			if ph == "paced" || ph == "open" {
				continue
			}
			for _, r := range m[t] {
				e += r.Errors
				n += r.Sent
			}
		}
		return e, n
	}

	// ---- render.
	var b strings.Builder
	w := func(f string, a ...any) { fmt.Fprintf(&b, f, a...) }
	w("## ccrelay relay overhead — %s run\n\n", o.mode)
	w("%s; %d CPUs (%s); %s; %d rounds, %d sequential and %d concurrent requests per target and round; request body %d B (stream: %d B), the Claude Code 2.1.332 tool round trip.\n\n",
		time.Now().UTC().Format("2006-01-02 15:04 UTC"), runtime.NumCPU(), cpuModel(), runtime.Version(), o.rounds, o.seqN, o.tputN, bodyBytes[0], bodyBytes[1])
	w("Load average (1/5/15 min) at start %s, at end %s (the run itself keeps about 2 busy).\n\n", d.loadavg0, loadavg())
	w("Added = target − direct in the same round, median over rounds; values are medians over rounds; ratios are candidate ÷ floor " +
		"(for req/s and CPU: the median of the per-round ratios, which cancels drift between rounds).\n\n")

	head := "| metric | direct | floor |"
	sep := "| --- | ---: | ---: |"
	for _, c := range cands {
		head += fmt.Sprintf(" %s | %s ÷ floor | verdict |", c, c)
		sep += " ---: | ---: | :---: |"
	}
	head += " target |"
	sep += " --- |"
	w("%s\n%s\n", head, sep)

	fmtVal := func(r row, t string) string {
		v, ok := r.vals[t]
		if !ok || math.IsNaN(v) {
			if t == "ccrelay" && o.ccrelay == "" {
				return "not built"
			}
			return "—"
		}
		return fmt.Sprintf(r.format, v)
	}
	verdict := func(ok, applicable bool) string {
		if !applicable {
			return ""
		}
		if ok {
			return "PASS"
		}
		return "**FAIL**"
	}
	for _, r := range rows {
		line := fmt.Sprintf("| %s (%s) | %s | %s |", r.metric, r.unit, r.direct, fmtVal(r, "floor"))
		for _, c := range cands {
			cell, ok, app := r.judge(r.vals[c], r.vals["floor"])
			if r.paired != nil {
				cell, ok, app = r.judge(r.paired(c), 1)
			}
			line += fmt.Sprintf(" %s | %s | %s |", fmtVal(r, c), cell, verdict(ok, app))
		}
		w("%s %s |\n", line, r.target)
	}
	// gap row
	{
		line := fmt.Sprintf("| %s (%s) | %s | %s |", gapRow.metric, gapRow.unit, gapRow.direct, orDefault(gapCell["floor"], "—"))
		for _, c := range cands {
			cell, ok := gapCell[c]
			v := "—"
			if ok {
				v = cell
			} else if c == "ccrelay" && o.ccrelay == "" {
				v = "not built"
			}
			vd := verdict(gapOK[c], ok)
			if ok && disturbed {
				vd = "inconclusive"
			}
			line += fmt.Sprintf(" %s | | %s |", v, vd)
		}
		w("%s %s |\n", line, gapRow.target)
		if disturbed {
			notes = append(notes, "the incremental-delivery test is inconclusive: events lost their timing on the direct path too (the machine stalled); rerun on a quieter machine")
		}
	}
	// errors row
	{
		de, dn := errs("direct")
		fe, fn := errs("floor")
		line := fmt.Sprintf("| errors over the main phases | %d / %d | %d / %d |", de, dn, fe, fn)
		for _, c := range cands {
			if !present(c) {
				line += fmt.Sprintf(" %s | | |", ifElse(c == "ccrelay" && o.ccrelay == "", "not built", "—"))
				continue
			}
			ce, cn := errs(c)
			line += fmt.Sprintf(" %d / %d | | %s |", ce, cn, verdict(ce == 0, true))
		}
		w("%s 0 |\n", line)
	}
	// open streams rows
	if o.openN > 0 {
		openCell := func(t string) (string, bool, bool) {
			rs := res["open"][t]
			if len(rs) == 0 {
				return ifElse(t == "ccrelay" && o.ccrelay == "", "not built", "—"), false, false
			}
			r := rs[0]
			s := fmt.Sprintf("%d ok, %d errors", r.OK, r.Errors)
			if !r.AllOpen {
				s += ", never all open at once"
			}
			return s, r.Errors == 0 && r.AllOpen, true
		}
		dcell, _, _ := openCell("direct")
		fcell, _, _ := openCell("floor")
		line := fmt.Sprintf("| %d concurrent open streams (slow upstream, %d events %v apart) | %s | %s |", o.openN, o.openEvents, o.openGap, dcell, fcell)
		for _, c := range cands {
			cell, ok, app := openCell(c)
			line += fmt.Sprintf(" %s | | %s |", cell, verdict(ok, app))
		}
		w("%s 0 errors |\n", line)

		growth := func(t string) float64 {
			rs := res["open"][t]
			if len(rs) == 0 {
				return math.NaN()
			}
			p := rs[0].proc("relay")
			if p == nil {
				return math.NaN()
			}
			if p.RSSAllOpenKB > 0 {
				return p.GrowthPerOpen
			}
			return float64(p.RSSPeakKB-p.RSSBeforeKB) / float64(o.openN) // never all open: use the peak
		}
		fg := growth("floor")
		line = fmt.Sprintf("| RSS growth per open stream (VmRSS with all %d open − before) (KB) | — | %s |", o.openN, fmtF(fg, "%.1f"))
		for _, c := range cands {
			g := growth(c)
			v := fmtF(g, "%.1f")
			if math.IsNaN(g) && c == "ccrelay" && o.ccrelay == "" {
				v = "not built"
			}
			cell, _, _ := info(g, fg)
			line += fmt.Sprintf(" %s | %s | %s |", v, cell, verdict(g <= 64, !math.IsNaN(g)))
		}
		w("%s ≤ 64 KB |\n", line)

		fh := float64(openHWM["floor"]) / 1024
		line = fmt.Sprintf("| peak RSS (VmHWM) with %d open streams (MB) | — | %s |", o.openN, fmtF(nz(fh), "%.1f"))
		for _, c := range cands {
			h := nz(float64(openHWM[c]) / 1024)
			cell, _, _ := info(h, fh)
			line += fmt.Sprintf(" %s | %s | |", ifElse(math.IsNaN(h) && c == "ccrelay" && o.ccrelay == "", "not built", fmtF(h, "%.1f")), cell)
		}
		w("%s info |\n", line)
	}
	w("\n")

	// Notes.
	if o.ccrelay == "" {
		w("- ccrelay was not measured: %s\n", orDefault(o.ccrelayNote, "no binary given"))
	}
	for _, t := range mainEnv.targets {
		if t.broken != "" {
			w("- %s was dropped: %s\n", t.name, oneLine(t.broken, 400))
		}
	}
	for _, n := range notes {
		w("- %s\n", oneLine(n, 400))
	}
	for _, s := range d.skipped {
		w("- skipped: %s\n", s)
	}
	if o.selfcheck {
		w("- floor-b is a second, identical floor process (A/A test): its ratios show the noise of this run.\n")
	}
	w("- FAIL verdicts on a 2-core machine can be noise: compare with the floor-b (A/A) column of a `--selfcheck` run and rerun `--full` before acting.\n")
	w("- process logs and generated configs: %s (run.sh keeps them with --keep or on failure)\n", o.workdir)
	return b.String()
}

func fmtF(v float64, f string) string {
	if math.IsNaN(v) {
		return "—"
	}
	return fmt.Sprintf(f, v)
}

func nz(v float64) float64 {
	if v == 0 {
		return math.NaN()
	}
	return v
}

func ifElse(c bool, a, b string) string {
	if c {
		return a
	}
	return b
}

func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		s = s[:n] + "…"
	}
	return strings.ReplaceAll(s, "|", "\\|")
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}

package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/claybridge/claybridge/processor"
	"github.com/claybridge/claybridge/subjects"
)

// memorySearchLimit makes each result about 1.2 KB, so the results of a
// full backlog (about 120 MB for 100,000) overflow the default 64 MiB
// memory tier of the cache but fit its 256 MB bucket.
const memorySearchLimit = 4

// MemoryDetails are the memory case's figures: the peak resident set of a
// claybridge process with default settings while it drains a backlog of
// distinct people searches spread over the three priorities.
type MemoryDetails struct {
	Operation string `json:"operation"`
	Backlog   int    `json:"backlog"`
	// Results counts results published before the drain ended or timed
	// out, and Complete is true when it reached the backlog.
	Results      int     `json:"results"`
	Complete     bool    `json:"complete"`
	DrainSeconds float64 `json:"drain_seconds"`
	// PeakRSSMB is VmHWM and FinalRSSMB VmRSS of /proc/<pid>/status, in
	// MiB, read just before the process was stopped.
	PeakRSSMB  float64 `json:"peak_rss_mb"`
	FinalRSSMB float64 `json:"final_rss_mb"`
	// NATS names the server the processor used.
	NATS string `json:"nats"`
	// Command is the measured process's command line.
	Command string `json:"command"`
}

func (b *bench) memory(ctx context.Context) error {
	d := &MemoryDetails{
		Operation: fmt.Sprintf("search (keyed, limit %d, distinct filters, all priorities)", memorySearchLimit),
		Backlog:   b.cfg.Sizes.MemoryBacklog,
	}
	env, err := b.memoryNATS(ctx, d)
	if err != nil {
		return err
	}
	defer env.stop()

	sim, err := b.startSim(ctx, simSettings{rateLimit: -1})
	if err != nil {
		return err
	}
	defer sim.close()

	nc, js, err := b.setupLoad(ctx, env.url, sim, processor.Config{})
	if err != nil {
		return err
	}
	defer nc.Close()
	if err := b.publishMemoryBacklog(ctx, js, d.Backlog); err != nil {
		return err
	}

	w, err := watch(nc, subjects.ResultsAll)
	if err != nil {
		return err
	}
	defer w.stop()
	child, err := b.startChild(ctx, env.url, sim.url, d)
	if err != nil {
		return err
	}
	defer child.stop()
	return b.measureMemory(ctx, w, child, d)
}

func (b *bench) publishMemoryBacklog(ctx context.Context, js jetstream.JetStream, n int) error {
	b.progress("memory: backlog of %d searches", n)
	return publishBacklog(ctx, js, n, func(i int) *nats.Msg {
		key := b.key("memory", i)
		prio := subjects.Priorities[i%len(subjects.Priorities)]
		return requestMsg(prio, subjects.Search, key, searchBody(key, memorySearchLimit))
	})
}

func (b *bench) measureMemory(ctx context.Context, w *watcher, child *childProcess, d *MemoryDetails) error {
	b.progress("memory: draining in pid %d, at most %s", child.cmd.Process.Pid, b.cfg.Sizes.MemoryTimeout)
	start := time.Now()
	err := w.waitCount(ctx, d.Backlog, b.cfg.Sizes.MemoryTimeout)
	if err != nil && !errors.Is(err, errTimeout) {
		return err
	}
	d.DrainSeconds = round(time.Since(start).Seconds(), 1)
	d.Results = w.count()
	d.Complete = d.Results >= d.Backlog
	status, err := child.memoryStatus()
	if err != nil {
		return err
	}
	d.PeakRSSMB = round(float64(status.hwmKB)/1024, 1)
	d.FinalRSSMB = round(float64(status.rssKB)/1024, 1)
	b.report.Details.Memory = d
	set(&b.report.RSSMB, d.PeakRSSMB, 1)
	b.progress("memory: peak RSS %.1f MiB after %d of %d results", d.PeakRSSMB, d.Results, d.Backlog)
	return nil
}

// memoryNATS starts the memory case's NATS server: the running one, a
// nats-server process, or an embedded one.
func (b *bench) memoryNATS(ctx context.Context, d *MemoryDetails) (*natsEnv, error) {
	switch {
	case b.cfg.NATSURL != "":
		d.NATS = "the running server of --nats-url"
		return b.startNATS(ctx, CaseMemory)
	case b.cfg.NATSServer != "":
		env, version, err := b.startNATSProcess(ctx)
		if err != nil {
			return nil, err
		}
		d.NATS = "nats-server process " + version
		return env, nil
	default:
		d.NATS = "embedded in the bench process"
		return b.startNATS(ctx, CaseMemory)
	}
}

// startNATSProcess runs the nats-server binary with JetStream on a free
// loopback port.
func (b *bench) startNATSProcess(ctx context.Context) (*natsEnv, string, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, "", err
	}
	host, port, _ := strings.Cut(addr, ":")
	dir := filepath.Join(b.dir, "nats-server")
	cmd := exec.Command(b.cfg.NATSServer, "-a", host, "-p", port, "-js", "-sd", dir)
	child, err := b.start(cmd, "nats-server")
	if err != nil {
		return nil, "", err
	}
	url := "nats://" + addr
	if err := waitConnectable(ctx, url, child); err != nil {
		child.stop()
		return nil, "", err
	}
	version := ""
	if out, err := exec.Command(b.cfg.NATSServer, "--version").Output(); err == nil {
		version = strings.TrimPrefix(strings.TrimSpace(string(out)), "nats-server: ")
	}
	return &natsEnv{url: url, stop: func() {
		child.stop()
		_ = os.RemoveAll(dir)
	}}, version, nil
}

func waitConnectable(ctx context.Context, url string, child *childProcess) error {
	deadline := time.Now().Add(15 * time.Second)
	for {
		nc, err := nats.Connect(url, nats.Timeout(time.Second))
		if err == nil {
			nc.Close()
			return nil
		}
		if child.exited() {
			return fmt.Errorf("nats-server exited at start; see %s", child.logPath)
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("nats-server at %s not reachable after 15s: %w", url, err)
		}
		sleep(ctx, 50*time.Millisecond)
	}
}

// startChild starts the measured processor process and waits until its
// /readyz returns 200.
func (b *bench) startChild(ctx context.Context, natsURL, clayURL string, d *MemoryDetails) (*childProcess, error) {
	httpAddr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	cmd := b.cfg.ProcessorCommand(natsURL, clayURL, httpAddr)
	d.Command = strings.Join(append([]string{filepath.Base(cmd.Path)}, cmd.Args[1:]...), " ")
	child, err := b.start(cmd, "processor")
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(30 * time.Second)
	client := &http.Client{Timeout: time.Second}
	for {
		resp, err := client.Get("http://" + httpAddr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return child, nil
			}
		}
		if child.exited() {
			return nil, fmt.Errorf("processor process exited at start; see %s", child.logPath)
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			child.stop()
			return nil, fmt.Errorf("processor process not ready after 30s; see %s", child.logPath)
		}
		sleep(ctx, 50*time.Millisecond)
	}
}

// childProcess is a process the bench started and stops.
type childProcess struct {
	cmd     *exec.Cmd
	logPath string
	done    chan struct{}
}

// start starts cmd with its output in a log file under the bench
// directory, unless the caller set Stdout or Stderr.
func (b *bench) start(cmd *exec.Cmd, name string) (*childProcess, error) {
	logPath := filepath.Join(b.dir, name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	if cmd.Stdout == nil {
		cmd.Stdout = logFile
	}
	if cmd.Stderr == nil {
		cmd.Stderr = logFile
	}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start %s: %w", cmd.Path, err)
	}
	c := &childProcess{cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		logFile.Close()
		close(c.done)
	}()
	return c, nil
}

func (c *childProcess) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// childStopGrace is how long a child has to exit after SIGTERM before it
// is killed; claybridge's default shutdown grace is 25 s.
const childStopGrace = 40 * time.Second

// stop sends SIGTERM, then SIGKILL if the process has not exited in time.
func (c *childProcess) stop() {
	if c.exited() {
		return
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(childStopGrace):
		_ = c.cmd.Process.Kill()
		<-c.done
	}
}

// memoryStatus is the part of /proc/<pid>/status the memory case reads.
type memoryStatus struct {
	hwmKB int64
	rssKB int64
}

func (c *childProcess) memoryStatus() (memoryStatus, error) {
	path := fmt.Sprintf("/proc/%d/status", c.cmd.Process.Pid)
	data, err := os.ReadFile(path)
	if err != nil {
		return memoryStatus{}, fmt.Errorf("read the processor's memory: %w", err)
	}
	var s memoryStatus
	for line := range strings.SplitSeq(string(data), "\n") {
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		switch name {
		case "VmHWM":
			_, _ = fmt.Sscanf(strings.TrimSpace(value), "%d kB", &s.hwmKB)
		case "VmRSS":
			_, _ = fmt.Sscanf(strings.TrimSpace(value), "%d kB", &s.rssKB)
		}
	}
	if s.hwmKB == 0 {
		return s, fmt.Errorf("no VmHWM in %s", path)
	}
	return s, nil
}

// ClaybridgeCommand returns a ProcessorCommand that runs "binary run"
// with default settings against the given NATS server and Clay URL. The
// child gets this process's environment without CLAYBRIDGE_* and NATS_URL
// variables, so only defaults apply, and apiKey as its Clay API key.
func ClaybridgeCommand(binary, apiKey string) func(natsURL, clayURL, httpAddr string) *exec.Cmd {
	return func(natsURL, clayURL, httpAddr string) *exec.Cmd {
		cmd := exec.Command(binary, "run", "--nats-url", natsURL, "--clay-url", clayURL,
			"--http-listen", httpAddr, "--log-level", "warn", "--log-format", "json")
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, "CLAYBRIDGE_") && !strings.HasPrefix(kv, "NATS_URL=") {
				cmd.Env = append(cmd.Env, kv)
			}
		}
		cmd.Env = append(cmd.Env, "CLAYBRIDGE_CLAY_API_KEY="+apiKey)
		return cmd
	}
}

// freeAddr returns a loopback address whose port is free now.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

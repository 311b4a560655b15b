package harness

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/claybridge/claybridge/clay/claysim"
)

// LogDirEnv names an environment variable: when set, each test's process
// logs are kept in a directory named after the test under it, instead of
// a temporary directory removed after the test.
const LogDirEnv = "ITEST_LOG_DIR"

// Config describes a stack.
type Config struct {
	// Nodes is the number of NATS nodes: 1 for a single server, 3 for a
	// JetStream cluster. Streams and buckets get as many replicas
	// (--replicas).
	Nodes int
	// Bridges is the number of claybridge run processes.
	Bridges int
	// BridgeArgs are extra flags of every claybridge run.
	BridgeArgs []string
	// SimArgs are extra flags of claysim.
	SimArgs []string
}

// Stack is a started set of processes: NATS nodes, a simulator and
// claybridge replicas, with a client connection to the NATS nodes.
type Stack struct {
	NATS    *Cluster
	Sim     *Sim
	Bridges []*Bridge
	nc      *nats.Conn
	js      jetstream.JetStream
	logDir  string
}

// Start starts a stack for t and stops every process when t ends. On a
// failure it logs the end of each process's log. It fails t when any
// process does not start or become ready within ctx.
func Start(ctx context.Context, t testing.TB, cfg Config) *Stack {
	t.Helper()
	if cfg.Nodes != 1 && cfg.Nodes != 3 {
		t.Fatalf("invalid stack: %d NATS nodes, want 1 or 3 (claybridge takes --replicas 1 or 3)", cfg.Nodes)
	}
	bridgePath, simPath, natsPath, err := Binaries()
	if err != nil {
		t.Fatalf("build the binaries: %v", err)
	}
	s := &Stack{logDir: logDir(t)}
	t.Cleanup(func() { s.stop(t) })

	if s.NATS, err = newCluster(cfg.Nodes, natsPath, s.logDir); err != nil {
		t.Fatalf("configure NATS: %v", err)
	}
	if err := s.NATS.start(ctx); err != nil {
		t.Fatalf("start NATS: %v", err)
	}
	if s.Sim, err = newSim(simPath, s.logDir, cfg.SimArgs); err != nil {
		t.Fatalf("configure claysim: %v", err)
	}
	if err := s.Sim.start(ctx); err != nil {
		t.Fatalf("start claysim: %v", err)
	}
	s.nc, err = nats.Connect(s.NATS.URLs(), nats.Name("itest"), nats.MaxReconnects(-1),
		nats.ReconnectWait(100*time.Millisecond), nats.Timeout(5*time.Second))
	if err != nil {
		t.Fatalf("connect to NATS: %v", err)
	}
	if s.js, err = jetstream.New(s.nc); err != nil {
		t.Fatalf("open JetStream: %v", err)
	}
	for i := range cfg.Bridges {
		b, err := newBridge(fmt.Sprintf("bridge-%d", i+1), bridgePath, s.logDir, s.NATS.URLs(), s.Sim.URL,
			cfg.Nodes, cfg.BridgeArgs)
		if err != nil {
			t.Fatalf("configure claybridge: %v", err)
		}
		s.Bridges = append(s.Bridges, b)
	}
	s.startBridges(ctx, t)
	t.Logf("stack: %d NATS node(s) at %s, claysim at %s, %d claybridge replica(s); logs in %s",
		cfg.Nodes, s.NATS.URLs(), s.Sim.URL, cfg.Bridges, s.logDir)
	return s
}

// startBridges starts the first bridge alone, so that it creates the
// streams and consumers, then the others together.
func (s *Stack) startBridges(ctx context.Context, t testing.TB) {
	t.Helper()
	if len(s.Bridges) == 0 {
		return
	}
	if err := s.Bridges[0].Start(ctx); err != nil {
		t.Fatalf("start claybridge: %v", err)
	}
	errs := make(chan error, len(s.Bridges))
	var wg sync.WaitGroup
	for _, b := range s.Bridges[1:] {
		wg.Go(func() { errs <- b.Start(ctx) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("start claybridge: %v", err)
		}
	}
}

// JetStream returns the stack's JetStream client.
func (s *Stack) JetStream() jetstream.JetStream { return s.js }

// Conn returns the stack's NATS connection.
func (s *Stack) Conn() *nats.Conn { return s.nc }

// SimStats returns the simulator's stats.
func (s *Stack) SimStats(ctx context.Context) (claysim.Stats, error) { return s.Sim.Stats(ctx) }

// Processes returns every process of the stack.
func (s *Stack) Processes() []*Process {
	var all []*Process
	if s.NATS != nil {
		for _, n := range s.NATS.Nodes {
			all = append(all, n.proc)
		}
	}
	if s.Sim != nil {
		all = append(all, s.Sim.proc)
	}
	for _, b := range s.Bridges {
		all = append(all, b.proc)
	}
	return all
}

// StreamLeader returns the node that leads stream now.
func (s *Stack) StreamLeader(ctx context.Context, stream string) (*NATSNode, error) {
	info, err := s.streamInfo(ctx, stream)
	if err != nil {
		return nil, err
	}
	if info.Cluster == nil || info.Cluster.Leader == "" {
		return nil, fmt.Errorf("stream %s has no leader now", stream)
	}
	return s.NATS.nodeNamed(info.Cluster.Leader)
}

func (s *Stack) streamInfo(ctx context.Context, stream string) (*jetstream.StreamInfo, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	st, err := s.js.Stream(ctx, stream)
	if err != nil {
		return nil, fmt.Errorf("look up stream %s: %w", stream, err)
	}
	return st.Info(ctx)
}

// WaitStreamLeader waits until stream has a leader other than not, such
// as a new leader after the old one was killed, and returns it.
func (s *Stack) WaitStreamLeader(ctx context.Context, stream string, not *NATSNode) (*NATSNode, error) {
	var leader *NATSNode
	err := poll(ctx, 100*time.Millisecond, func() (bool, error) {
		l, err := s.StreamLeader(ctx, stream)
		if err != nil || l == not || !l.proc.Running() {
			return false, nil
		}
		leader = l
		return true, nil
	})
	if err != nil {
		return nil, fmt.Errorf("wait for a new leader of stream %s: %w", stream, err)
	}
	return leader, nil
}

// ConsumerStepDown sends a step-down request to the leader of a durable
// consumer of stream, so that another node takes the consumer over.
func (s *Stack) ConsumerStepDown(ctx context.Context, stream, consumer string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	subject := fmt.Sprintf("$JS.API.CONSUMER.LEADER.STEPDOWN.%s.%s", stream, consumer)
	msg, err := s.nc.RequestWithContext(ctx, subject, nil)
	if err != nil {
		return fmt.Errorf("step down consumer %s: %w", consumer, err)
	}
	var resp struct {
		Success bool `json:"success"`
		Error   *struct {
			Code        int    `json:"code"`
			Description string `json:"description"`
		} `json:"error"`
	}
	if err := json.Unmarshal(msg.Data, &resp); err != nil {
		return fmt.Errorf("step down consumer %s: response %q: %w", consumer, msg.Data, err)
	}
	if !resp.Success {
		if resp.Error != nil {
			return fmt.Errorf("step down consumer %s: %d %s", consumer, resp.Error.Code, resp.Error.Description)
		}
		return fmt.Errorf("step down consumer %s: response %s", consumer, msg.Data)
	}
	return nil
}

// Messages returns the number of messages stored in stream.
func (s *Stack) Messages(ctx context.Context, stream string) (uint64, error) {
	info, err := s.streamInfo(ctx, stream)
	if err != nil {
		return 0, err
	}
	return info.State.Msgs, nil
}

// stop kills every process, closes the connection and, when t failed,
// logs the end of each process's log.
func (s *Stack) stop(t testing.TB) {
	if s.nc != nil {
		s.nc.Close()
	}
	for _, p := range s.Processes() {
		if p.Running() {
			_ = p.Kill()
		}
	}
	if t.Failed() {
		for _, p := range s.Processes() {
			t.Logf("last lines of %s (%s):\n%s", p.Name(), p.LogPath(), p.LogTail(25))
		}
	}
}

// logDir returns the directory for t's process logs.
func logDir(t testing.TB) string {
	root := os.Getenv(LogDirEnv)
	if root == "" {
		return t.TempDir()
	}
	dir := filepath.Join(root, strings.NewReplacer("/", "_", " ", "_").Replace(t.Name()))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("create log directory: %v", err)
	}
	return dir
}

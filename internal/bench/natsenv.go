package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/claybridge/claybridge/internal/embedded"
	"github.com/claybridge/claybridge/subjects"
)

// benchStreamPrefix names the streams the bench creates for itself; the
// claybridge streams keep their own names.
const benchStreamPrefix = "BENCH_"

// natsEnv is the NATS server of one case.
type natsEnv struct {
	url  string
	stop func()
}

// startNATS starts an embedded server for the case, or checks that the
// running server of Config.NATSURL has no request backlog.
func (b *bench) startNATS(ctx context.Context, name string) (*natsEnv, error) {
	if b.cfg.NATSURL != "" {
		if err := checkIdle(ctx, b.cfg.NATSURL); err != nil {
			return nil, err
		}
		return &natsEnv{url: b.cfg.NATSURL, stop: func() { cleanRemote(b.cfg.NATSURL) }}, nil
	}
	dir := filepath.Join(b.dir, "nats-"+name)
	srv, err := embedded.Start(embedded.Config{Listen: "127.0.0.1:0", DataDir: dir})
	if err != nil {
		return nil, err
	}
	return &natsEnv{url: srv.ClientURL(), stop: func() {
		srv.Stop()
		_ = os.RemoveAll(dir)
	}}, nil
}

// connect opens a connection to url named after its role in the bench.
func connect(url, role string) (*nats.Conn, error) {
	nc, err := nats.Connect(url, nats.Name("claybridge bench "+role), nats.Timeout(5*time.Second),
		nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		return nil, fmt.Errorf("connect to NATS at %s: %w", url, err)
	}
	return nc, nil
}

// connectJetStream opens a connection as connect does, with a JetStream
// context on it. The caller closes the connection.
func connectJetStream(url, role string) (*nats.Conn, jetstream.JetStream, error) {
	nc, err := connect(url, role)
	if err != nil {
		return nil, nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	return nc, js, nil
}

// caseEnv is the NATS server and the simulator of one case.
type caseEnv struct {
	natsURL  string
	sim      *simulator
	stopNATS func()
}

// startCase starts the case's NATS server, as startNATS does, and its
// simulator with the given settings.
func (b *bench) startCase(ctx context.Context, name string, s simSettings) (*caseEnv, error) {
	env, err := b.startNATS(ctx, name)
	if err != nil {
		return nil, err
	}
	sim, err := b.startSim(ctx, s)
	if err != nil {
		env.stop()
		return nil, err
	}
	return &caseEnv{natsURL: env.url, sim: sim, stopNATS: env.stop}, nil
}

// stop closes the simulator, then stops the NATS server.
func (e *caseEnv) stop() {
	e.sim.close()
	e.stopNATS()
}

// checkIdle returns an error when the request stream of a running server
// holds messages, which would mix with the bench's own.
func checkIdle(ctx context.Context, url string) error {
	nc, js, err := connectJetStream(url, "check")
	if err != nil {
		return err
	}
	defer nc.Close()
	stream, err := js.Stream(ctx, subjects.StreamRequests)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("look up stream %s: %w", subjects.StreamRequests, err)
	}
	if n := stream.CachedInfo().State.Msgs; n > 0 {
		return fmt.Errorf("stream %s on %s contains %d requests: run the bench against a NATS server without other claybridge traffic",
			subjects.StreamRequests, url, n)
	}
	return nil
}

// cleanRemote purges the backlog a case left in the request stream of a
// running server and deletes the bench's own streams.
func cleanRemote(url string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	nc, js, err := connectJetStream(url, "cleanup")
	if err != nil {
		return
	}
	defer nc.Close()
	if stream, err := js.Stream(ctx, subjects.StreamRequests); err == nil {
		_ = stream.Purge(ctx)
	}
	names := js.StreamNames(ctx)
	var own []string
	for name := range names.Name() {
		if strings.HasPrefix(name, benchStreamPrefix) {
			own = append(own, name)
		}
	}
	for _, name := range own {
		_ = js.DeleteStream(ctx, name)
	}
}

package main_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/claybridge/claybridge/clay/claysim"
	"github.com/claybridge/claybridge/internal/embedded"
	"github.com/claybridge/claybridge/internal/testenv"
	"github.com/claybridge/claybridge/internal/verify"
	"github.com/claybridge/claybridge/processor"
	"github.com/claybridge/claybridge/subjects"
)

func TestSIGTERMFinishesCallsInFlight(t *testing.T) {
	bin := buildBinary(t)
	sim := testenv.Sim(t, claysim.Config{Latency: 2 * time.Second})
	natsAddr, dataDir := testenv.FreeAddr(t), t.TempDir()
	cmd := exec.Command(bin, "run", "--embedded-nats", "--nats-listen", natsAddr, "--data-dir", dataDir,
		"--clay-url", sim.URL(), "--http-listen", testenv.FreeAddr(t), "--log-format", "json")
	cmd.Env = append(os.Environ(), "NATS_URL=", "CLAYBRIDGE_CLAY_API_KEY=test-key")
	logs := &testenv.LockedBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		if t.Failed() {
			t.Logf("claybridge logs:\n%s", logs.String())
		}
	})
	nc := connectWhenUp(t, "nats://"+natsAddr)
	js := testenv.JetStream(t, nc)
	testenv.Eventually(t, 30*time.Second, "the request stream to exist", func() bool {
		_, err := js.Stream(context.Background(), subjects.StreamRequests)
		return err == nil
	})
	keys := []string{"term-1", "term-2", "term-3"}
	for i, key := range keys {
		msg := nats.NewMsg(subjects.RequestSubject(subjects.Critical, subjects.Search))
		msg.Header.Set(subjects.HeaderMsgID, key)
		msg.Data = fmt.Appendf(nil, `{"source_type":"people","filters":{"n":%d},"limit":2}`, i)
		if _, err := js.PublishMsg(context.Background(), msg); err != nil {
			t.Fatalf("publish %s: %v", key, err)
		}
	}
	testenv.Eventually(t, 20*time.Second, "three calls in flight", func() bool {
		cons, err := js.Consumer(context.Background(), subjects.StreamRequests, processor.ConsumerName(subjects.Critical, subjects.Search))
		if err != nil {
			return false
		}
		info, err := cons.Info(context.Background())
		return err == nil && info.NumAckPending == 3
	})
	nc.Close()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := waitExit(cmd, 30*time.Second); err != nil {
		t.Fatalf("claybridge run after SIGTERM: %v, want exit status 0", err)
	}

	// The data survives in the embedded server's directory: read it back.
	srv, err := embedded.Start(embedded.Config{Listen: "127.0.0.1:0", DataDir: dataDir})
	if err != nil {
		t.Fatalf("restart embedded NATS on the same data: %v", err)
	}
	t.Cleanup(srv.Stop)
	js = testenv.JetStream(t, testenv.Connect(t, srv.ClientURL()))
	out, err := verify.Collect(context.Background(), js)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if len(out.Results[k]) != 1 {
			t.Errorf("key %s: %d results after SIGTERM, want 1", k, len(out.Results[k]))
		}
	}
	stream, err := js.Stream(context.Background(), subjects.StreamRequests)
	if err != nil {
		t.Fatal(err)
	}
	info, err := stream.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 0 {
		t.Errorf("%d requests left in the work queue after SIGTERM, want 0 (all acked)", info.State.Msgs)
	}
}

// connectWhenUp connects once the server at url accepts clients.
func connectWhenUp(t *testing.T, url string) *nats.Conn {
	t.Helper()
	var nc *nats.Conn
	testenv.Eventually(t, 30*time.Second, "NATS at "+url, func() bool {
		var err error
		nc, err = nats.Connect(url)
		return err == nil
	})
	t.Cleanup(nc.Close)
	return nc
}

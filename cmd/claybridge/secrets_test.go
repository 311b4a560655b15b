package main_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/claybridge/claybridge/internal/testenv"
	"github.com/claybridge/claybridge/subjects"
)

// Secret values of the scenario, checked for in every output.
const (
	scenarioAPIKey      = "sk-scenario-api-key-6081"
	scenarioTableToken  = "scenario-table-token-2757"
	scenarioWebhookPath = "pull-in-data-from-a-webhook-5be0c1d9"
	scenarioNATSPass    = "scenario-nats-pass-4410"
	scenarioCallback    = "scenario-callback-secret-9136"
	scenarioNATSUser    = "claybridge"
)

var scenarioSecrets = []string{scenarioAPIKey, scenarioTableToken, scenarioWebhookPath, scenarioNATSPass, scenarioCallback}

// TestSecretsStayOutOfEveryOutput runs the binary with an embedded NATS
// server that requires a password, the simulator, an API key, and a table
// with a token whose rows come back through callbacks signed with the
// callback secret. It sends requests that succeed and requests that end
// in the DLQ. No secret may show in the process output, the DLQ entries, the
// heartbeats or /metrics.
func TestSecretsStayOutOfEveryOutput(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := buildBinary(t)
	natsAddr, simAddr, httpAddr, callbackAddr := testenv.FreeAddr(t), testenv.FreeAddr(t), testenv.FreeAddr(t), testenv.FreeAddr(t)
	t.Setenv("CLAYBRIDGE_CLAY_API_KEY", scenarioAPIKey)
	t.Setenv("LEADS_TOKEN", scenarioTableToken)
	t.Setenv("CLAYBRIDGE_NATS_PASSWORD", scenarioNATSPass)
	t.Setenv("CLAYBRIDGE_CALLBACK_SECRET", scenarioCallback)
	configFile := filepath.Join(t.TempDir(), "claybridge.yaml")
	config := fmt.Sprintf("nats:\n  user: %s\ntables:\n  leads:\n    webhook_url: http://%s/v3/sources/webhook/%s\n    token_env: LEADS_TOKEN\n    callback: true\n",
		scenarioNATSUser, simAddr, scenarioWebhookPath)
	if err := os.WriteFile(configFile, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd, logs := startRun(t, bin, "--config", configFile, "--embedded-nats", "--sim", "--nats-listen", natsAddr,
		"--sim-listen", simAddr, "--http-listen", httpAddr, "--callback-listen", callbackAddr, "--data-dir", t.TempDir(), "--log-format", "json",
		"--log-level", "debug", "--heartbeat-interval", "200ms")
	waitReady(t, httpAddr)
	natsURL := "nats://" + natsAddr

	if nc, err := nats.Connect(natsURL); !errors.Is(err, nats.ErrAuthorization) {
		if err == nil {
			nc.Close()
		}
		t.Errorf("connect without credentials: error %v, want %v", err, nats.ErrAuthorization)
	}

	var outputs bytes.Buffer
	submit := func(wantCode int, args ...string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		args = append([]string{"submit", "--config", configFile, "--nats-url", natsURL, "--wait", "--timeout", "20s"}, args...)
		out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
		outputs.Write(out)
		code := 0
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) {
			code = exitErr.ExitCode()
		} else if err != nil {
			t.Fatalf("claybridge %s: %v", strings.Join(args, " "), err)
		}
		if code != wantCode {
			t.Errorf("claybridge %s: exit status %d, want %d\n%s", strings.Join(args, " "), code, wantCode, out)
		}
	}
	submit(0, "--id", "scenario-row", "row", `{"table":"leads","row":{"email":"ines.ortega@harborline.example.com"}}`)
	submit(0, "--id", "scenario-search", "search", `{"source_type":"people","filters":{"title":"CFO"},"limit":2}`)
	submit(3, "--id", "scenario-invalid", "routine", `not json`)
	addFault(t, simAddr, `{"status":422,"operation":"row","count":1}`)
	submit(3, "--id", "scenario-rejected", "row", `{"table":"leads","row":{"email":"noor.haddad@harborline.example.com"}}`)

	nc, err := nats.Connect(natsURL, nats.UserInfo(scenarioNATSUser, scenarioNATSPass))
	if err != nil {
		t.Fatalf("connect with the password: %v", err)
	}
	defer nc.Close()
	dlqEntries := readStream(t, nc, subjects.DLQEntries)
	heartbeats := readStream(t, nc, subjects.HealthAll)
	metrics := httpGet(t, "http://"+httpAddr+"/metrics")

	stopRun(t, cmd)
	checks := []struct {
		label, text, mustContain string
	}{
		{"submit output", outputs.String(), "scenario-rejected"},
		// The row's result is the enriched row its callback carried.
		{"submit output", outputs.String(), `"enriched":true`},
		{"run output", logs.String(), `"key":"scenario-row"`},
		{"DLQ entries", dlqEntries, string(subjects.ClassClayRejected)},
		{"heartbeats", heartbeats, `"breakers"`},
		{"/metrics", metrics, "claybridge_dlq_entries_total"},
	}
	for _, c := range checks {
		// Each output must hold what the scenario produced, so that an
		// empty one does not pass for a clean one.
		if !strings.Contains(c.text, c.mustContain) {
			t.Errorf("%s lack %q:\n%s", c.label, c.mustContain, c.text)
		}
		for _, secret := range scenarioSecrets {
			if strings.Contains(c.text, secret) {
				t.Errorf("%s show the secret %q:\n%s", c.label, secret, c.text)
			}
		}
	}
	if !strings.Contains(dlqEntries, string(subjects.ClassInvalidRequest)) {
		t.Errorf("DLQ entries lack the invalid request:\n%s", dlqEntries)
	}
}

// addFault adds a fault to the simulator through its admin API.
func addFault(t *testing.T, simAddr, fault string) {
	t.Helper()
	resp, err := http.Post("http://"+simAddr+"/_sim/faults", "application/json", strings.NewReader(fault))
	if err != nil {
		t.Fatalf("add fault: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("add fault %s: status %s", fault, resp.Status)
	}
}

// readStream returns the subject, headers and body of every message of
// the DLQ stream on filter stored so far, as text. Heartbeats keep
// arriving, so it stops at the stream's last sequence of when it started.
func readStream(t *testing.T, nc *nats.Conn, filter string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	stream, err := js.Stream(ctx, subjects.StreamDLQ)
	if err != nil {
		t.Fatalf("look up %s: %v", subjects.StreamDLQ, err)
	}
	last := stream.CachedInfo().State.LastSeq

	cons, err := js.OrderedConsumer(ctx, subjects.StreamDLQ, jetstream.OrderedConsumerConfig{FilterSubjects: []string{filter}})
	if err != nil {
		t.Fatalf("read %s: %v", filter, err)
	}
	var out strings.Builder
	for {
		msg, err := cons.Next(jetstream.FetchMaxWait(time.Second))
		if errors.Is(err, nats.ErrTimeout) || errors.Is(err, context.DeadlineExceeded) {
			return out.String()
		}
		if err != nil {
			t.Fatalf("read %s: %v", filter, err)
		}
		meta, err := msg.Metadata()
		if err != nil {
			t.Fatalf("read %s: %v", filter, err)
		}
		if meta.Sequence.Stream > last {
			return out.String()
		}
		fmt.Fprintf(&out, "%s %v %s\n", msg.Subject(), msg.Headers(), msg.Data())
	}
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return string(body)
}

package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/claybridge/claybridge/clay/claysim"
	"github.com/claybridge/claybridge/internal/client"
	"github.com/claybridge/claybridge/internal/testenv"
	"github.com/claybridge/claybridge/subjects"
)

// Secret values the tests put in the environment and check for in every
// output.
const (
	testAPIKey      = "sk-test-api-key-4471"
	testTableToken  = "leads-token-9083"
	testWebhookPath = "pull-in-data-from-a-webhook-8d1f5c0e"
	testNATSPass    = "nats-pass-2210"
)

// writeConfig writes a configuration file with a table whose webhook URL
// is on base and whose token is in LEADS_TOKEN.
func writeConfig(t *testing.T, base, extra string) string {
	t.Helper()
	return writeConfigFile(t, fmt.Sprintf("tables:\n  leads:\n    webhook_url: %s/v3/sources/webhook/%s\n    token_env: LEADS_TOKEN\n%s",
		base, testWebhookPath, extra))
}

func setSecrets(t *testing.T) {
	t.Helper()
	t.Setenv("CLAYBRIDGE_CLAY_API_KEY", testAPIKey)
	t.Setenv("LEADS_TOKEN", testTableToken)
}

func assertNoSecrets(t *testing.T, label, output string) {
	t.Helper()
	for _, secret := range []string{testAPIKey, testTableToken, testWebhookPath, testNATSPass} {
		if strings.Contains(output, secret) {
			t.Errorf("%s shows the secret %q:\n%s", label, secret, output)
		}
	}
}

func TestConfigCommandPrintsEffectiveSettings(t *testing.T) {
	setSecrets(t)
	t.Setenv("NATS_URL", "nats://127.0.0.1:1111")
	t.Setenv("CLAYBRIDGE_PROCESSOR_BURST", "33")
	path := writeConfig(t, "https://api.clay.com", "processor:\n  burst: 44\n  max_deliver: 7\n")
	got := runCLI(t, "config", "--config", path, "--max-deliver", "9")
	if got.code != 0 {
		t.Fatalf("exit status %d; stderr:\n%s", got.code, got.stderr)
	}
	for _, want := range []string{
		"url: nats://127.0.0.1:1111", "burst: 33", "max_deliver: 9", "webhook_url: https://api.clay.com/[redacted]",
		"token_env: LEADS_TOKEN", "token: '[redacted]'", "api_key: '[redacted]'",
	} {
		if !strings.Contains(got.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, got.stdout)
		}
	}
	assertNoSecrets(t, "config", got.stdout)
}

func TestConfigDefaultsLoadBack(t *testing.T) {
	got := runCLI(t, "config", "--defaults")
	if got.code != 0 {
		t.Fatalf("exit status %d; stderr:\n%s", got.code, got.stderr)
	}
	path := filepath.Join(t.TempDir(), "defaults.yaml")
	if err := os.WriteFile(path, []byte(got.stdout), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("NATS_URL", "")
	again := runCLI(t, "config", "--config", path)
	if again.code != 0 {
		t.Fatalf("config --config defaults.yaml: exit status %d; stderr:\n%s", again.code, again.stderr)
	}
	for _, want := range []string{"--rate-limit, CLAYBRIDGE_PROCESSOR_RATE_LIMIT", "rate_limit: 10", "# Clay tables by name"} {
		if !strings.Contains(got.stdout, want) {
			t.Errorf("defaults lack %q", want)
		}
	}
}

func TestSecretsNeverPrinted(t *testing.T) {
	setSecrets(t)
	t.Setenv("NATS_URL", "nats://ops:"+testNATSPass+"@127.0.0.1:1")
	t.Setenv("CLAYBRIDGE_NATS_USER", "ops")
	t.Setenv("CLAYBRIDGE_NATS_PASSWORD", testNATSPass)
	path := writeConfig(t, "https://api.clay.com", "")
	tests := []struct {
		name string
		args []string
		env  map[string]string
		// want is in the output, so the case shows what it checks.
		want string
	}{
		{name: "config", args: []string{"config", "--config", path}, want: "api_key: '[redacted]'"},
		{name: "config with a NATS password", args: []string{"config", "--config", path}, want: "password: '[redacted]'"},
		{name: "submit with a NATS password", args: []string{"submit", "--timeout", "1s", "row", `{"table":"leads","row":{}}`},
			want: "connect to NATS at nats://[redacted]@127.0.0.1:1"},
		{name: "config --defaults", args: []string{"config", "--defaults"}, want: "api_key_file"},
		{name: "run --help", args: []string{"run", "--config", path, "--help"}, want: "--nats-url"},
		{name: "submit --help", args: []string{"submit", "--help"}, want: "--nats-url"},
		{name: "config --help", args: []string{"config", "--help"}, want: "--defaults"},
		{name: "run with an invalid setting", args: []string{"run", "--config", path, "--workers-bulk", "0"},
			want: "processor.workers.bulk"},
		{name: "run with a token variable unset", args: []string{"run", "--config", path, "--sim"},
			env: map[string]string{"LEADS_TOKEN": ""}, want: "LEADS_TOKEN is not set"},
		{name: "run with a secret in the file", args: []string{"run", "--config", writeConfig(t, "https://api.clay.com",
			"clay:\n  api_key: "+testAPIKey+"\n")}, want: "secrets are not read from the configuration file"},
		{name: "run without a NATS server", args: []string{"run", "--config", path, "--sim", "--sim-listen", "127.0.0.1:0",
			"--http-listen", "127.0.0.1:0"}, want: "connect to NATS at nats://[redacted]@127.0.0.1:1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for name, value := range tt.env {
				t.Setenv(name, value)
			}
			got := runCLI(t, tt.args...)
			if !strings.Contains(got.stdout+got.stderr, tt.want) {
				t.Errorf("output lacks %q:\n%s%s", tt.want, got.stdout, got.stderr)
			}
			assertNoSecrets(t, "stdout", got.stdout)
			assertNoSecrets(t, "stderr", got.stderr)
		})
	}
}

func TestRunLogsShowNoSecrets(t *testing.T) {
	srv, nc := testenv.NATS(t)
	js := testenv.JetStream(t, nc)
	sim := testenv.Sim(t, claysim.Config{APIKey: testAPIKey, WebhookToken: testTableToken})
	setSecrets(t)
	t.Setenv("NATS_URL", "")
	httpAddr := testenv.FreeAddr(t)
	args := []string{"run", "--config", writeConfig(t, sim.URL(), ""), "--nats-url", srv.ClientURL(),
		"--clay-url", sim.URL(), "--http-listen", httpAddr, "--log-level", "debug", "--log-format", "json"}

	running := startCLI(t, httpAddr, args...)

	// A row through the configured table needs its token, and a search
	// needs the API key; both results must be ok.
	requests := []client.Request{
		{Priority: subjects.Normal, Operation: subjects.Row, ID: "secret-row", Body: []byte(`{"table":"leads","row":{"email":"elif.dorn@cedarlabs.example.org"}}`)},
		{Priority: subjects.Normal, Operation: subjects.Search, ID: "secret-search", Body: []byte(`{"source_type":"companies","filters":{"industry":"media"},"limit":2}`)},
	}
	for _, req := range requests {
		awaitOK(t, js, req)
	}
	if n := sim.Stats().SubmissionsByKey["secret-row"]; n != 1 {
		t.Errorf("row reached the simulator %d times, want 1", n)
	}

	running.stop(t)
	if !strings.Contains(running.logs.String(), `"key":"secret-row"`) {
		t.Errorf("debug logs lack the row's key, so they say too little to check:\n%s", running.logs.String())
	}
	assertNoSecrets(t, "run logs", running.logs.String())
	assertNoSecrets(t, "run stdout", running.stdout.String())
}

func awaitOK(t *testing.T, js jetstream.JetStream, req client.Request) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	pub, err := client.Publish(ctx, js, req)
	if err != nil {
		t.Fatalf("publish %s: %v", req.ID, err)
	}
	out, err := client.Await(ctx, js, req.Operation, pub.Key)
	if err != nil {
		t.Fatalf("await %s: %v", req.ID, err)
	}
	res, err := out.Result()
	if err != nil {
		t.Fatalf("%s ended with a DLQ entry (%+v), want a result", req.ID, out.Failure())
	}
	if res.Status != subjects.StatusOK {
		t.Errorf("%s: status %s, want ok", req.ID, res.Status)
	}
}

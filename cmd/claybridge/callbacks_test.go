package main

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/claybridge/claybridge/clay/claysim"
	"github.com/claybridge/claybridge/internal/client"
	"github.com/claybridge/claybridge/internal/testenv"
	"github.com/claybridge/claybridge/subjects"
)

const testCallbackSecret = "callback-secret-5521-abcdefgh"

// callbackConfig writes a configuration whose table "enrich" calls back
// and names no webhook URL, which --clay-url supplies.
func callbackConfig(t *testing.T) string {
	t.Helper()
	return writeConfigFile(t, "tables:\n  enrich:\n    callback: true\n")
}

func TestRunServesCallbacks(t *testing.T) {
	srv, nc := testenv.NATS(t)
	js := testenv.JetStream(t, nc)
	sim := testenv.Sim(t, claysim.Config{APIKey: testAPIKey, CallbackDelay: 100 * time.Millisecond})
	setSecrets(t)
	t.Setenv("NATS_URL", "")
	t.Setenv("CLAYBRIDGE_CALLBACK_SECRET", testCallbackSecret)
	httpAddr, callbackAddr := testenv.FreeAddr(t), testenv.FreeAddr(t)
	args := []string{"run", "--config", callbackConfig(t), "--nats-url", srv.ClientURL(), "--clay-url", sim.URL(),
		"--http-listen", httpAddr, "--callback-listen", callbackAddr, "--public-url", "http://" + callbackAddr,
		"--log-level", "debug", "--log-format", "json"}

	running := startCLI(t, httpAddr, args...)

	req := client.Request{Priority: subjects.Normal, Operation: subjects.Row, ID: "called-back",
		Body: []byte(`{"table":"enrich","row":{"email":"ana.ruiz@example.org"}}`)}
	awaitOK(t, js, req)
	// The simulator counts a callback once it has read the 200, which the
	// listener sends after storing the callback, so the result can come
	// first.
	testenv.Eventually(t, 5*time.Second, "the simulator to count its callback", func() bool {
		return sim.Stats().CallbacksSent >= 1
	})
	if n := sim.Stats().CallbacksSent; n != 1 {
		t.Errorf("simulator sent %d callbacks, want 1", n)
	}
	if resp, err := http.Get("http://" + callbackAddr + "/metrics"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Error("the callback listener serves /metrics, want it only on --http-listen")
		}
	}

	running.stop(t)
	if strings.Contains(running.logs.String(), testCallbackSecret) || strings.Contains(running.stdout.String(), testCallbackSecret) {
		t.Error("run output shows the callback secret")
	}
}

func TestRunRequiresCallbackURLAndSecret(t *testing.T) {
	t.Setenv("CLAYBRIDGE_CLAY_API_KEY", testAPIKey)
	t.Setenv("CLAYBRIDGE_CALLBACK_SECRET", "")
	cfg := writeConfigFile(t, "tables:\n  enrich:\n    webhook_url: https://api.clay.com/v3/sources/webhook/x\n    callback: true\n")
	cases := []struct {
		name string
		args []string
		want string
	}{
		{name: "no public URL", args: nil, want: "--public-url"},
		{name: "no secret", args: []string{"--public-url", "https://hooks.example.com"}, want: "CLAYBRIDGE_CALLBACK_SECRET"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"run", "--config", cfg, "--nats-url", "nats://127.0.0.1:1"}, tc.args...)
			res := runCLI(t, args...)
			if res.code == 0 || !strings.Contains(res.stderr, tc.want) {
				t.Errorf("run exit status %d with stderr %q, want non-zero naming %s", res.code, res.stderr, tc.want)
			}
		})
	}
}

package main_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/claybridge/claybridge/internal/testenv"
	"github.com/claybridge/claybridge/subjects"
)

// buildBinary builds claybridge into a temporary directory.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "claybridge")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// natsCLI returns the path of the nats CLI, built from go.mod's tool line.
func natsCLI(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "tool", "-n", "nats").Output()
	if err != nil {
		t.Fatalf("go tool -n nats: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// startRun starts "claybridge run" with args and returns its log buffer;
// the process is killed when the test ends.
func startRun(t *testing.T, bin string, args ...string) (*exec.Cmd, *testenv.LockedBuffer) {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"run"}, args...)...)
	logs := &testenv.LockedBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	cmd.Env = append(os.Environ(), "NATS_URL=")
	if err := cmd.Start(); err != nil {
		t.Fatalf("start claybridge run: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_, _ = cmd.Process.Wait()
		if t.Failed() {
			t.Logf("claybridge logs:\n%s", logs.String())
		}
	})
	return cmd, logs
}

func waitReady(t *testing.T, httpAddr string) {
	t.Helper()
	testenv.Eventually(t, 30*time.Second, "/readyz to answer 200", func() bool {
		resp, err := http.Get("http://" + httpAddr + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

// stopRun sends SIGTERM to run and waits for a clean exit.
func stopRun(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("signal claybridge run: %v", err)
	}
	if err := waitExit(cmd, 30*time.Second); err != nil {
		t.Errorf("claybridge run after the signal: %v, want exit status 0", err)
	}
}

func TestBinaryRunsWithNatsCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and the nats CLI")
	}
	bin, nats := buildBinary(t), natsCLI(t)
	natsAddr, simAddr, httpAddr := testenv.FreeAddr(t), testenv.FreeAddr(t), testenv.FreeAddr(t)
	cmd, logs := startRun(t, bin, "--embedded-nats", "--sim", "--nats-listen", natsAddr, "--sim-listen", simAddr,
		"--http-listen", httpAddr, "--data-dir", t.TempDir(), "--log-format", "json")
	waitReady(t, httpAddr)
	for _, announced := range []string{"embedded NATS server started", "Clay simulator started in-process"} {
		if !strings.Contains(logs.String(), announced) {
			t.Errorf("log does not announce %q", announced)
		}
	}

	server := "nats://" + natsAddr
	natsRun := func(args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, nats, append([]string{"--server", server}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("nats %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	natsRun("pub", "--jetstream", "-H", "Nats-Msg-Id:cli-row-1", "clay.request.critical.row", `{"table":"leads","row":{"email":"ada@example.com"}}`)
	natsRun("pub", "--jetstream", "-H", "Nats-Msg-Id:cli-search-1", "clay.request.normal.search", `{"source_type":"people","filters":{"title":"CTO"},"limit":3}`)
	natsRun("pub", "--jetstream", "-H", "Nats-Msg-Id:cli-bad-1", "clay.request.bulk.routine", `not json`)

	raw := natsRun("sub", "clay.result.>", "--stream", subjects.StreamResults, "--all", "--count", "2", "--raw")
	keys := map[string]bool{}
	scanner := bufio.NewScanner(strings.NewReader(raw))
	for scanner.Scan() {
		var res subjects.Result
		if json.Unmarshal(scanner.Bytes(), &res) == nil && res.Key != "" {
			keys[res.Key] = res.Status == subjects.StatusOK
		}
	}
	for _, key := range []string{"cli-row-1", "cli-search-1"} {
		if !keys[key] {
			t.Errorf("no ok result for %s in:\n%s", key, raw)
		}
	}
	dlq := natsRun("sub", subjects.DLQEntries, "--stream", subjects.StreamDLQ, "--all", "--count", "1", "--headers-only")
	for _, want := range []string{"cli-bad-1", string(subjects.ClassInvalidRequest)} {
		if !strings.Contains(dlq, want) {
			t.Errorf("DLQ entry lacks %q:\n%s", want, dlq)
		}
	}

	stopRun(t, cmd)
}

func TestRunWithoutNATSNamesTheSetting(t *testing.T) {
	bin := buildBinary(t)
	cmd := exec.Command(bin, "run", "--sim")
	cmd.Env = append(os.Environ(), "NATS_URL=")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("run without a NATS URL succeeded; output:\n%s", out)
	}
	for _, want := range []string{"--nats-url", "NATS_URL", "--embedded-nats"} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("error does not name %s:\n%s", want, out)
		}
	}
}

func waitExit(cmd *exec.Cmd, timeout time.Duration) error {
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(timeout):
		return fmt.Errorf("still running after %s", timeout)
	}
}

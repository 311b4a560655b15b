package main

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/claybridge/claybridge/internal/testenv"
)

// cliResult is what one in-process claybridge invocation produced.
type cliResult struct {
	code   int
	stdout string
	stderr string
}

// runCLI runs claybridge with args in-process.
func runCLI(t *testing.T, args ...string) cliResult {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, &stdout, &stderr)
	return cliResult{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// runningCLI is a claybridge invocation running in-process until stop.
type runningCLI struct {
	cancel context.CancelFunc
	done   chan int
	stdout testenv.LockedBuffer
	logs   testenv.LockedBuffer
}

// startCLI runs claybridge with args in-process and waits until /readyz
// on httpAddr returns 200. The invocation is canceled when the test ends.
func startCLI(t *testing.T, httpAddr string, args ...string) *runningCLI {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	r := &runningCLI{cancel: cancel, done: make(chan int, 1)}
	go func() { r.done <- run(ctx, args, &r.stdout, &r.logs) }()
	testenv.Eventually(t, 30*time.Second, "/readyz to answer 200", func() bool {
		resp, err := http.Get("http://" + httpAddr + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return r
}

// stop cancels the invocation and checks that it exits with status 0
// within 30 seconds.
func (r *runningCLI) stop(t *testing.T) {
	t.Helper()
	r.cancel()
	select {
	case code := <-r.done:
		if code != 0 {
			t.Errorf("run exit status %d, want 0; logs:\n%s", code, r.logs.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("run did not stop within 30s")
	}
}

// writeConfigFile writes content to claybridge.yaml in a new temporary
// directory and returns the file's path.
func writeConfigFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "claybridge.yaml")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
